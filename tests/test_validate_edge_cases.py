"""``framescope data validate`` on the edge cases of the input formats.

Empty inputs are errors (exit 1), exact duplicate spans are warnings (listed, exit 0),
JSON ``true``/``false`` are not offsets, and JSON errors read "at column", not "at at column".
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from framescope.cli import _register, app
from framescope.labels import AnnotationError, read_documents

_register()
runner = CliRunner()

DOC = {"id": "a", "lang": "de", "text": "Die feigen Verräter haben uns verkauft."}


def validate(*args: str):
    return runner.invoke(app, ["data", "validate", *args])


@pytest.mark.parametrize(
    "make, args, message",
    [
        (lambda p: (p / "empty.jsonl").write_bytes(b""), ["empty.jsonl"], "empty file: no articles"),
        (lambda p: (p / "blank.jsonl").write_bytes(b"\n \n"), ["blank.jsonl"], "no articles in this file"),
        (lambda p: (p / "empty").mkdir(), ["empty", "--from", "jsonl"], "no articles found in this folder"),
        (
            lambda p: (p / "sem" / "de" / "train-articles-subtask-3").mkdir(parents=True),
            ["sem"],
            "no articles found in this folder",
        ),
        (lambda p: (p / "ls.json").write_text("[]", encoding="utf-8"), ["ls.json"], "no articles in this file"),
    ],
    ids=["empty-jsonl", "blank-jsonl", "empty-folder", "empty-semeval-folder", "empty-labelstudio"],
)
def test_empty_inputs_are_a_problem(tmp_path, monkeypatch, make, args, message):
    monkeypatch.chdir(tmp_path)
    make(tmp_path)
    result = validate(*args)
    assert result.exit_code == 1, result.output
    assert message in result.output and "ok" not in result.output.split()
    with pytest.raises(AnnotationError, match=message):
        read_documents(tmp_path / args[0], args[2] if len(args) > 2 else None)


def test_exact_duplicate_spans_are_reported_as_warnings(tmp_path):
    path = tmp_path / "dup.jsonl"
    span = {"start": 4, "end": 10, "technique": "Name_Calling-Labeling"}
    other = {"start": 4, "end": 10, "technique": "Loaded_Language"}  # same offsets, other technique: legal
    path.write_text(json.dumps({**DOC, "spans": [span, other, span]}) + "\n", encoding="utf-8")
    result = validate(str(path))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1, result.output
    assert f"{path}:1, article a, offsets 4-10: exact duplicate span (Name_Calling-Labeling" in warnings[0]
    assert "1 warning(s)" in result.output
    # a warning does not make the corpus unreadable (PTC-2020 train has one such duplicate)
    assert len(read_documents(path)[0].spans) == 3


@pytest.mark.parametrize("start, end", [(True, 5), (0, False), (1.0, 5)])
def test_json_booleans_and_floats_are_not_offsets(tmp_path, start, end):
    path = tmp_path / "bool.jsonl"
    path.write_text(json.dumps({**DOC, "spans": [{"start": start, "end": end, "technique": "Doubt"}]}) + "\n")
    result = validate(str(path))
    assert result.exit_code == 1, result.output
    assert "start and end must be integers, found" in result.output
    assert json.dumps(start) in result.output


def test_json_error_message_reads_once_at(tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_text('{"id": "a", "text": "unterminated\n', encoding="utf-8")
    result = validate(str(path))
    assert result.exit_code == 1
    assert "Unterminated string starting at column 21" in result.output
    assert "at at" not in result.output


def test_jsonl_fields_of_the_wrong_type_are_problems_not_crashes(tmp_path):
    path = tmp_path / "types.jsonl"
    rows = [
        {**DOC, "id": "m", "meta": [1]},
        {**DOC, "id": "s", "spans": 5},
        {**DOC, "id": "l", "lang": 7},
        {**DOC, "id": "t", "spans": [{"start": 0, "end": 3, "technique": 9}]},
        {**DOC, "id": ["x"]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = validate(str(path))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception  # no traceback
    errors = [line for line in result.output.splitlines() if line.startswith("error")]
    assert len(errors) == 5, result.output
