"""``framescope score``: exit codes, formats, resuming, and a kill -9 in the middle of a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from framescope.cli import _register, app
from framescope.inference import exports as ex
from framescope.inference.journal import JOURNAL_DIR

EXAMPLES = resources.files("framescope.inference") / "examples"
DE = (EXAMPLES / "de_article.txt").read_text(encoding="utf-8")
EN = (EXAMPLES / "en_article.txt").read_text(encoding="utf-8")

_register()
runner = CliRunner()


def score(*args, input=None):
    return runner.invoke(app, ["score", "-q", *map(str, args)], input=input)


def test_good_inputs_exit_0_and_all_formats(model_dir, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "de.txt").write_text(DE, encoding="utf-8")
    (tmp_path / "in" / "en.txt").write_text(EN, encoding="utf-8")
    out = tmp_path / "out"
    res = score(tmp_path / "in", "--model", model_dir, "--out", out)
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert {
        "results.jsonl",
        "articles.parquet",
        "spans.parquet",
        "articles.csv",
        "spans.csv",
        "labelstudio.json",
        "errors.jsonl",
        "errors.csv",
        "manifest.json",
    } <= names
    rows = pq.read_table(out / "articles.parquet").to_pylist()
    assert [(r["id"], r["lang"]) for r in rows] == [("de.txt", "de"), ("en.txt", "en")]
    assert (out / "errors.jsonl").read_text() == ""
    texts = {"de.txt": DE, "en.txt": EN}
    for s in pq.read_table(out / "spans.parquet").to_pylist():
        assert texts[s["article_id"]][s["start"] : s["end"]] == s["text"]
    assert "spans per technique" in res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema_version"] == ex.SCHEMA_VERSION and manifest["articles"] == 2


def test_threads_caps_the_linear_models_blas_pool(model_dir, tmp_path):
    """--threads reaches every tagger: the linear baseline has no torch, only numpy's BLAS pool."""
    from threadpoolctl import threadpool_info, threadpool_limits

    (tmp_path / "de.txt").write_text(DE, encoding="utf-8")
    with threadpool_limits(limits=None):  # whatever the command sets is undone afterwards
        res = score(tmp_path / "de.txt", "--model", model_dir, "--out", tmp_path / "out", "--threads", "1")
        assert res.exit_code == 0, res.output
        pools = threadpool_info()
        assert pools and all(pool["num_threads"] == 1 for pool in pools)


