"""framescope as an MLflow pyfunc model, logged as "model from code" (nothing pickled).

``mlflow.pyfunc.load_model("models:/framescope@candidate").predict(df)`` takes a
DataFrame with a ``text`` column (optional ``id``, ``lang`` and the metadata ``source``,
``url``, ``title``, ``published_at``) and returns one row per input: the columns of the
``articles`` export table (docs/schema.md), the metadata only where the input has them,
``scored_at`` as an ISO 8601 UTC string, followed by ``spans``, a list of span dicts
(``technique``, ``category``, ``start``, ``end``, ``text``, ``confidence``) — the rows of the
``spans`` table of that article — and ``warnings``, the warnings ``framescope score`` would
write for the article (a ``lang`` that is not an ISO 639-1 code is nulled with one).

The declared output schema (:func:`signature`) types ``spans`` as an array of structs,
so ``mlflow.pyfunc.spark_udf(spark, uri)`` (no ``result_type``: it is inferred from the
signature) returns a Spark struct whose ``spans`` field is ``array<struct<...>>`` and
can be exploded directly (see :mod:`framescope.inference.spark`). Values equal what
``framescope score`` writes for the same article and model: scores rounded to 6
decimals, the language lower-cased and, when absent, detected as the CLI does (param
``detect_lang``, default true; ``None`` where the detector is not installed).

``model`` and ``model_version`` name what is served: the registered model's name and
version when the loaded model is a version in the MLflow Model Registry (looked up by
its logged-model id and run when it loads), else the model folder's name and the MLflow
logged-model id. A client can tell which registry version answered.

As a service (``mlflow models serve -m models:/framescope@candidate --env-manager
local``, docs/service.md), a request may hold at most ``FRAMESCOPE_SERVE_MAX_ARTICLES``
articles (default 64) of at most ``FRAMESCOPE_SERVE_MAX_CHARS`` characters each
(default 100,000), and every record must pass the checks ``framescope score`` applies
to a JSONL record (:mod:`framescope.labels.records`): beyond that, the answer is HTTP 400
naming the record and ``score``'s reason, never a 500. The limits are read
from the server's environment (the operator's choice, not the client's) and apply only
inside the scoring server, so Spark UDFs (:mod:`framescope.inference.spark`) keep
scoring whole partitions.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

from framescope import __version__
from framescope.labels.records import lang_warning, structured_problem, surrogate_problem, text_problem
from framescope.model.scorer import (
    DIGITS,
    METADATA_AFTER,
    SCHEMA_VERSION,
    ArticleResult,
    article_columns,
    categories_of,
    iso_utc,
)
from framescope.model.settings import TaggerSettings, load_folder_taxonomy
from framescope.model.tagger import SpanTagger

MAX_ARTICLES_ENV, DEFAULT_MAX_ARTICLES = "FRAMESCOPE_SERVE_MAX_ARTICLES", 64
MAX_CHARS_ENV, DEFAULT_MAX_CHARS = "FRAMESCOPE_SERVE_MAX_CHARS", 100_000
# logged with the model (MLflow shows it and checks the model answers it when logging)
INPUT_EXAMPLE = pd.DataFrame(
    {"id": ["example-1"], "lang": ["en"], "text": ["They are traitors who lie to you. Act now, before it is too late!"]}
)
#: Article metadata a request may carry; echoed after ``text_sha256`` when the request has them.
METADATA = ("source", "url", "title", "published_at")
SPAN_FIELDS = (
    ("technique", "string"),
    ("category", "string"),
    ("start", "long"),
    ("end", "long"),
    ("text", "string"),
    ("confidence", "double"),
)


def output_columns(techniques: list[str], categories: list[str]) -> list[tuple[str, str]]:
    """``(name, MLflow type)`` of every output column but ``spans``: the articles table's
    columns (:func:`~framescope.model.scorer.article_columns`), ``scored_at`` as ISO 8601 text
    since Spark UDFs take no pandas timestamps."""
    return [
        (name, "string" if kind == "timestamp" else kind) for name, kind, _ in article_columns(techniques, categories)
    ]


def _detect(text: str) -> str | None:
    try:
        from framescope.labels.language import detect_language

        return detect_language(text)
    except ImportError:  # the language detector is an optional dependency
        return None


def _row(result: ArticleResult, columns: list[str]) -> dict:
    """One output row: the article's export columns (rounded as the exports round), then its spans."""
    text_sha256 = hashlib.sha256(result.text.encode("utf-8")).hexdigest()
    row = {
        "id": result.id,
        "lang": result.lang,
        "model": result.model,
        "model_version": result.model_version,
        # ISO 8601 string: Spark UDFs take no pandas timestamps
        "scored_at": iso_utc(result.scored_at),
        "n_chars": len(result.text),
        "text_sha256": text_sha256,
    }
    row.update({f"score_{t}": round(float(ts.score), DIGITS) for t, ts in result.techniques.items()})
    row.update(
        {
            f"prob_{t}": None if ts.probability is None else round(float(ts.probability), DIGITS)
            for t, ts in result.techniques.items()
        }
    )
    row.update({f"category_{c}": round(float(v), DIGITS) for c, v in result.categories.items()})
    row.update(overall_score=round(float(result.overall), DIGITS), n_spans=len(result.spans), profile=result.profile)
    row = {c: row[c] for c in columns}
    row["spans"] = [s.to_dict() for s in result.spans]
    return row


