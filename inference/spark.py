"""Score on Spark through MLflow: the registered pyfunc model as a pandas UDF.

:func:`score_spark` scores a Spark DataFrame (or a table name, or a Parquet path) with
``mlflow.pyfunc.spark_udf(spark, model_uri)`` — the UDF's result type is the struct the
model's signature declares (:mod:`framescope.model.mlflow_model`) — and writes the
``articles`` and ``spans`` tables of the CLI's Parquet export (same column names and
types as :mod:`framescope.inference.exports` defines, docs/schema.md) as Hive-style
partitioned Parquet datasets::

    OUT/articles/lang=de/part-....parquet     (partition_by="lang")
    OUT/spans/lang=de/part-....parquet
    OUT/errors/part-....parquet               (rows that could not be scored)
    OUT/manifest.json

With ``partition_by="lang"`` the ``lang`` column of ``articles`` lives in the directory
name (``lang=__HIVE_DEFAULT_PARTITION__`` for null, which Spark and pyarrow read back as
null) and ``spans`` gains the article's language as its partition key; with
``partition_by="date"`` both tables gain ``date`` (``YYYY-MM-DD``: the ``date_col`` of
the input when given, else the UTC day of ``scored_at``). :func:`read_table` reads a
table back into exactly the exports schema (partition keys dropped, or appended with
``keep_partition=True``). Documented in docs/scaling.md.

``framescope score --engine spark --input PARQUET_OR_TABLE --out PATH`` calls
:func:`run_spark_scoring`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PARTITIONS = ("lang", "date", "none")
TABLES = ("articles", "spans", "errors")


@dataclass
class SparkScoreSummary:
    out_dir: str
    model: str
    articles: int = 0
    spans: int = 0
    errors: int = 0
    seconds: float = 0.0
    partition_by: str = "lang"
    files: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


def _read_input(spark, source):
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


def score_spark(
    spark,
    input_df_or_table,
    model_uri: str,
    out_path: str | Path,
    partition_by: str = "lang",
    text_col: str = "text",
    id_col: str = "id",
    lang_col: str = "lang",
    date_col: str | None = None,
    detect_lang: bool = True,
    num_partitions: int | None = None,
    mode: str = "overwrite",
) -> SparkScoreSummary:
    """Score ``input_df_or_table`` with the MLflow model and write ``articles``/``spans``/``errors`` to ``out_path``.

    Input rows need ``text_col``; ``id_col`` and ``lang_col`` are optional (missing ids
    become ``row-<n>``, unstable across runs: give ids). As in the CLI, the text is
    scored exactly as stored (a leading byte-order mark stays and counts in offsets), the
    language is lower-cased (detected when missing, if
    ``detect_lang``), and null, blank or NUL-containing texts go to ``errors`` instead of
    being scored. Ids are not checked for uniqueness (the CLI rejects duplicates).
    ``num_partitions`` repartitions the input first (one Python worker per task loads
    the model once per task; more partitions than cores only adds loading time).
    """
    from framescope.inference import exports as ex
    from pyspark.sql import functions as F

    if partition_by not in PARTITIONS:
        raise ValueError(f"partition_by must be one of {', '.join(PARTITIONS)}, not {partition_by!r}")
    t0 = time.time()
    out = str(out_path)
    df, source = _read_input(spark, input_df_or_table)
    cols = set(df.columns)
    if text_col not in cols:
        raise ValueError(f"input has no {text_col!r} column (columns: {', '.join(df.columns)})")
    if date_col and date_col not in cols:
        raise ValueError(f"input has no {date_col!r} column")
    if num_partitions:
        df = df.repartition(int(num_partitions))
    base = _normalised_input(F, df, text_col, id_col, lang_col, date_col)

    udf = model_udf(spark, model_uri, detect_lang)
    result_cols = [f for f in udf.returnType.fieldNames() if f != "spans"]
    techniques = [c[len("score_") :] for c in result_cols if c.startswith("score_")]
    categories = [c[len("category_") :] for c in result_cols if c.startswith("category_")]
    n_articles, n_spans = _write_scored(
        spark,
        F,
        base.where(F.col("_reason").isNull()),
        udf,
        model_uri,
        ex.articles_schema(techniques, categories),
        out,
        partition_by,
        mode,
    )

    errors = base.where(F.col("_reason").isNotNull()).select(
        F.col("id"),
        F.lit(source).alias("source"),
        F.col("_reason").alias("reason"),
        F.lit("error").alias("level"),
        F.lit(ex.SCHEMA_VERSION).alias("schema_version"),
    )
    errors = errors.select([_typed(F, f) for f in ex.ERRORS_SCHEMA])
    errors.coalesce(1).write.mode(mode).parquet(f"{out}/errors")
    n_errors = spark.read.parquet(f"{out}/errors").count()
    summary = SparkScoreSummary(out, model_uri, n_articles, n_spans, n_errors, time.time() - t0, partition_by)
    _manifest(out, summary, techniques, categories, source)
    summary.files = [f"{out}/{t}" for t in TABLES] + [f"{out}/{ex.MANIFEST_FILE}"]
    return summary


def _normalised_input(F, df, text_col: str, id_col: str, lang_col: str, date_col: str | None):
    """``id, lang, text, _date, _reason`` as the CLI reads them: BOM dropped, language lower-cased,
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
        (F.date_format(F.col(date_col), "yyyy-MM-dd") if date_col else F.lit(None).cast("string")).alias("_date"),
        *_metadata_columns(F, cols),
    )
    reason = (
        F.when(F.col("text").isNull(), F.lit(f"no {text_col!r} field"))
        .when(F.instr(F.col("text"), "\x00") > 0, F.lit("text contains a NUL character"))
        .when(F.col("text").rlike("(?U)^\ufeff?\\s*$"), F.lit("empty article"))
    )
    return base.withColumn("_reason", reason)


