"""Scoring on Spark through MLflow gives the CLI's tables, row for row.

PySpark local mode (``local[2]``) over ~300 articles (the sample corpus, three variants
of each article), with the quickstart model registered in a temporary sqlite MLflow
store. Skipped where pyspark or Java is absent. Run with ``pytest -m spark``.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]

pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Java is not installed (PySpark needs a JVM)", allow_module_level=True)

import pyarrow as pa
import pyarrow.parquet as pq
from framescope.inference import exports as ex

URI = "models:/framescope@candidate"


def _articles() -> list[dict]:
    from framescope.labels.sample import load_sample

    rows = []
    for d in load_sample():
        first = d.text.split(". ")[0]
        variants = [d.text, d.text.upper(), f"{d.text}\n\n{first}."]
        for k, text in enumerate(variants):
            lang = d.lang.upper() if k == 1 else d.lang  # the CLI and the UDF lower-case it
            # metadata (schema 1.1) passes through both paths alike
            meta = {
                "source": f"outlet-{k}",
                "url": None,
                "title": d.id,
                "published_at": "2026-11-02T08:00:00+01:00" if k == 0 else None,
            }
            rows.append({"id": f"{d.id}/v{k}", "lang": lang, "text": ("\ufeff" + text) if k == 2 else text, **meta})
    rows.append(
        {
            "id": "blank",
            "lang": "en",
            "text": " \n\t ",
            "source": None,
            "url": None,
            "title": None,
            "published_at": None,
        }
    )  # an error in both paths
    return rows


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A registered quickstart model, the articles as JSONL (CLI) and Parquet (Spark), a Spark session."""
    from framescope.inference.spark import spark_session
    from framescope.training.config import load_config
    from framescope.training.train import train

    tmp = tmp_path_factory.mktemp("spark")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    cfg = load_config("quickstart").with_values(
        {
            "output_dir": str(tmp / "model"),
            "mlflow.enabled": True,
            "mlflow.registered_model": "framescope",
            "mlflow.alias": "candidate",
            "mlflow.experiment": "spark-test",
        }
    )
    train(cfg)
    rows = _articles()
    jsonl = tmp / "articles.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    parquet = tmp / "articles.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    spark = spark_session("local[2]", conf={"spark.sql.shuffle.partitions": "4"})
    yield {"tmp": tmp, "jsonl": jsonl, "parquet": parquet, "spark": spark, "n": len(rows)}
    spark.stop()
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


def _by_id(table: pa.Table, key: str = "id") -> list[dict]:
    return sorted(
        table.drop_columns(["scored_at"]).to_pylist() if "scored_at" in table.column_names else table.to_pylist(),
        key=lambda r: tuple(str(r[k]) for k in (key, "start", "end", "technique") if k in r),
    )


def test_pyfunc_signature_is_the_udf_result_type(setup):
    import mlflow.pyfunc
    from pyspark.sql.types import ArrayType, StructType

    udf = mlflow.pyfunc.spark_udf(setup["spark"], URI, env_manager="local")
    rt = udf.returnType
    assert isinstance(rt, StructType)
    spans = rt["spans"].dataType
    assert isinstance(spans, ArrayType) and isinstance(spans.elementType, StructType)
    assert set(spans.elementType.fieldNames()) == {"technique", "category", "start", "end", "text", "confidence"}
    assert rt.fieldNames()[:7] == ["id", "lang", "model", "model_version", "scored_at", "n_chars", "text_sha256"]


