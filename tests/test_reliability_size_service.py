"""Reliability: the per-article size guard, the report's memory, the service's validation.

The size guard (``framescope score --max-chars``) turns an article over the limit into an
error row before it is scored; the rest of the run is exported (exit 1).
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from framescope.cli import _register, app

_register()
runner = CliRunner()


def _feed(path, records) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def test_an_article_over_max_chars_is_an_error_row_and_the_rest_is_exported(model_dir, tmp_path):
    feed = tmp_path / "feed.jsonl"
    _feed(feed, [
        {"id": "ok", "text": "Die feigen Verräter haben uns verkauft."},
        {"id": "big", "text": "Wort " * 50},  # 250 characters
        {"id": "ok2", "text": "Sie lügen, immer!"},
    ])
    out = tmp_path / "out"
    res = runner.invoke(app, ["score", "-q", str(feed), "--model", str(model_dir), "--out", str(out),
                              "--format", "jsonl", "--max-chars", "200"])
    assert res.exit_code == 1, res.output
    ids = [json.loads(line)["id"] for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert ids == ["ok", "ok2"]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(errors) == 1
    err = errors[0]
    assert err["id"] == "big" and err["source"].endswith("feed.jsonl:2") and err["level"] == "error"
    assert "250 characters" in err["reason"] and "200" in err["reason"] and "--max-chars" in err["reason"]


def test_the_default_size_limit_is_documented_and_an_invalid_one_is_refused(model_dir, tmp_path):
    from pathlib import Path

    from framescope.inference.batch import DEFAULT_MAX_CHARS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "failures.md").read_text(encoding="utf-8")
    assert f"{DEFAULT_MAX_CHARS:,}" in doc and "--max-chars" in doc
    feed = tmp_path / "feed.jsonl"
    _feed(feed, [{"id": "ok", "text": "Sie lügen, immer!"}])
    res = runner.invoke(app, ["score", "-q", str(feed), "--model", str(model_dir), "--out", str(tmp_path / "o"),
                              "--max-chars", "0"])
    assert res.exit_code == 2 and not (tmp_path / "o").exists(), res.output
