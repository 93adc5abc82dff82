"""The scoring service's request checks: what ``mlflow models serve`` refuses with HTTP 400.

A request may hold at most ``FRAMESCOPE_SERVE_MAX_ARTICLES`` articles (default 64) of at
most ``FRAMESCOPE_SERVE_MAX_CHARS`` characters each (default 100,000), and every record
must pass the checks ``framescope score`` applies to a JSONL record
(:mod:`framescope.labels.records`): beyond that, the answer is HTTP 400 naming the record
and ``score``'s reason, never a 500. The limits are read from the server's environment
(the operator's choice, not the client's) and apply only inside the scoring server, so
Spark UDFs keep scoring whole partitions. The pyfunc (:mod:`framescope.model.mlflow_model`)
calls these checks; docs/service.md describes them.
"""

from __future__ import annotations

import json
import os

import pandas as pd

from framescope.labels.records import structured_problem, surrogate_problem, text_problem

MAX_ARTICLES_ENV, DEFAULT_MAX_ARTICLES = "FRAMESCOPE_SERVE_MAX_ARTICLES", 64
MAX_CHARS_ENV, DEFAULT_MAX_CHARS = "FRAMESCOPE_SERVE_MAX_CHARS", 100_000
#: Article metadata a request may carry; echoed after ``text_sha256`` when the request has them.
METADATA = ("source", "url", "title", "published_at")


#: Set by ``mlflow models serve`` for the scoring app it starts (``scoring_server._SERVER_MODEL_PATH``).
SERVER_MODEL_PATH_ENV = "__pyfunc_model_path__"


def _serving() -> bool:
    """True while ``mlflow models serve`` answers requests (its scoring server sets this variable once
    the model is loaded, so ``load_context`` also looks at :data:`SERVER_MODEL_PATH_ENV`)."""
    return os.environ.get("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", "").lower() == "true"


def _limit(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def check_request(frame: pd.DataFrame) -> None:
    """Refuse a request the service should not score, with an MLflow error the server answers as HTTP 400."""
    refuse = _refuse
    max_articles, max_chars = _limit(MAX_ARTICLES_ENV, DEFAULT_MAX_ARTICLES), _limit(MAX_CHARS_ENV, DEFAULT_MAX_CHARS)
    twice = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if twice:
        refuse(f"the request names a column more than once: {', '.join(twice)}")
    if len(frame) == 0:
        refuse("the request holds no articles")
    if max_articles and len(frame) > max_articles:
        refuse(f"{len(frame)} articles in one request; the limit is {max_articles} ({MAX_ARTICLES_ENV})")
    for k, record in enumerate(frame.to_dict("records")):
        why = record_problem(record)
        text = record.get("text")
        if why is None and max_chars and len(text) > max_chars:
            why = f"{len(text)} characters; the limit is {max_chars} ({MAX_CHARS_ENV})"
        if why is not None:
            id_ = _str(record.get("id"))
            named = id_ and surrogate_problem("id", id_) is None
            refuse(f"record {k}" + (f" (id {id_!r})" if named else "") + f": {why}")


def record_problem(record: dict) -> str | None:
    """Why the service refuses one record, in ``framescope score``'s words (None: it is scored).

    The checks of :mod:`framescope.labels.records`: the text (missing, not a string, NUL,
    blank, a lone surrogate), and an id, language or metadata value that is a JSON object or
    array (id, language) or holds a lone surrogate (any of them). A ``lang`` that is merely not
    a language code is not a problem: it is nulled with a warning, as ``score`` does; a
    metadata object or array is kept as its JSON text, as ``score`` keeps it.
    """
    text = record.get("text")
    why = text_problem(None if _str(text) is None else text)  # null and NaN (a missing cell) alike
    if why is not None:
        return why
    for field, what in (("id", "an id"), ("lang", "a language")):
        why = structured_problem(field, record.get(field), what)
        if why is not None:
            return why
    for field in ("id", "lang", *METADATA):
        value = record.get(field)
        if isinstance(value, str) and surrogate_problem(field, value):
            return surrogate_problem(field, value)
    return None


def _meta_value(value) -> str | None:
    """A metadata value as ``framescope score`` exports it: text; numbers as their text, objects
    and arrays as their JSON; empty as null. (``published_at`` is echoed as sent, not parsed.)"""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return _str(value) or None


def _refuse(message: str):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    raise MlflowException(f"framescope: {message}", error_code=INVALID_PARAMETER_VALUE)


def check_body(body: dict) -> None:
    """Refuse what MLflow's server would fail on while turning the JSON body into a data frame,
    before the model sees it: a lone surrogate (its message would name no record), no
    articles, a column named twice (``dataframe_split``)."""
    records = body.get("dataframe_records")
    split = body.get("dataframe_split")
    if isinstance(split, dict) and isinstance(split.get("columns"), list):
        cols = split["columns"]
        twice = sorted({str(c) for c in cols if cols.count(c) > 1})
        if twice:
            _refuse(f"the request names a column more than once: {', '.join(twice)}")
        data = split.get("data")
        records = (
            [dict(zip(cols, row)) if isinstance(row, list) else row for row in data] if isinstance(data, list) else None
        )
    if isinstance(records, list):
        if not records:
            _refuse("the request holds no articles")
        for k, record in enumerate(records):
            for field, value in record.items() if isinstance(record, dict) else ():
                why = surrogate_problem(str(field), value) if isinstance(value, str) else None
                if why:
                    id_ = record.get("id")
                    named = isinstance(id_, (str, int)) and surrogate_problem("id", str(id_)) is None
                    _refuse(f"record {k}" + (f" (id {str(id_)!r})" if named else "") + f": {why}")
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        _refuse("the request holds a lone surrogate (an escape such as \\ud800 that is not valid Unicode text)")


def guard_request_decoding() -> None:
    """Wrap the scoring server's JSON decoding with :func:`check_body` and a depth guard.

    MLflow decodes the body before any model code runs, and two bodies fail there with an
    error MLflow does not expect: JSON nested deeper than Python's recursion limit
    (``RecursionError``: HTTP 500) and a lone surrogate escape (a codec message naming no
    record). Both become HTTP 400 with framescope's message. The wrapped function is a
    private one of ``mlflow.pyfunc.scoring_server`` (MLflow 3.x); where it is missing the
    server is left as it is, and tests/test_reliability_size_service.py notices.
    """
    from mlflow.pyfunc import scoring_server

    original = getattr(scoring_server, "_decode_json_input", None)
    if original is None or getattr(original, "framescope_guard", False):
        return

    def decode(json_input):
        try:
            body = original(json_input)
            if isinstance(body, dict):
                check_body(body)
        except RecursionError:
            _refuse("the JSON body is nested too deeply to read")
        return body

    decode.framescope_guard = True
    scoring_server._decode_json_input = decode


def _str(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else str(value)