def test_spark_tables_equal_the_cli_export(setup):
    from framescope.inference.batch import run_score
    from framescope.inference.spark import read_table, score_spark

    tmp = setup["tmp"]
    cli = run_score([str(setup["jsonl"])], model=URI, out=tmp / "cli", formats="parquet", show_progress=False)
    assert cli.articles == setup["n"] - 1 and len(cli.errors) == 1

    out = tmp / "spark-lang"
    summary = score_spark(setup["spark"], str(setup["parquet"]), URI, out, partition_by="lang", num_partitions=4)
    assert (summary.articles, summary.errors) == (setup["n"] - 1, 1)
    assert {p.name for p in (out / "articles").iterdir() if p.is_dir()} == {"lang=de", "lang=en"}

    cli_articles = ex.validate_parquet(
        tmp / "cli" / ex.ARTICLES_PARQUET, pq.read_schema(tmp / "cli" / ex.ARTICLES_PARQUET)
    )
    spark_articles = read_table(out, "articles")
    # same columns, types and nullability as the CLI's export
    assert spark_articles.schema.remove_metadata().equals(cli_articles.schema.remove_metadata())
    a, b = _by_id(cli_articles), _by_id(spark_articles)
    assert len(a) == len(b) == setup["n"] - 1
    assert a == b
    assert {r["source"] for r in b} == {"outlet-0", "outlet-1", "outlet-2"}
    assert sum(r["published_at"] is not None for r in b) == (setup["n"] - 1) // 3
    assert sum(r["n_spans"] for r in b) > 0, "the model should find some spans in 300 articles"

    cli_spans = ex.validate_parquet(tmp / "cli" / ex.SPANS_PARQUET, ex.SPANS_SCHEMA)
    spark_spans = read_table(out, "spans")
    assert spark_spans.schema.remove_metadata().equals(ex.SPANS_SCHEMA.remove_metadata())
    assert _by_id(cli_spans, "article_id") == _by_id(spark_spans, "article_id")
    assert summary.spans == len(spark_spans)

    errors = read_table(out, "errors").to_pylist()
    assert [(e["id"], e["reason"]) for e in errors] == [("blank", "empty article")]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["articles"] == setup["n"] - 1 and manifest["partition_by"] == "lang"
    # the partition key comes back from the directory names
    with_lang = read_table(out, "spans", keep_partition=True)
    assert set(with_lang.column("lang").to_pylist()) <= {"de", "en"}


def test_partition_by_date_from_a_dataframe(setup):
    from framescope.inference.spark import read_table, score_spark

    spark = setup["spark"]
    df = spark.read.parquet(str(setup["parquet"])).limit(40).withColumnRenamed("text", "body")
    from pyspark.sql import functions as F

    df = df.withColumn("published", F.to_date(F.lit("2024-03-01")))
    out = setup["tmp"] / "spark-date"
    summary = score_spark(spark, df, URI, out, partition_by="date", text_col="body", date_col="published")
    assert summary.articles == 40
    assert [p.name for p in (out / "articles").iterdir() if p.is_dir()] == ["date=2024-03-01"]
    articles = read_table(out, "articles", keep_partition=True)
    assert articles.column_names[-1] == "date" and set(articles.column("date").to_pylist()) == {"2024-03-01"}
    assert set(articles.column("lang").to_pylist()) <= {"de", "en"}


def test_cli_spark_engine_without_an_activated_environment(setup, tmp_path):
    """``.venv/bin/framescope score --engine spark`` from a shell where the venv is not active.

    ``python3`` on that PATH is the system Python (no pandas, no framescope): Spark's workers
    must still run this interpreter, not whatever ``python3`` the PATH finds first.
    """
    import subprocess
    import sys
    from pathlib import Path

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    # the PATH's python3: a Python that cannot import pandas, as a bare system Python
    (fake_bin / "python3").write_text("#!/bin/sh\necho 'No module named pandas (wrong python3)' >&2\nexit 1\n")
    (fake_bin / "python3").chmod(0o755)
    java_dir = str(Path(shutil.which("java")).resolve().parent) if shutil.which("java") else ""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    env["PATH"] = os.pathsep.join(p for p in (str(fake_bin), java_dir, "/usr/bin", "/bin") if p)
    script = Path(sys.executable).parent / "framescope"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "framescope"]
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            *cmd,
            "score",
            "--engine",
            "spark",
            "--input",
            str(setup["parquet"]),
            "--out",
            str(out),
            "--model",
            URI,
            "--spark-master",
            "local[1]",
            "--partition-by",
            "none",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "wrong python3" not in proc.stderr, proc.stderr[-4000:]
    # exit 1: everything scored except the fixture's one blank article (exports written)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-4000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["articles"] == setup["n"] - 1
