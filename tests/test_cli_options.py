"""One option vocabulary: each renamed option works under its new name, and its old spelling
still works for one version as a hidden alias (same result, absent from ``--help``).

``--format/-f`` is the input format (``data``, ``evaluate``, ``adapt``; was ``--from``),
``--out/-o`` the output everywhere (``train`` had ``--output``), ``score --export`` the export
formats (was ``--format/-f``), ``score --default-lang`` the fallback language (was ``--lang``),
and Spark scoring is ``framescope score-spark`` (was ``score --engine spark``).
"""

from __future__ import annotations

import json

import pytest
from cli_checks import one_error_line
from typer.testing import CliRunner

from framescope.cli import _register, app
from framescope.labels.sample import sample_path

_register()
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def help_of(*command: str) -> str:
    res = run(*command, "--help")
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


def bad_jsonl(tmp_path):
    """One article whose span runs past its text: data validate finds one error."""
    path = tmp_path / "bad.jsonl"
    row = {"id": "a", "lang": "de", "text": "Kurz.", "spans": [{"start": 0, "end": 40, "technique": "Loaded_Language"}]}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    return path


# -- --format (input format); --from is the old spelling --------------------------------------


@pytest.mark.parametrize("name", ["--format", "-f", "--from"])
def test_data_validate_reads_the_input_format_under_each_spelling(tmp_path, name):
    path = tmp_path / "notes.txt"  # a .txt file is no annotated format: read as jsonl it is one bad line
    path.write_text('{"id": "x", "text": \n', encoding="utf-8")
    res = run("data", "validate", path, name, "jsonl")
    assert res.exit_code == 1 and f"{path}:1" in res.output, res.output


