"""The Spark side of :mod:`framescope.inference.spark`: the session, the model UDF and the columns.

Each helper builds Spark columns or DataFrames the way the CLI reads and writes its
rows: input normalised as ``framescope score`` reads a record, output cast to the
exports schema (docs/schema.md), so the Spark engine's rows equal the CLI's.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def read_input(spark, source):
    """A DataFrame as is; a string: a Parquet file/folder when it exists or looks like a path, else a table."""
    if not isinstance(source, (str, os.PathLike)):
        return source, "dataframe"
    text = str(source)
    if os.path.exists(text) or "/" in text or text.endswith(".parquet") or "://" in text:
        return spark.read.parquet(text), text
    return spark.table(text), text


def model_udf(spark, model_uri: str, detect_lang: bool = True):
    """The MLflow pyfunc UDF, its result type inferred from the model's signature; checked."""
    import mlflow.pyfunc
    from pyspark.sql.types import ArrayType, StructType

    udf = mlflow.pyfunc.spark_udf(spark, model_uri, env_manager="local", params={"detect_lang": bool(detect_lang)})
    rt = udf.returnType
    spans = rt["spans"].dataType if isinstance(rt, StructType) and "spans" in rt.fieldNames() else None
    if (
        not (isinstance(spans, ArrayType) and isinstance(spans.elementType, StructType))
        or "text_sha256" not in rt.fieldNames()
    ):
        raise ValueError(
            f"{model_uri}: the model's signature does not declare the framescope >= 0.1 output "
            "(a struct with spans as array<struct>); log/register the model again with this framescope"
        )
    return udf


def normalised_input(F, df, text_col: str, id_col: str, lang_col: str):
    """``id, lang, text, _reason`` as the CLI reads them: the text as stored, language lower-cased,
    missing ids ``row-<n>``; ``_reason`` says why a row cannot be scored (null otherwise)."""
    cols = set(df.columns)
    text = F.col(text_col).cast("string")
    ident = F.col(id_col).cast("string") if id_col in cols else F.lit(None).cast("string")
    ident = F.when(
        ident.isNull() | (ident == ""), F.concat(F.lit("row-"), F.monotonically_increasing_id().cast("string"))
    ).otherwise(ident)
    lang = F.lower(F.col(lang_col).cast("string")) if lang_col in cols else F.lit(None).cast("string")
    lang = F.when(lang == "", F.lit(None)).otherwise(lang)
    base = df.select(
        ident.alias("id"),
        lang.alias("lang"),
        text.alias("text"),
        *_metadata_columns(F, cols),
    )
    reason = (
        F.when(F.col("text").isNull(), F.lit(f"no {text_col!r} field"))
        .when(F.instr(F.col("text"), "\x00") > 0, F.lit("text contains a NUL character"))
        .when(F.col("text").rlike("(?U)^\ufeff?\\s*$"), F.lit("empty article"))
    )
    return base.withColumn("_reason", reason)


METADATA = ("source", "url", "title", "published_at")  # schema 1.1 article metadata, passed through


def _metadata_columns(F, cols: set[str]) -> list:
    """The input's outlet/url/title/published_at columns (null where absent), as the CLI keeps them."""
    out = []
    for name in METADATA:
        kind = "timestamp" if name == "published_at" else "string"
        col = F.col(name) if name in cols else F.lit(None)
        if name == "published_at" and name in cols:
            col = F.to_timestamp(col)  # ISO 8601 text or a timestamp column; unparseable -> null
        out.append(col.cast(kind).alias(name))
    return out


def typed(F, f, source: str | None = None):
    """Column ``f.name`` cast to the field's Spark type; non-nullable fields made non-nullable.

    Spark cannot narrow nullability by a cast; ``coalesce(col, literal)`` is non-nullable
    and leaves values unchanged where (as here, by construction) none is null.
    """
    import pyarrow as pa
    from framescope.inference import exports as ex

    spark_type = {
        pa.string(): "string",
        pa.int64(): "bigint",
        pa.float64(): "double",
        ex.TIMESTAMP: "timestamp",
    }[f.type]
    if f.name == "schema_version":
        return F.lit(ex.SCHEMA_VERSION).alias(f.name)
    col = F.col(source or f.name)
    if f.name == "scored_at":
        col = F.to_timestamp(col, "yyyy-MM-dd'T'HH:mm:ssXXX")
    col = col.cast(spark_type)
    if not f.nullable:
        default = {
            "string": F.lit(""),
            "bigint": F.lit(0).cast("bigint"),
            "double": F.lit(0.0),
            "timestamp": F.lit(0).cast("timestamp"),
        }[spark_type]
        col = F.coalesce(col, default)
    return col.alias(f.name)


class spark_conf:
    def __init__(self, spark, conf: dict[str, str]):
        self.spark, self.conf, self.old = spark, conf, {}

    def __enter__(self):
        for k, v in self.conf.items():
            self.old[k] = self.spark.conf.get(k, None)
            self.spark.conf.set(k, v)

    def __exit__(self, *exc):
        for k, v in self.old.items():
            if v is None:
                self.spark.conf.unset(k)
            else:
                self.spark.conf.set(k, v)


def spark_session(master: str = "local[*]", app_name: str = "framescope", conf: dict[str, Any] | None = None):
    """A SparkSession (the active one when there is one); local mode by default.

    Spark starts its Python workers with ``$PYSPARK_PYTHON``, else ``python3`` from ``PATH``:
    for ``.venv/bin/framescope`` run without an activated environment that is the system
    Python, which lacks pandas and framescope. So the workers (and the driver) get this
    interpreter, ``sys.executable``, unless ``PYSPARK_PYTHON`` or ``conf`` name another.
    """
    from pyspark.sql import SparkSession

    python = os.environ.get("PYSPARK_PYTHON") or sys.executable
    # PySpark's SparkContext reads the worker interpreter from the environment variable only
    # (``spark.pyspark.python`` is honoured by spark-submit and cluster executors).
    os.environ["PYSPARK_PYTHON"] = python
    builder = SparkSession.builder.appName(app_name)
    if not os.environ.get("SPARK_MASTER") and master:
        builder = builder.master(master)
    defaults = {
        "spark.ui.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.pyspark.python": python,
        "spark.pyspark.driver.python": os.environ.get("PYSPARK_DRIVER_PYTHON") or sys.executable,
    }
    for k, v in {**defaults, **(conf or {})}.items():
        builder = builder.config(k, str(v))
    return builder.getOrCreate()