def _write_scored(
    spark, F, good, udf, model_uri: str, schema, out: str, partition_by: str, mode: str
) -> tuple[int, int]:
    """Score ``good`` rows once and write the ``articles`` and ``spans`` tables; returns (articles, spans).

    ``model``/``model_version`` come from the pyfunc: the registry name and version, as
    ``framescope score --model URI`` writes them; the article metadata is passed through.
    """
    from framescope.inference import exports as ex
    from pyspark import StorageLevel

    meta = list(_METADATA)
    scored = good.select(udf(F.struct("id", "lang", "text")).alias("r"), "_date", *meta).select("r.*", "_date", *meta)
    scored = scored.withColumn("date", F.coalesce(F.col("_date"), F.substring("scored_at", 1, 10))).drop("_date")
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)  # the UDF runs once for both tables
    try:
        n_articles, n_spans = scored.agg(F.count(F.lit(1)), F.sum("n_spans")).first()
        articles = scored.select([_typed(F, f) for f in schema] + [F.col("date")])
        span = F.explode("spans").alias("s")
        spans = scored.select(F.col("id").alias("article_id"), "lang", "date", span).select(
            [
                _typed(F, f, "s." + f.name if f.name not in ("article_id", "schema_version") else None)
                for f in ex.SPANS_SCHEMA
            ]
            + ["lang", "date"]
        )
        part = [] if partition_by == "none" else [partition_by]
        drop = [c for c in ("lang", "date") if c not in part]
        spans = spans.drop(*drop)
        articles = articles.drop(*[c for c in drop if c != "lang"])
        conf = {"spark.sql.parquet.outputTimestampType": "TIMESTAMP_MILLIS"}
        with _spark_conf(spark, conf):
            _write(articles, f"{out}/articles", part, mode)
            _write(spans, f"{out}/spans", part, mode)
    finally:
        scored.unpersist()
    return n_articles, int(n_spans or 0)


_METADATA = ("source", "url", "title", "published_at")  # schema 1.1 article metadata, passed through


def _metadata_columns(F, cols: set[str]) -> list:
    """The input's outlet/url/title/published_at columns (null where absent), as the CLI keeps them."""
    out = []
    for name in _METADATA:
        kind = "timestamp" if name == "published_at" else "string"
        col = F.col(name) if name in cols else F.lit(None)
        if name == "published_at" and name in cols:
            col = F.to_timestamp(col)  # ISO 8601 text or a timestamp column; unparseable -> null
        out.append(col.cast(kind).alias(name))
    return out


def _typed(F, f, source: str | None = None):
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


def _write(df, path: str, part: list[str], mode: str) -> None:
    writer = df.write.mode(mode)
    if part:
        writer = writer.partitionBy(*part)
    writer.parquet(path)


class _spark_conf:
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


def _check_spark_out(out: Path, source: str, overwrite: bool) -> None:
    """The Spark engine's ``--out`` rules, as the local engine's (docs/failures.md).

    The folder is new, empty, or one the Spark engine wrote before (its ``manifest.json``
    says ``"engine": "spark"`` and it holds nothing but the tables and the manifest);
    replacing that needs ``--overwrite``. A foreign folder is refused even with
    ``--overwrite``, and so is an input inside ``--out``, which the tables would replace.
    """
    from framescope.inference import exports as ex

    src = Path(str(source).removeprefix("file://"))
    if src.exists() and (src.resolve() == out.resolve() or out.resolve() in src.resolve().parents):
        raise ValueError(f"--input {source} lies inside --out {out}: the tables would replace it")
    if not out.exists() or not any(out.iterdir()):
        return
    own = {*TABLES, ex.MANIFEST_FILE}
    try:
        written = json.loads((out / ex.MANIFEST_FILE).read_text(encoding="utf-8")).get("engine") == "spark"
    except (OSError, ValueError, AttributeError):
        written = False
    foreign = sorted(p.name for p in out.iterdir() if p.name not in own)
    if not written or foreign:
        shown = ", ".join(foreign[:5]) or "no Spark manifest"
        raise ValueError(
            f"--out {out}: the folder holds files the Spark engine did not write ({shown}); it writes only "
            "into a new folder, an empty one, or one it wrote before"
        )
    if not overwrite:
        raise ValueError(f"--out {out}: holds an earlier Spark run (use --overwrite to replace it)")