@pytest.mark.parametrize("name", ["--format", "--from"])
def test_data_stats_takes_the_input_format_under_both_spellings(name):
    res = run("data", "stats", sample_path(), name, "jsonl", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["articles"] > 0


@pytest.mark.parametrize("name", ["--format", "--from"])
def test_data_convert_takes_the_input_format_under_both_spellings(tmp_path, name):
    out = tmp_path / "out.jsonl"
    res = run("data", "convert", sample_path(), name, "jsonl", "--to", "jsonl", "--out", out)
    assert res.exit_code == 0, res.output
    assert out.is_file() and out.read_text(encoding="utf-8").count("\n") > 0


def test_an_unknown_input_format_is_one_usage_error_under_both_spellings(tmp_path):
    new = one_error_line(run("data", "validate", sample_path(), "--format", "nonsense"))
    old = one_error_line(run("data", "validate", sample_path(), "--from", "nonsense"))
    assert new == old and "nonsense" in new


def test_the_two_spellings_with_different_values_are_refused():
    res = run("data", "stats", sample_path(), "--format", "jsonl", "--from", "brat")
    assert res.exit_code == 2
    assert "--format/--from" in one_error_line(res)


def same_error_under_both_spellings(*args) -> str:
    """The value reaches the reader under --format and --from: an unknown format, the same one error."""
    lines = []
    for name in ("--format", "--from"):
        res = run(*args, name, "nonsense")
        assert res.exit_code == 2, res.output
        lines.append(one_error_line(res))
    assert lines[0] == lines[1]
    return lines[0]


def test_adapt_takes_the_input_format_under_both_spellings(tmp_path):
    assert "nonsense" in same_error_under_both_spellings("adapt", sample_path(), "--out", tmp_path / "adapted")


def test_evaluate_takes_the_input_format_under_both_spellings(model_dir):
    assert "nonsense" in same_error_under_both_spellings("evaluate", model_dir, sample_path())


def test_the_old_spellings_are_hidden_from_help():
    for command in (("data", "validate"), ("data", "stats"), ("data", "convert"), ("evaluate",), ("adapt",)):
        text = help_of(*command)
        assert "--format" in text and "--from" not in text, command
    assert "--output" not in help_of("train") and "--out" in help_of("train")
    score = help_of("score")
    assert "--export" in score and "--default-lang" in score
    for old in ("--format", "--engine", "--spark-master", "--partition-by", "--input"):
        assert old not in score, old


# -- train --out/-o; --output is the old spelling ----------------------------------------------


@pytest.mark.parametrize("name", ["--out", "-o", "--output"])
def test_train_writes_to_out_under_each_spelling(tmp_path, name):
    target = tmp_path / "model-here"
    res = run("train", "quickstart", name, target, "--show-config")
    assert res.exit_code == 0, res.output
    assert f"output_dir: {target}" in res.output


# -- score --export (was --format/-f) and --default-lang (was --lang) --------------------------


def article_folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("Die feigen Verräter haben uns verkauft.", encoding="utf-8")
    return folder


@pytest.mark.parametrize("name", ["--export", "--format", "-f"])
def test_score_writes_only_the_named_exports_under_each_spelling(tmp_path, model_dir, name):
    out = tmp_path / "out"
    res = run("score", "-q", article_folder(tmp_path), "--model", model_dir, "--out", out, name, "jsonl")
    assert res.exit_code == 0, res.output
    written = {p.name for p in (out / "current").iterdir()} if (out / "current").exists() else set()
    written |= {p.name for p in out.iterdir()}
    assert "results.jsonl" in written
    assert not any(n.endswith((".parquet", ".csv")) for n in written), written


@pytest.mark.parametrize("name", ["--default-lang", "--lang"])
def test_score_takes_the_default_language_under_both_spellings(tmp_path, model_dir, name):
    out = tmp_path / "out"
    res = run(
        "score", "-q", article_folder(tmp_path), "--model", model_dir, "--out", out, name, "de", "--export", "jsonl"
    )
    assert res.exit_code == 0, res.output
    results = next(out.rglob("results.jsonl"))
    assert json.loads(results.read_text(encoding="utf-8").splitlines()[0])["lang"] == "de"


def test_score_refuses_a_bad_default_language_the_same_under_both_spellings(tmp_path):
    lines, folder = [], article_folder(tmp_path)
    for name in ("--default-lang", "--lang"):
        res = run("score", folder, "--out", tmp_path / f"o{len(lines)}", name, "german")
        assert res.exit_code == 2
        lines.append(one_error_line(res))
    assert lines[0] == lines[1] and "german" in lines[0]


# -- score-spark; score --engine spark is the old way in --------------------------------------


def users_folder(tmp_path):
    user = tmp_path / "reports"
    (user / "articles").mkdir(parents=True)
    (user / "articles" / "q3.xlsx").write_bytes(b"the analyst's own file")
    feed = tmp_path / "feed.parquet"
    feed.write_bytes(b"PAR1")
    return user, feed


def test_score_spark_refuses_a_folder_it_did_not_write_before_spark_starts(tmp_path):
    pytest.importorskip("pyspark")
    user, feed = users_folder(tmp_path)
    res = run("score-spark", feed, "--out", user, "--overwrite", "--model", "models:/framescope@candidate")
    assert res.exit_code == 2 and "did not write" in " ".join(one_error_line(res).split())
    assert (user / "articles" / "q3.xlsx").read_bytes() == b"the analyst's own file"


def test_score_engine_spark_still_reaches_score_spark(tmp_path):
    pytest.importorskip("pyspark")
    user, feed = users_folder(tmp_path)
    new = run("score-spark", feed, "--out", user, "--overwrite")
    old = run("score", "--engine", "spark", "--input", feed, "--out", user, "--overwrite")
    assert new.exit_code == old.exit_code == 2
    assert one_error_line(new) == one_error_line(old)


def test_score_engine_spark_refusals_are_one_error_line(tmp_path):
    res = run("score", "--engine", "spark", "--out", tmp_path / "o", "--dataset", tmp_path / "d")
    assert res.exit_code == 2 and "--dataset works with --engine local" in one_error_line(res)
    res = run("score", "--engine", "spark", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "needs --input" in one_error_line(res)
    res = run("score", "--engine", "gpu", "a.txt", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "--engine must be local or spark" in one_error_line(res)


# -- one error path: the commands' own refusals are one `error:` line --------------------------


def test_data_convert_of_bad_input_is_one_error_line_and_writes_nothing(tmp_path):
    target = tmp_path / "out.jsonl"
    res = run("data", "convert", bad_jsonl(tmp_path), "--to", "jsonl", "--out", target)
    assert res.exit_code == 2 and "nothing written" in one_error_line(res)
    assert not target.exists()


@pytest.mark.slow  # imports torch and onnx
def test_export_onnx_takes_short_o(tmp_path):
    assert "-o" in help_of("export-onnx").split()
    res = run("export-onnx", tmp_path / "no-model", "-o", tmp_path / "onnx")
    assert res.exit_code == 2 and "no-model" in one_error_line(res)


def test_dashboard_bad_date_is_one_usage_error(tmp_path):
    res = run("dashboard", tmp_path, "--out", tmp_path / "site", "--since", "yesterday")
    assert res.exit_code == 2 and "--since 'yesterday'" in one_error_line(res)