class FramescopeModel(PythonModel):
    def load_context(self, context) -> None:
        self.tagger = SpanTagger.from_pretrained(context.artifacts["model_dir"])
        identity = served_identity(Path(context.artifacts["model_dir"]).parents[1], self.tagger.name)
        if identity is not None:
            self.tagger.set_identity(*identity)
        techniques = self.tagger.techniques
        self.columns = [c for c, _ in output_columns(techniques, categories_of(self.tagger.taxonomy, techniques))]
        if _serving() or os.environ.get(SERVER_MODEL_PATH_ENV):  # the server sets the former only after loading
            guard_request_decoding()

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if _serving():
            check_request(frame)
        if "text" not in frame.columns:
            raise ValueError("framescope expects a 'text' column")
        detect = bool((params or {}).get("detect_lang", True))
        n = len(frame)
        texts = [_str(v) or "" for v in frame["text"]]  # exactly as stored: a BOM counts in offsets
        ids = [_str(v) for v in frame["id"]] if "id" in frame.columns else [None] * n
        ids = [i if i not in (None, "") else str(k) for k, i in enumerate(ids)]
        raw_langs = [(_str(v) or None) for v in frame["lang"]] if "lang" in frame.columns else [None] * n
        langs, warnings = _languages(raw_langs, texts, detect)
        results = self.tagger.score(texts, ids=ids, langs=langs)
        meta = [m for m in METADATA if m in frame.columns]
        columns = _with_metadata(self.columns, meta)
        rows = [_row(r, self.columns) for r in results]
        for k, row in enumerate(rows):
            row.update(
                {m: _meta_value(frame[m].iloc[k]) for m in meta}, schema_version=SCHEMA_VERSION, warnings=warnings[k]
            )
        out = pd.DataFrame(rows, columns=[*columns, "spans", "warnings"])
        # object columns built from the values keep None a None (a frame built from dicts makes
        # it NaN, which is no JSON) through the server's JSON and MLflow's Spark conversion
        for c in ("id", "lang", "spans", "warnings", *meta):
            out[c] = pd.Series([row[c] for row in rows], index=out.index, dtype=object)
        return out


def _languages(raw: list[str | None], texts: list[str], detect: bool) -> tuple[list[str | None], list[list[str]]]:
    """Each article's language and warnings, as ``framescope score`` decides them: a given code
    lower-cased; one that is not ISO 639-1 nulled with a warning (and not detected); a missing
    one detected (when ``detect``)."""
    langs, warnings = [], []
    for lang, text in zip(raw, texts):
        lang = lang.lower() if lang else None
        warning = lang_warning(lang) if lang else None
        if warning is not None:
            lang = None
        elif lang is None and detect and text.strip():
            lang = _detect(text)
        langs.append(lang)
        warnings.append([warning] if warning else [])
    return langs, warnings


def _with_metadata(columns: list[str], meta: list[str]) -> list[str]:
    """The response's columns: the metadata the request carried after ``text_sha256``, then
    ``schema_version``, as in the ``articles`` export table."""
    k = columns.index(METADATA_AFTER) + 1
    return [*columns[:k], *meta, *columns[k:], "schema_version"]


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


