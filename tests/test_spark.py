"""Scoring on Spark through MLflow gives the CLI's tables, row for row, published as a dataset.

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


def _dataset_rows(dataset, table: str, key: str) -> list[dict]:
    """A dataset table's rows without what differs between two runs (``scored_at``, ``scored_date``)."""
    import duckdb

    from framescope.inference import dataset as ds

    with duckdb.connect() as con:
        cur = con.execute(f"SELECT * FROM {ds.read_sql(dataset, table)}")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
    for row in rows:
        row.pop("scored_at", None)
        row.pop("scored_date")
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in (key, "start", "end", "technique") if k in r))


def test_spark_tables_equal_the_cli_export(setup):
    from framescope.inference.batch import run_score
    from framescope.inference.dataset import append_run
    from framescope.inference.spark import read_table, score_spark

    tmp = setup["tmp"]
    cli = run_score([str(setup["jsonl"])], model=URI, out=tmp / "cli", formats="parquet", show_progress=False)
    assert cli.articles == setup["n"] - 1 and len(cli.errors) == 1

    out = tmp / "spark-out"
    summary = score_spark(setup["spark"], str(setup["parquet"]), URI, out, num_partitions=4)
    assert (summary.articles, summary.errors) == (setup["n"] - 1, 1)

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
    assert manifest["articles"] == setup["n"] - 1 and manifest["engine"] == "spark"
    assert read_table(out, "spans", keep_partition=True).column_names[-1] == "scored_date"

    # the Spark folder is the dataset `score --dataset` builds: same dataset.json, same rows
    cli_dataset = tmp / "cli-dataset"
    append_run(tmp / "cli", cli_dataset)
    info = json.loads((out / "dataset.json").read_text())
    assert info == json.loads((cli_dataset / "dataset.json").read_text())
    for table, key in (("articles", "id"), ("spans", "article_id"), ("texts", "article_id")):
        assert _dataset_rows(out, table, key) == _dataset_rows(cli_dataset, table, key), table
    assert len(_dataset_rows(out, "texts", "article_id")) == setup["n"] - 1
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".spark-out.")], "work folder left"


def test_dashboard_and_views_read_a_spark_folder(setup, tmp_path):
    """``framescope dashboard`` and ``framescope dataset views`` take the Spark engine's ``--out``."""
    import duckdb
    from typer.testing import CliRunner

    from framescope.cli import _register, app
    from framescope.inference.spark import score_spark

    out = tmp_path / "spark"
    score_spark(setup["spark"], str(setup["parquet"]), URI, out)
    _register()
    res = CliRunner().invoke(app, ["dashboard", str(out), "--out", str(tmp_path / "site")])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "outlet-0" in page and "outlet-2" in page

    db = tmp_path / "views.duckdb"
    res = CliRunner().invoke(app, ["dataset", "views", str(out), "--out", str(db)])
    assert res.exit_code == 0, res.output
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM articles_latest").fetchone()[0] == setup["n"] - 1
        n_spans = con.execute("SELECT count(*) FROM spans_latest").fetchone()[0]
        n_texts = con.execute("SELECT count(*) FROM texts_latest").fetchone()[0]
    assert n_spans > 0 and n_texts == setup["n"] - 1


def test_append_mode_adds_only_new_articles(setup, tmp_path):
    """``mode="append"`` adds a second run to the folder's dataset as ``--dataset`` does: no duplicates."""
    from framescope.inference.spark import read_table, score_spark

    spark = setup["spark"]
    df = spark.read.parquet(str(setup["parquet"])).where("id != 'blank'").withColumnRenamed("text", "body")
    first, second = df.orderBy("id").limit(40), df.orderBy("id").limit(50)
    out = tmp_path / "spark"
    assert score_spark(spark, first, URI, out, text_col="body").articles == 40
    with pytest.warns(FutureWarning, match="partition_by"):
        score_spark(spark, second, URI, out, text_col="body", mode="append", partition_by="date")
    ids = read_table(out, "articles").column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 50


def test_a_repeated_id_is_refused_before_anything_is_written(setup, tmp_path):
    from framescope.inference.spark import score_spark

    spark = setup["spark"]
    df = spark.read.parquet(str(setup["parquet"])).limit(3)
    out = tmp_path / "spark"
    with pytest.raises(ValueError, match="appears 2 times"):
        score_spark(spark, df.unionByName(df.limit(1)), URI, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_run_with_only_errors_writes_the_errors_and_no_dataset(setup, tmp_path):
    from pyspark.sql import functions as F

    from framescope.inference.spark import read_table, score_spark

    spark = setup["spark"]
    df = spark.read.parquet(str(setup["parquet"])).limit(3).withColumn("text", F.lit("   "))
    out = tmp_path / "spark"
    summary = score_spark(spark, df, URI, out)
    assert (summary.articles, summary.errors, summary.exit_code) == (0, 3, 1)
    assert len(read_table(out, "errors")) == 3 and not (out / "dataset.json").exists()


def test_a_remote_out_is_refused():
    from framescope.inference.spark import score_spark

    with pytest.raises(ValueError, match="local or mounted folder"):
        score_spark(None, None, URI, "s3://bucket/out")


def test_cli_score_spark_without_an_activated_environment(setup, tmp_path):
    """``.venv/bin/framescope score-spark`` from a shell where the venv is not active.

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
            "score-spark",
            str(setup["parquet"]),
            "--out",
            str(out),
            "--model",
            URI,
            "--spark-master",
            "local[1]",
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
    assert json.loads((out / "dataset.json").read_text())["format"] == "framescope-dataset"
