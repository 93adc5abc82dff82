"""Reliability: the per-article size guard and the scoring service's validation.

The size guard (``framescope score --max-chars``) turns an article over the limit into an
error row before it is scored; the rest of the run is exported (exit 1). The service
refuses, nulls and warns exactly as ``framescope score`` does, and never answers 500.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from framescope.cli import _register, app

_register()
runner = CliRunner()


def _feed(path, records) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def test_an_article_over_max_chars_is_an_error_row_and_the_rest_is_exported(model_dir, tmp_path):
    feed = tmp_path / "feed.jsonl"
    _feed(
        feed,
        [
            {"id": "ok", "text": "Die feigen Verräter haben uns verkauft."},
            {"id": "big", "text": "Wort " * 50},  # 250 characters
            {"id": "ok2", "text": "Sie lügen, immer!"},
        ],
    )
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "score",
            "-q",
            str(feed),
            "--model",
            str(model_dir),
            "--out",
            str(out),
            "--format",
            "jsonl",
            "--max-chars",
            "200",
        ],
    )
    assert res.exit_code == 1, res.output
    ids = [json.loads(line)["id"] for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert ids == ["ok", "ok2"]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(errors) == 1
    err = errors[0]
    assert err["id"] == "big" and err["source"].endswith("feed.jsonl:2") and err["level"] == "error"
    assert "250 characters" in err["reason"] and "200" in err["reason"] and "--max-chars" in err["reason"]


def test_the_default_size_limit_is_documented_and_an_invalid_one_is_refused(model_dir, tmp_path):
    from framescope.inference.batch import DEFAULT_MAX_CHARS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "failures.md").read_text(encoding="utf-8")
    assert f"{DEFAULT_MAX_CHARS:,}" in doc and "--max-chars" in doc
    feed = tmp_path / "feed.jsonl"
    _feed(feed, [{"id": "ok", "text": "Sie lügen, immer!"}])
    res = runner.invoke(
        app, ["score", "-q", str(feed), "--model", str(model_dir), "--out", str(tmp_path / "o"), "--max-chars", "0"]
    )
    assert res.exit_code == 2 and not (tmp_path / "o").exists(), res.output


# -- the scoring service: the pyfunc inside MLflow's scoring server's request handling -------

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def invoke(model_dir, tmp_path_factory):
    """``invoke(body) -> (HTTP status, answer)`` through ``mlflow.pyfunc.scoring_server.invocations``,
    the function behind ``POST /invocations`` of ``mlflow models serve``, on the quickstart model
    saved as the pyfunc; an MLflow error becomes its HTTP status, anything else a 500."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    from framescope.model import mlflow_model as mm
    from framescope.model.scorer import categories_of
    from framescope.model.settings import TaggerSettings, load_folder_taxonomy

    settings = TaggerSettings.load(model_dir)
    techniques = list(settings.techniques)
    folder = tmp_path_factory.mktemp("pyfunc") / "model"
    mlflow.pyfunc.save_model(
        str(folder),
        python_model=mm.__file__,
        artifacts={"model_dir": str(model_dir)},
        signature=mm.signature(techniques, categories_of(load_folder_taxonomy(model_dir, settings), techniques)),
    )
    before = {k: os.environ.get(k) for k in ("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", mm.SERVER_MODEL_PATH_ENV)}
    os.environ[mm.SERVER_MODEL_PATH_ENV] = str(folder)  # as `mlflow models serve` sets them: this one
    model = mlflow.pyfunc.load_model(str(folder))  # before the model loads,
    os.environ["_MLFLOW_IS_IN_SERVING_ENVIRONMENT"] = "true"  # this one after (scoring_server.init)
    schema = model.metadata.get_input_schema()

    def call(body):
        data = body if isinstance(body, str) else json.dumps(body)
        try:
            res = scoring_server.invocations(data, "application/json", model, schema)
        except MlflowException as err:
            return err.get_http_status_code(), err.message
        except Exception as err:  # what the server answers with HTTP 500
            return 500, repr(err)
        return res.status, json.loads(res.response)

    yield call
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _cli_reason(record: dict) -> str:
    """The reason ``framescope score`` gives for one bad JSONL record."""
    from io import BytesIO

    from framescope.inference.inputs import InputError, iter_inputs

    line = (json.dumps(record, ensure_ascii=True) + "\n").encode()
    (item,) = list(iter_inputs(["-"], stdin=BytesIO(line), detect=False))
    assert isinstance(item, InputError), item
    return item.reason