def served_identity(model_root: Path, folder_name: str = "framescope") -> tuple[str, str] | None:
    """``(registered name, version)`` of the registry version holding the model at ``model_root``.

    The MLmodel file knows its run and logged-model id, not the registry version it was
    loaded through, so the registry is asked (``mlflow models serve`` has its tracking
    URI). Without a registry answer: ``(folder_name, logged-model id)``;
    None when the MLmodel file is not there either (a bare folder).
    """
    import yaml

    try:
        mlmodel = yaml.safe_load((model_root / "MLmodel").read_text(encoding="utf-8")) or {}
    except OSError:
        return None
    run_id, model_id = mlmodel.get("run_id"), mlmodel.get("model_id")  # model_id: MLflow 3's logged model
    found = _registry_version(run_id, model_id) if run_id else None
    if found is not None:
        return found
    fallback = model_id or mlmodel.get("model_uuid")
    return None if fallback is None else (folder_name, str(fallback))


def _registry_version(run_id: str, model_id: str | None) -> tuple[str, str] | None:
    registry = mlflow.get_registry_uri()
    if registry.startswith("sqlite:///") and not Path(registry.removeprefix("sqlite:///")).exists():
        return None  # no registry here: do not create an empty database by asking
    try:
        versions = mlflow.MlflowClient().search_model_versions(f"run_id = '{run_id}'")
    except Exception:  # no registry reachable: the caller falls back to the logged-model id
        return None
    if model_id is not None:  # MLflow 3: a version's source is models:/<logged model id>; a run may log several
        versions = [
            v for v in versions if str(v.source) == f"models:/{model_id}" or getattr(v, "model_id", None) == model_id
        ]
    if not versions:
        return None
    best = max(versions, key=lambda v: int(v.version))
    return best.name, str(best.version)


def _str(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else str(value)


def signature(techniques: list[str], categories: list[str] | None = None):
    """Declared schema: input ``text`` (``id``, ``lang`` and the :data:`METADATA` optional); output per
    :func:`output_columns` + ``spans`` (the Spark UDF's struct; the service adds the metadata sent,
    ``schema_version`` and ``warnings``, see docs/service.md).

    ``spans`` is ``Array(Object(...))``, i.e. ``array<struct<technique, category, start,
    end, text, confidence>>`` in Spark. ``categories`` defaults to none (older callers).
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import (
        Array,
        ColSpec,
        Object,
        ParamSchema,
        ParamSpec,
        Property,
        Schema,
    )

    inputs = Schema(
        [
            ColSpec("string", "id", required=False),
            ColSpec("string", "lang", required=False),
            ColSpec("string", "text"),
            *(ColSpec("string", name, required=False) for name in METADATA),  # echoed in the response
        ]
    )
    span = Object([Property(name, typ) for name, typ in SPAN_FIELDS])
    outputs = Schema(
        [
            ColSpec("string" if kind == "timestamp" else kind, name, required=not nullable)
            for name, kind, nullable in article_columns(techniques, list(categories or []))
        ]
        + [ColSpec(Array(span), "spans")]
    )
    params = ParamSchema([ParamSpec("detect_lang", "boolean", True)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def log_model(model_dir: str | Path, registered_model_name: str | None = None, name: str = "model"):
    """Log ``model_dir`` with this file as the model's code; returns MLflow's ModelInfo."""
    code = str(Path(__file__).resolve())
    settings = TaggerSettings.load(model_dir)
    techniques = list(settings.techniques)
    categories = categories_of(load_folder_taxonomy(model_dir, settings), techniques)
    kwargs = dict(
        python_model=code,
        artifacts={"model_dir": str(model_dir)},
        registered_model_name=registered_model_name,
        # the framescope that logged the model: its code is the model's code (docs/service.md)
        pip_requirements=[f"framescope=={__version__}"],
        signature=signature(techniques, categories),
        input_example=INPUT_EXAMPLE,
    )
    try:
        return mlflow.pyfunc.log_model(name=name, **kwargs)
    except TypeError:  # MLflow 2.x names it artifact_path
        return mlflow.pyfunc.log_model(artifact_path=name, **kwargs)


set_model(FramescopeModel())
