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
naming the record and ``score``'s reason, never a 500
(:mod:`framescope.model.service_checks`). The limits are read
from the server's environment (the operator's choice, not the client's) and apply only
inside the scoring server, so Spark UDFs (:mod:`framescope.inference.spark`) keep
scoring whole partitions.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

from framescope import __version__
from framescope.labels.records import lang_warning
from framescope.model.result import SCHEMA_VERSION, ArticleResult, article_row
from framescope.model.scorer import METADATA_AFTER, article_columns, categories_of
from framescope.model.service_checks import (  # noqa: F401  (the service's limits, importable from here)
    DEFAULT_MAX_ARTICLES,
    DEFAULT_MAX_CHARS,
    MAX_ARTICLES_ENV,
    MAX_CHARS_ENV,
    METADATA,
    SERVER_MODEL_PATH_ENV,
    _meta_value,
    _serving,
    _str,
    check_request,
    guard_request_decoding,
)
from framescope.model.settings import TaggerSettings, load_folder_taxonomy
from framescope.model.tagger import SpanTagger

# logged with the model (MLflow shows it and checks the model answers it when logging)
INPUT_EXAMPLE = pd.DataFrame(
    {"id": ["example-1"], "lang": ["en"], "text": ["They are traitors who lie to you. Act now, before it is too late!"]}
)
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


def _output_row(result: ArticleResult, columns: list[str]) -> dict:
    """One output row: the article's export columns (the record's ``articles`` row, ``scored_at``
    as text), then its spans."""
    rec = result.to_dict()
    row = article_row(rec, timestamps=False)
    return {**{c: row[c] for c in columns}, "spans": rec["spans"]}


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
        rows = [_output_row(r, self.columns) for r in results]
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
