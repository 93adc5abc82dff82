"""Score on Spark through MLflow: the registered pyfunc model as a pandas UDF, published as a dataset.

:func:`score_spark` scores a Spark DataFrame (or a table name, or a Parquet path) with
``mlflow.pyfunc.spark_udf(spark, model_uri)`` — the UDF's result type is the struct the
model's signature declares (:mod:`framescope.model.mlflow_model`) — and publishes the rows
into ``out_path`` as the dataset that ``framescope score --dataset`` writes
(:mod:`framescope.inference.dataset`), so ``framescope dashboard``, ``framescope dataset
views`` and the report read a Spark run as they read the CLI's::

    OUT/dataset.json, OUT/articles|spans|texts/scored_date=.../part-<run>-0.parquet, OUT/_runs/
    OUT/errors/part-....parquet               (rows that could not be scored)
    OUT/manifest.json                         ("engine": "spark", counts)

The Spark job writes the ``articles``, ``spans`` and ``texts`` rows (the exports schema,
docs/schema.md) into a hidden work folder beside ``OUT``; DuckDB then appends them to the
dataset with the same staging, duplicate check and crash safety as ``--dataset``. With
``mode="overwrite"`` the new dataset is built beside ``OUT`` and renamed into place, so an
interrupted job leaves ``OUT`` as it was; ``mode="append"`` adds to the dataset in ``OUT``
(articles already there are skipped). :func:`read_table` reads a table back in exactly the
exports schema. Documented in docs/scaling.md.

``framescope score --engine spark --input PARQUET_OR_TABLE --out PATH`` calls
:func:`run_spark_scoring`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from framescope.inference.spark_frames import (  # noqa: F401  (spark_session and model_udf re-exported)
    METADATA,
    model_udf,
    normalised_input,
    read_input,
    spark_conf,
    spark_session,
    typed,
)

PARTITIONS = ("lang", "date", "none")  # accepted for compatibility: the dataset is partitioned by scored_date
TABLES = ("articles", "spans", "errors")
MODES = ("overwrite", "append")


@dataclass
class SparkScoreSummary:
    out_dir: str
    model: str
    articles: int = 0
    spans: int = 0
    errors: int = 0
    seconds: float = 0.0
    partition_by: str = "scored_date"
    files: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


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
    """Score ``input_df_or_table`` with the MLflow model and publish the dataset ``out_path`` (a local folder).

    Input rows need ``text_col``; ``id_col`` and ``lang_col`` are optional (missing ids
    become ``row-<n>``, unstable across runs: give ids). As in the CLI, the text is
    scored exactly as stored (a leading byte-order mark stays and counts in offsets), the
    language is lower-cased (detected when missing, if ``detect_lang``), and null, blank
    or NUL-containing texts go to ``errors`` instead of being scored. A repeated id is
    refused before scoring, as the CLI refuses it. ``num_partitions`` repartitions the input
    first (one Python worker per task loads the model once per task). ``partition_by``
    and ``date_col`` are accepted for compatibility: the dataset is partitioned by the
    scoring day, as ``--dataset`` is.
    """
    from pyspark.sql import functions as F

    out = _local_out(out_path)
    _check_options(partition_by, date_col, mode)
    t0 = time.time()
    df, source = read_input(spark, input_df_or_table)
    _check_spark_out(out, source, overwrite=True)
    if text_col not in df.columns:
        raise ValueError(f"input has no {text_col!r} column (columns: {', '.join(df.columns)})")
    if num_partitions:
        df = df.repartition(int(num_partitions))
    base = normalised_input(F, df, text_col, id_col, lang_col)
    _check_unique_ids(F, base)
    udf = model_udf(spark, model_uri, detect_lang)
    fields = [f for f in udf.returnType.fieldNames() if f != "spans"]
    techniques = [c[len("score_") :] for c in fields if c.startswith("score_")]
    categories = [c[len("category_") :] for c in fields if c.startswith("category_")]
    work = out.parent / f".{out.name}.spark-{uuid.uuid4().hex[:12]}"
    target = out if mode == "append" else work / "dataset"
    try:
        n_articles, n_spans = _write_job(spark, F, base, udf, techniques, categories, work / "job")
        summary = SparkScoreSummary(str(out), model_uri, n_articles, n_spans)
        if n_articles:  # all rows in errors: no dataset rows to publish
            _append_job(work / "job", target, techniques, categories)
        target.mkdir(parents=True, exist_ok=True)
        summary.errors = _write_errors(F, base, source, target, mode)
        summary.seconds = time.time() - t0
        _manifest(target, summary, techniques, categories, source)
        if mode == "overwrite":
            _replace_folder(target, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary.files = [str(out / name) for name in sorted(os.listdir(out)) if not name.startswith(".")]
    return summary


def _check_options(partition_by: str, date_col: str | None, mode: str) -> None:
    if partition_by not in PARTITIONS:
        raise ValueError(f"partition_by must be one of {', '.join(PARTITIONS)}, not {partition_by!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if partition_by != "lang" or date_col:
        msg = "partition_by and date_col are ignored: the output is a dataset partitioned by scored_date"
        warnings.warn(msg, FutureWarning, stacklevel=3)


def _check_unique_ids(F, base) -> None:
    """Refuse a repeated id before scoring: the dataset joins spans and texts to their article by id."""
    dup = base.where(F.col("_reason").isNull()).groupBy("id").count().where(F.col("count") > 1).first()
    if dup is not None:
        raise ValueError(f"id {dup['id']!r} appears {dup['count']} times in the input; give each article its own id")


def _local_out(out_path: str | Path) -> Path:
    """``out_path`` as a local folder; remote stores are refused (publishing needs renames and a lock)."""
    text = str(out_path)
    if "://" in text and not text.startswith("file://"):
        raise ValueError(
            f"--out {text}: the Spark engine publishes a dataset into a local or mounted folder "
            "(it renames files into place and takes a lock); give a path"
        )
    return Path(text.removeprefix("file://")).absolute()


def _write_job(spark, F, base, udf, techniques, categories, job: Path) -> tuple[int, int]:
    """Score the good rows once; write ``articles``, ``spans`` and ``texts`` (exports schema) under ``job``.

    ``model``/``model_version`` come from the pyfunc: the registry name and version, as
    ``framescope score --model URI`` writes them; the article metadata is passed through.
    Returns (articles, spans).
    """
    from framescope.inference import exports as ex
    from pyspark import StorageLevel

    good = base.where(F.col("_reason").isNull())
    meta = list(METADATA)
    scored = good.select(udf(F.struct("id", "lang", "text")).alias("r"), F.col("text").alias("_text"), *meta)
    scored = scored.select("r.*", "_text", *meta).persist(StorageLevel.MEMORY_AND_DISK)  # the UDF runs once
    try:
        n_articles, n_spans = scored.agg(F.count(F.lit(1)), F.sum("n_spans")).first()
        articles = scored.select([typed(F, f) for f in ex.articles_schema(techniques, categories)])
        spans = scored.select(F.col("id").alias("article_id"), F.explode("spans").alias("s"))
        inner = {"article_id", "schema_version"}
        spans = spans.select([typed(F, f, None if f.name in inner else "s." + f.name) for f in ex.SPANS_SCHEMA])
        texts = scored.select("id", F.col("_text").alias("text"))
        with spark_conf(spark, {"spark.sql.parquet.outputTimestampType": "TIMESTAMP_MILLIS"}):
            for name, frame in (("articles", articles), ("spans", spans), ("texts", texts)):
                frame.write.mode("overwrite").parquet(str(job / name))
    finally:
        scored.unpersist()
    return n_articles, int(n_spans or 0)


def _write_errors(F, base, source: str, target: Path, mode: str) -> int:
    """The rows that could not be scored, as the exports' ``errors`` table under ``target/errors``."""
    from framescope.inference import exports as ex

    errors = base.where(F.col("_reason").isNotNull()).select(
        F.col("id"),
        F.lit(source).alias("source"),
        F.col("_reason").alias("reason"),
        F.lit("error").alias("level"),
        F.lit(ex.SCHEMA_VERSION).alias("schema_version"),
    )
    errors = errors.select([typed(F, f) for f in ex.ERRORS_SCHEMA])
    n = errors.count()
    errors.coalesce(1).write.mode(mode).parquet(str(target / "errors"))
    return n