def _manifest(out: str, s: SparkScoreSummary, techniques, categories, source: str) -> None:
    from framescope.inference import exports as ex

    info = {
        "schema_version": ex.SCHEMA_VERSION,
        "engine": "spark",
        "model": {"uri": s.model},
        "source": source,
        "techniques": techniques,
        "categories": categories,
        "articles": s.articles,
        "spans": s.spans,
        "failed": s.errors,
        "partition_by": s.partition_by,
        "tables": list(TABLES),
    }
    if "://" in out and not out.startswith("file://"):
        return  # remote storage: the manifest is written only for local output folders
    path = Path(out.removeprefix("file://")) / ex.MANIFEST_FILE
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_table(out_path: str | Path, table: str, keep_partition: bool = False):
    """Read ``articles``/``spans``/``errors`` written by :func:`score_spark` as a pyarrow Table in the exports schema.

    Partition keys come back from the directory names (``__HIVE_DEFAULT_PARTITION__`` as
    null); columns are ordered and typed as :mod:`framescope.inference.exports` defines
    them (``articles``' technique/category columns from ``manifest.json`` or the files).
    """
    import pyarrow as pa
    import pyarrow.dataset as ds
    from framescope.inference import exports as ex

    if table not in TABLES:
        raise ValueError(f"table must be one of {TABLES}")
    folder = Path(out_path) / table
    dataset = ds.dataset(
        folder, format="parquet", partitioning="hive", exclude_invalid_files=True, ignore_prefixes=[".", "_"]
    )
    t = dataset.to_table()
    if table == "spans":
        schema = ex.SPANS_SCHEMA
    elif table == "errors":
        schema = ex.ERRORS_SCHEMA
    else:
        names = t.column_names
        schema = ex.articles_schema(
            [c[6:] for c in names if c.startswith("score_")], [c[9:] for c in names if c.startswith("category_")]
        )
    cols, fields = [], []
    for f in schema:
        col = t.column(f.name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        cols.append(col.cast(f.type))
        fields.append(f)
    extra = [n for n in ("lang", "date") if keep_partition and n in t.column_names and n not in schema.names]
    for n in extra:
        col = t.column(n)
        cols.append(col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col)
        fields.append(pa.field(n, pa.string()))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields, metadata=schema.metadata))


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


def run_spark_scoring(
    input: str,
    out: str | Path,
    model: str | None,
    partition_by: str = "lang",
    master: str | None = None,
    text_col: str = "text",
    id_col: str = "id",
    lang_col: str = "lang",
    date_col: str | None = None,
    num_partitions: int | None = None,
    detect_lang: bool = True,
    overwrite: bool = False,
) -> SparkScoreSummary:
    """What ``framescope score --engine spark --input PARQUET_OR_TABLE --out PATH`` runs.

    ``model`` must be an MLflow model URI (``models:/framescope@candidate``); a model
    folder is not a pyfunc model. ``master`` defaults to ``$SPARK_MASTER`` or
    ``local[*]``. Refuses to replace an existing output folder unless ``overwrite``.
    """
    model = model or "models:/framescope@candidate"
    if not model.startswith(("models:/", "runs:/")) and not (Path(model) / "MLmodel").exists():
        raise ValueError(
            f"--model {model}: the Spark engine needs an MLflow model URI (e.g. models:/framescope@candidate)"
        )
    out_s = str(out)
    local_out = Path(out_s.removeprefix("file://")) if "://" not in out_s or out_s.startswith("file://") else None
    if local_out is not None:
        _check_spark_out(local_out, input, overwrite)
    spark = spark_session(master or os.environ.get("SPARK_MASTER") or "local[*]")
    return score_spark(
        spark,
        input,
        model,
        out_s,
        partition_by=partition_by,
        text_col=text_col,
        id_col=id_col,
        lang_col=lang_col,
        date_col=date_col,
        detect_lang=detect_lang,
        num_partitions=num_partitions,
        mode="overwrite",
    )
