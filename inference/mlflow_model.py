"""framescope as an MLflow pyfunc model, logged as "model from code" (nothing pickled).

``mlflow.pyfunc.load_model("models:/framescope@candidate").predict(df)`` takes a
DataFrame with a ``text`` column (optional ``id``, ``lang``) and returns one row per
input: the columns of the ``articles`` export table (:mod:`framescope.inference.exports`,
docs/schema.md) except ``schema_version``, with ``scored_at`` as an ISO 8601 UTC string,
followed by ``spans``, a list of span dicts (``technique``, ``category``, ``start``,
``end``, ``text``, ``confidence``) — the rows of the ``spans`` table of that article.

The declared output schema (:func:`signature`) types ``spans`` as an array of structs,
so ``mlflow.pyfunc.spark_udf(spark, uri)`` (no ``result_type``: it is inferred from the
signature) returns a Spark struct whose ``spans`` field is ``array<struct<...>>`` and
can be exploded directly (see :mod:`framescope.inference.spark`). Values equal what
``framescope score`` writes for the same article and model: scores rounded to 6
decimals, the language lower-cased and, when absent, detected as the CLI does (param
``detect_lang``, default true; ``None`` where the detector is not installed).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

SPAN_FIELDS = (("technique", "string"), ("category", "string"), ("start", "long"), ("end", "long"),
               ("text", "string"), ("confidence", "double"))


def output_columns(techniques: list[str], categories: list[str]) -> list[tuple[str, str]]:
    """``(name, MLflow type)`` of every output column but ``spans``, in articles-table order."""
    cols = [("id", "string"), ("lang", "string"), ("model", "string"), ("model_version", "string"),
            ("scored_at", "string"), ("n_chars", "long"), ("text_sha256", "string")]
    cols += [(f"score_{t}", "double") for t in techniques]
    cols += [(f"prob_{t}", "double") for t in techniques]  # schema 1.1, null without an article stage
    cols += [(f"category_{c}", "double") for c in categories]
    cols += [("overall_score", "double"), ("n_spans", "long"), ("profile", "string")]
    return cols


def _detect(text: str) -> str | None:
    try:
        from framescope.inference.inputs import detect_language

        return detect_language(text)
    except ImportError:  # the language detector is an optional dependency
        return None


class FramescopeModel(PythonModel):
    def load_context(self, context) -> None:
        from framescope.inference.exports import categories_of
        from framescope.inference.scorer import Scorer

        self.scorer = Scorer.from_pretrained(context.artifacts["model_dir"])
        techniques = list(self.scorer.tagger.techniques)
        self.columns = [c for c, _ in output_columns(techniques, categories_of(self.scorer.taxonomy, techniques))]

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from framescope.inference.exports import article_row, result_record

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if "text" not in frame.columns:
            raise ValueError("framescope expects a 'text' column")
        detect = bool((params or {}).get("detect_lang", True))
        n = len(frame)
        texts = [t.removeprefix("\ufeff") for t in (_str(v) or "" for v in frame["text"])]
        ids = [_str(v) for v in frame["id"]] if "id" in frame.columns else [None] * n
        ids = [i if i not in (None, "") else str(k) for k, i in enumerate(ids)]
        langs = [(_str(v) or None) for v in frame["lang"]] if "lang" in frame.columns else [None] * n
        langs = [lang.lower() if lang else (_detect(t) if detect and t.strip() else None) for lang, t in zip(langs, texts)]
        results = self.scorer.score_texts(texts, ids=ids, langs=langs)
        rows = []
        for text, r in zip(texts, results):
            rec = result_record(r, hashlib.sha256(text.encode("utf-8")).hexdigest())
            row = article_row(rec)
            row["scored_at"] = rec["scored_at"]  # ISO 8601 string: Spark UDFs take no pandas timestamps
            row = {c: row[c] for c in self.columns}
            row["spans"] = rec["spans"]
            rows.append(row)
        out = pd.DataFrame(rows, columns=[*self.columns, "spans"])
        # object dtype keeps None a None (not "None"/NaN) through MLflow's Spark conversion
        return out.astype({"id": object, "lang": object, "spans": object})


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
        [ColSpec(typ, name, required=name != "lang") for name, typ in output_columns(techniques, list(categories or []))]
        + [ColSpec(Array(span), "spans")]
    )
    params = ParamSchema([ParamSpec("detect_lang", "boolean", True)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def log_model(model_dir: str | Path, registered_model_name: str | None = None, name: str = "model"):
    """Log ``model_dir`` with this file as the model's code; returns MLflow's ModelInfo."""
    from framescope.inference.exports import categories_of
    from framescope.training.settings import TaggerSettings, load_folder_taxonomy

    code = str(Path(__file__).resolve())
    settings = TaggerSettings.load(model_dir)
    techniques = list(settings.techniques)
    categories = categories_of(load_folder_taxonomy(model_dir, settings), techniques)
    kwargs = dict(
        python_model=code,
        artifacts={"model_dir": str(model_dir)},
        registered_model_name=registered_model_name,
        pip_requirements=["framescope"],
        signature=signature(techniques, categories),
    )
    try:
        return mlflow.pyfunc.log_model(name=name, **kwargs)
    except TypeError:  # MLflow 2.x names it artifact_path
        return mlflow.pyfunc.log_model(artifact_path=name, **kwargs)


set_model(FramescopeModel())