def _append_job(job: Path, target: Path, techniques, categories) -> None:
    """Append the job's tables to the dataset ``target`` (:func:`framescope.inference.dataset.append_source`)."""
    from framescope.inference import dataset as ds
    from framescope.inference import exports as ex

    def rows(table: str) -> str:
        return f"read_parquet({ds.quote(str(job / table / '*.parquet'))})"

    manifest = {"schema_version": ex.SCHEMA_VERSION, "techniques": techniques, "categories": categories}
    ds.append_source(ds.RunSource(manifest, rows("articles"), rows("spans"), texts=rows("texts")), target)


def _replace_folder(new: Path, out: Path) -> None:
    """Put the finished folder ``new`` at ``out``; an earlier Spark output there is removed after the rename."""
    if out.exists() and any(out.iterdir()):
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
        os.rename(out, old)
        os.rename(new, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, out)  # a missing or empty folder


def _check_spark_out(out: Path, source: str, overwrite: bool) -> None:
    """The Spark engine's ``--out`` rules, as the local engine's (docs/failures.md).

    The folder is new, empty, or one the Spark engine wrote before (its ``manifest.json``
    says ``"engine": "spark"`` and it holds nothing but the dataset, ``errors`` and the
    manifest); replacing that needs ``--overwrite``. A foreign folder is refused even with
    ``--overwrite``, and so is an input inside ``--out``, which the tables would replace.
    """
    from framescope.inference import dataset_files as ds
    from framescope.inference import exports as ex

    src = Path(str(source).removeprefix("file://"))
    if src.exists() and (src.resolve() == out.resolve() or out.resolve() in src.resolve().parents):
        raise ValueError(f"--input {source} lies inside --out {out}: the tables would replace it")
    if not out.exists() or not any(out.iterdir()):
        return
    own = {*TABLES, *ds.TABLES, ds.DATASET_FILE, ds.RUNS, ds.STAGING, ".lock", ex.MANIFEST_FILE}
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