@pytest.mark.parametrize(
    "record",
    [
        {"id": "s", "text": "Die feigen \ud800 Verräter."},
        {"id": "n", "text": "Die feigen \x00 Verräter."},
        {"id": "b", "text": " \n "},
        {"id": "i", "text": 5},
    ],
    ids=["lone surrogate", "NUL", "blank", "not a string"],
)
def test_the_service_refuses_a_bad_record_as_the_cli_does_naming_it(invoke, record):
    status, answer = invoke({"dataframe_records": [{"id": "ok", "text": "Ein Text."}, record]})
    assert status == 400, answer
    assert answer.endswith(f"framescope: record 1 (id '{record['id']}'): {_cli_reason(record)}"), answer


@pytest.mark.parametrize(
    "body, says",
    [
        ({"dataframe_records": []}, "framescope: the request holds no articles"),
        ({"dataframe_split": {"columns": ["text"], "data": []}}, "framescope: the request holds no articles"),
        (
            {"dataframe_split": {"columns": ["text", "text"], "data": [["a b", "c d"]]}},
            "framescope: the request names a column more than once: text",
        ),
        (
            '{"dataframe_records": [{"text": ' + "[" * 100_000 + "]" * 100_000 + "}]}",
            "framescope: the JSON body is nested too deeply to read",
        ),
        ('{"dataframe_records": [{"text": "x", "id": ' + "[" * 900 + "]" * 900 + "}]}", "'id' is a JSON array"),
        (
            {"dataframe_records": [{"id": "t", "text": "Ein Text.", "title": "T \ud800"}]},
            "framescope: record 0 (id 't'): 'title' holds a lone surrogate",
        ),
    ],
    ids=["empty records", "empty split", "text twice", "nested 100000 deep", "nested 900 deep", "surrogate in title"],
)
def test_bad_requests_get_a_clear_400_never_a_500(invoke, body, says):
    status, answer = invoke(body)
    assert status == 400, answer
    assert says in answer, answer


def test_the_service_nulls_a_bad_lang_with_the_clis_warning(invoke, model_dir, tmp_path):
    from framescope.inference.batch import run_score

    records = [
        {"id": "a", "lang": 42, "text": "Die Stadt werde standhalten."},
        {"id": "b", "lang": "english", "text": "He called it a puppet regime."},
        {"id": "c", "lang": "x" * 1_000_000, "text": "Ein Text."},
    ]
    status, answer = invoke({"dataframe_records": records})
    assert status == 200, answer
    served = answer["predictions"]
    feed = tmp_path / "feed.jsonl"
    _feed(feed, records)
    summary = run_score([str(feed)], model=str(model_dir), out=tmp_path / "out", formats="jsonl", show_progress=False)
    cli = {e["id"]: e["reason"] for e in summary.warnings}
    assert [p["lang"] for p in served] == [None, None, None]
    assert {p["id"]: p["warnings"] for p in served} == {i: [cli[i]] for i in "abc"}
    assert len(cli["c"]) < 200  # a 1 MB value is cut in the message


def test_the_documented_example_returns_what_the_docs_show(invoke):
    """docs/service.md's request, sent as it stands, gives its response's shape and values."""
    from framescope.inference.exports import SCHEMA_VERSION
    from framescope.model.mlflow_model import SCHEMA_VERSION as SERVED_VERSION

    doc = (DOCS / "service.md").read_text(encoding="utf-8")
    request = json.loads(re.search(r"-d '(\{.*?\})'", doc, re.S).group(1))
    shown = json.loads(re.search(r"```json\n(\{\"predictions\".*?)\n```", doc, re.S).group(1))["predictions"]
    status, answer = invoke(request)
    assert status == 200, answer
    got = answer["predictions"]
    assert len(got) == len(request["dataframe_records"]) and len(shown) >= 1
    assert SERVED_VERSION == SCHEMA_VERSION
    varying = {"model", "model_version", "scored_at"}  # the registry version and the time differ
    patterned = ("score_", "prob_", "category_")  # the docs show one or two of each
    for doc_row, row in zip(shown, got):
        if not isinstance(doc_row, dict):  # "…": the docs leave the other predictions out
            continue
        keys = [k for k in doc_row if k != "…"]
        assert [k for k in row if not k.startswith(patterned)] == [k for k in keys if not k.startswith(patterned)]
        for k in keys:
            assert k in row, k
            if k not in varying:
                assert row[k] == doc_row[k], k
        assert row["n_spans"] > 0 and row["schema_version"] == SCHEMA_VERSION