def test_bad_inputs_exit_1_with_reasons(model_dir, tmp_path):
    (tmp_path / "ok.txt").write_text(DE, encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01")
    (tmp_path / "feed.jsonl").write_text('{"id": "j1", "text": "fine text"}\nnope\n{"id": "j3"}\n', encoding="utf-8")
    out = tmp_path / "out"
    res = score(
        tmp_path / "ok.txt",
        tmp_path / "bad.txt",
        tmp_path / "bin.txt",
        tmp_path / "feed.jsonl",
        tmp_path / "missing.txt",
        "--model",
        model_dir,
        "--out",
        out,
        "--format",
        "jsonl,csv",
        "--lang",
        "de",
    )
    assert res.exit_code == 1, res.output
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [(e["id"], e["reason"].split(" at ")[0].split(":")[0]) for e in errors] == [
        ("bad.txt", "not valid UTF-8"),
        ("bin.txt", "binary file (NUL byte"),
        (None, "not valid JSON"),
        ("j3", "no 'text' field"),
        (None, "no such file or folder"),
    ]
    ex.validate_csv(out / "errors.csv", ex.ERRORS_SCHEMA)
    assert not (out / "articles.parquet").exists() and not (out / "labelstudio.json").exists()
    ids = [json.loads(line)["id"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert ids == ["ok.txt", "j1"]


def test_usage_errors_exit_2(model_dir, tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("text", encoding="utf-8")
    assert score(tmp_path / "a.txt", "--model", model_dir, "--out", tmp_path / "o", "--format", "xlsx").exit_code == 2
    assert score(tmp_path / "a.txt", "--model", tmp_path / "nope", "--out", tmp_path / "o").exit_code == 2
    assert score(tmp_path / "a.txt", "--model", model_dir, "--out", tmp_path / "o", "--batch-size", "0").exit_code == 2
    monkeypatch.chdir(tmp_path)
    res = score(tmp_path / "a.txt", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "run `framescope quickstart`" in " ".join(res.output.split())


def test_stdin_and_resume_refuses_other_model(model_dir, tmp_path):
    out = tmp_path / "out"
    feed = '{"id": "s1", "text": "Die feigen Verräter lügen."}\n{"id": "s2", "text": "A calm report."}\n'
    res = score("-", "--model", model_dir, "--out", out, "--lang", "de", input=feed)
    assert res.exit_code == 0, res.output
    first = (out / "results.jsonl").read_text()
    res = score("-", "--model", model_dir, "--out", out, "--lang", "de", input=feed)
    assert res.exit_code == 0 and (out / "results.jsonl").read_text() == first  # all from the journal
    # a different model: the journal's meta says otherwise
    meta_path = out / JOURNAL_DIR / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["model"]["fingerprint"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    res = score("-", "--model", model_dir, "--out", out, input=feed)
    assert res.exit_code == 2 and "another model" in " ".join(res.output.split())
    res = score("-", "--model", model_dir, "--out", out, "--overwrite", "--lang", "de", input=feed)
    assert res.exit_code == 0


def _generate(folder: Path, n: int) -> None:
    folder.mkdir()
    sentences = (DE + "\n" + EN).split(". ")
    for i in range(n):
        body = ". ".join(sentences[(i * 7 + k) % len(sentences)] for k in range(12))
        (folder / f"article-{i:03d}.txt").write_text(f"Artikel {i}. {body}", encoding="utf-8")


def _exports(out: Path) -> dict:
    arts = pq.read_table(out / "articles.parquet").drop_columns(["scored_at"]).to_pylist()
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    for r in results:
        r.pop("scored_at")
    csv_lines = (out / "articles.csv").read_text().splitlines()
    ls = json.loads((out / "labelstudio.json").read_text())
    return {
        "articles": arts,
        "spans": pq.read_table(out / "spans.parquet").to_pylist(),
        "spans_csv": (out / "spans.csv").read_text(),
        "articles_csv": [",".join(c for k, c in enumerate(line.split(",")) if k != 4) for line in csv_lines],
        "results": results,
        "labelstudio": ls,
    }


@pytest.mark.slow
def test_kill_9_then_resume_equals_uninterrupted_run(model_dir, tmp_path):
    inputs = tmp_path / "articles"
    _generate(inputs, 60)
    cmd = [
        sys.executable,
        "-m",
        "framescope",
        "score",
        str(inputs),
        "--model",
        str(model_dir),
        "--batch-size",
        "2",
        "--lang",
        "de",
        "-q",
    ]
    killed = tmp_path / "killed"
    chunk_dir = killed / JOURNAL_DIR
    proc = subprocess.Popen(cmd + ["--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    rows = 0
    while time.time() < deadline and proc.poll() is None:
        chunks = list(chunk_dir.glob("chunk-*.jsonl")) if chunk_dir.exists() else []
        rows = sum(p.read_bytes().count(b"\n") for p in chunks)
        if rows >= 6:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert 6 <= rows < 60 and not (killed / "articles.parquet").exists()
    journal_rows = sum(p.read_bytes().count(b"\n") for p in chunk_dir.glob("chunk-*.jsonl"))
    first_scored_at = {
        json.loads(l)["record"]["id"]: json.loads(l)["record"]["scored_at"]
        for p in chunk_dir.glob("chunk-*.jsonl")
        for l in p.read_text().splitlines()
        if l.endswith("}")
    }

    # a torn last line, as if the kill had hit the middle of a write
    with open(sorted(chunk_dir.glob("chunk-*.jsonl"))[-1], "ab") as fh:
        fh.write(b'{"key": "abc", "record": {"id": "article-05')

    resumed = subprocess.run(cmd + ["--out", str(killed)], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert (
        f"from the journal (resumed) │ {journal_rows:>20}" in resumed.stdout.replace("  ", " ")
        or str(journal_rows) in resumed.stdout
    )

    fresh = tmp_path / "fresh"
    res = score(inputs, "--model", model_dir, "--out", fresh, "--batch-size", "2", "--lang", "de")
    assert res.exit_code == 0, res.output

    a, b = _exports(killed), _exports(fresh)
    assert len(a["articles"]) == 60 and len({r["id"] for r in a["articles"]}) == 60
    for key in a:
        assert a[key] == b[key], key
    # scored_at of the articles scored before the kill is the journal's
    final = {
        json.loads(l)["id"]: json.loads(l)["scored_at"] for l in (killed / "results.jsonl").read_text().splitlines()
    }
    for article_id, when in first_scored_at.items():
        assert final[article_id] == when


def test_the_summary_names_languages_the_model_was_not_trained_on(model_dir, tmp_path):
    """On such a language the thresholds do not transfer (docs/results.md, "Leave one language out")."""
    feed = tmp_path / "feed.jsonl"
    rows = [
        {"id": "a", "text": DE, "lang": "de"},
        {"id": "b", "text": DE, "lang": "bg"},
        {"id": "c", "text": EN, "lang": "bg"},
    ]
    feed.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    res = score(feed, "--model", model_dir, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    shown = " ".join(res.output.split())
    assert "2 article(s) in languages the model was not trained on (bg 2; trained on de, en)" in shown
    only_de = tmp_path / "de.jsonl"
    only_de.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    res = score(only_de, "--model", model_dir, "--out", tmp_path / "out3")
    assert res.exit_code == 0 and "not trained on" not in res.output


def test_the_summary_names_the_html_report_for_articles_in_trained_languages(model_dir, tmp_path):
    """The report's path is printed whatever the languages (it once hid behind the untrained-language note)."""
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"id": "a", "text": DE, "lang": "de"}) + "\n", encoding="utf-8")
    res = score(feed, "--model", model_dir, "--out", tmp_path / "out", "--html")
    assert res.exit_code == 0, res.output
    assert "not trained on" not in res.output
    assert "HTML report:" in res.output and (tmp_path / "out" / "index.html").is_file()