def _manifest(out: Path, s: SparkScoreSummary, techniques, categories, source: str) -> None:
    from framescope.inference import exports as ex

    info = {
        "schema_version": ex.SCHEMA_VERSION,
        "engine": "spark",
        "layout": "dataset",
        "model": {"uri": s.model},
        "source": source,
        "techniques": techniques,
        "categories": categories,
        "articles": s.articles,
        "spans": s.spans,
        "failed": s.errors,
        "partition_by": s.partition_by,
        "tables": ["articles", "spans", "texts", "errors"],
    }
    (out / ex.MANIFEST_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_table(out_path: str | Path, table: str, keep_partition: bool = False):
    """Read ``articles``/``spans``/``errors`` of a :func:`score_spark` folder as a pyarrow Table in the exports schema.

    ``articles`` and ``spans`` are the dataset's checked files
    (:func:`framescope.inference.dataset_files.table_files`); columns are ordered and typed
    as :mod:`framescope.inference.exports` defines them. ``keep_partition=True`` appends
    ``scored_date``.
    """
    import pyarrow as pa
    import pyarrow.dataset as pads
    from framescope.inference import dataset_files as ds
    from framescope.inference import exports as ex

    if table not in TABLES:
        raise ValueError(f"table must be one of {TABLES}")
    out = Path(out_path)
    if table == "errors":
        files, base = sorted(str(f) for f in (out / "errors").glob("*.parquet")), None
    else:
        files, base = [str(f) for f in ds.table_files(out, table)], str(out / table)
    t = pads.dataset(files, format="parquet", partitioning="hive" if base else None, partition_base_dir=base).to_table()
    if table == "articles":
        names = t.column_names
        schema = ex.articles_schema(
            [c[6:] for c in names if c.startswith("score_")], [c[9:] for c in names if c.startswith("category_")]
        )
    else:
        schema = ex.SPANS_SCHEMA if table == "spans" else ex.ERRORS_SCHEMA
    fields = list(schema)
    if keep_partition and ds.PARTITION in t.column_names:
        fields.append(pa.field(ds.PARTITION, pa.string()))
    cols = [t.column(f.name).cast(f.type) for f in fields]
    return pa.Table.from_arrays(cols, schema=pa.schema(fields, metadata=schema.metadata))


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
    _check_spark_out(_local_out(out_s), input, overwrite)
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
