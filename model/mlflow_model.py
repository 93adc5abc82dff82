"""framescope as an MLflow pyfunc model, logged as "model from code" (nothing pickled).

``mlflow.pyfunc.load_model("models:/framescope@candidate").predict(df)`` takes a
DataFrame with a ``text`` column (optional ``id``, ``lang``) and returns one row per
input: the columns of the ``articles`` export table (docs/schema.md) except
``schema_version`` and the article metadata (``source``, ``url``, ``title``,
``published_at``: the caller has them; the Spark engine passes them through), with
``scored_at`` as an ISO 8601 UTC string, followed by ``spans``, a list of span dicts (``technique``, ``category``, ``start``,
``end``, ``text``, ``confidence``) — the rows of the ``spans`` table of that article.

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
(default 100,000), and every text must be a non-empty string: beyond that, or for an
empty text, the answer is HTTP 400 naming the record, never a 500. The limits are read
from the server's environment (the operator's choice, not the client's) and apply only
inside the scoring server, so Spark UDFs (:mod:`framescope.inference.spark`) keep
scoring whole partitions.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

from framescope import __version__
from framescope.model.scorer import DIGITS, ArticleResult, article_columns, categories_of, iso_utc
from framescope.model.settings import TaggerSettings, load_folder_taxonomy
from framescope.model.tagger import SpanTagger

MAX_ARTICLES_ENV, DEFAULT_MAX_ARTICLES = "FRAMESCOPE_SERVE_MAX_ARTICLES", 64
MAX_CHARS_ENV, DEFAULT_MAX_CHARS = "FRAMESCOPE_SERVE_MAX_CHARS", 100_000
# logged with the model (MLflow shows it and checks the model answers it when logging)
INPUT_EXAMPLE = pd.DataFrame(
    {"id": ["example-1"], "lang": ["en"], "text": ["They are traitors who lie to you. Act now, before it is too late!"]}
)
SPAN_FIELDS = (("technique", "string"), ("category", "string"), ("start", "long"), ("end", "long"),
               ("text", "string"), ("confidence", "double"))


def output_columns(techniques: list[str], categories: list[str]) -> list[tuple[str, str]]:
    """``(name, MLflow type)`` of every output column but ``spans``: the articles table's
    columns (:func:`~framescope.model.scorer.article_columns`), ``scored_at`` as ISO 8601 text
    since Spark UDFs take no pandas timestamps."""
    return [(name, "string" if kind == "timestamp" else kind) for name, kind, _ in article_columns(techniques, categories)]


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
        "id": result.id, "lang": result.lang, "model": result.model, "model_version": result.model_version,
        # ISO 8601 string: Spark UDFs take no pandas timestamps
        "scored_at": iso_utc(result.scored_at), "n_chars": len(result.text), "text_sha256": text_sha256,
    }
    row.update({f"score_{t}": round(float(ts.score), DIGITS) for t, ts in result.techniques.items()})
    row.update({
        f"prob_{t}": None if ts.probability is None else round(float(ts.probability), DIGITS)
        for t, ts in result.techniques.items()
    })
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

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if "text" not in frame.columns:
            raise ValueError("framescope expects a 'text' column")
        detect = bool((params or {}).get("detect_lang", True))
        n = len(frame)
        if _serving():
            check_request(frame)
        texts = [_str(v) or "" for v in frame["text"]]  # exactly as stored: a BOM counts in offsets
        ids = [_str(v) for v in frame["id"]] if "id" in frame.columns else [None] * n
        ids = [i if i not in (None, "") else str(k) for k, i in enumerate(ids)]
        langs = [(_str(v) or None) for v in frame["lang"]] if "lang" in frame.columns else [None] * n
        langs = [lang.lower() if lang else (_detect(t) if detect and t.strip() else None) for lang, t in zip(langs, texts)]
        results = self.tagger.score(texts, ids=ids, langs=langs)
        out = pd.DataFrame([_row(r, self.columns) for r in results], columns=[*self.columns, "spans"])
        # object dtype keeps None a None (not "None"/NaN) through MLflow's Spark conversion
        return out.astype({"id": object, "lang": object, "spans": object})


def _serving() -> bool:
    """True inside ``mlflow models serve`` (its scoring server sets this variable before loading)."""
    return os.environ.get("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", "").lower() == "true"


def _limit(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def check_request(frame: pd.DataFrame) -> None:
    """Refuse a request the service should not score, with an MLflow error the server answers as HTTP 400."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    def refuse(message: str):
        raise MlflowException(f"framescope: {message}", error_code=INVALID_PARAMETER_VALUE)

    max_articles, max_chars = _limit(MAX_ARTICLES_ENV, DEFAULT_MAX_ARTICLES), _limit(MAX_CHARS_ENV, DEFAULT_MAX_CHARS)
    if len(frame) == 0:
        refuse("the request holds no articles")
    if max_articles and len(frame) > max_articles:
        refuse(f"{len(frame)} articles in one request; the limit is {max_articles} ({MAX_ARTICLES_ENV})")
    ids = frame["id"].tolist() if "id" in frame.columns else [None] * len(frame)
    for k, (text, id_) in enumerate(zip(frame["text"].tolist(), ids)):
        which = f"record {k}" + (f" (id {_str(id_)!r})" if _str(id_) else "")
        if not isinstance(text, str):
            refuse(f"{which}: 'text' must be a string, not {'null' if _str(text) is None else type(text).__name__}")
        if not text.strip():
            refuse(f"{which}: empty text")
        if max_chars and len(text) > max_chars:
            refuse(f"{which}: {len(text)} characters; the limit is {max_chars} ({MAX_CHARS_ENV})")


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
        versions = [v for v in versions if str(v.source) == f"models:/{model_id}" or getattr(v, "model_id", None) == model_id]
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
    """Declared schema: input ``text`` (``id``, ``lang`` optional); output per :func:`output_columns` + ``spans``.

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

    inputs = Schema([
        ColSpec("string", "id", required=False),
        ColSpec("string", "lang", required=False),
        ColSpec("string", "text"),
    ])
    span = Object([Property(name, typ) for name, typ in SPAN_FIELDS])
    outputs = Schema(
        [ColSpec("string" if kind == "timestamp" else kind, name, required=not nullable)
         for name, kind, nullable in article_columns(techniques, list(categories or []))]
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
