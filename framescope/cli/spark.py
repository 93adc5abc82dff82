"""``framescope score-spark``: score a Parquet file or table with Spark (MLflow UDF, docs/scaling.md).

Its own command, apart from ``score``: Spark reads one table and writes partitioned Parquet
tables, with no journal, no ``--dataset`` and no local backends, so its options are its own.
``score --engine spark`` reaches the same code for one more version (a hidden alias).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console

from framescope.cli.options import IdColumn, LangColumn, TextColumn, out_option
from framescope.errors import UsageError

console = Console()

Source = Annotated[str, typer.Argument(help="The articles: a Parquet path or a table name.")]
SparkModel = Annotated[
    Optional[str],
    typer.Option("--model", "-m", help="An MLflow model URI (default: models:/framescope@candidate)."),
]
Out = out_option("Folder of the Parquet tables (new, or one score-spark wrote before).")
PartitionBy = Annotated[str, typer.Option("--partition-by", help="Partition the tables by lang, date or none.")]
SparkMaster = Annotated[
    Optional[str], typer.Option("--spark-master", help="Master URL (default $SPARK_MASTER or local[*]).")
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace the tables of an earlier score-spark run.")]


def score_spark_cmd(
    source: Source,
    out: Out,
    model: SparkModel = None,
    partition_by: PartitionBy = "lang",
    spark_master: SparkMaster = None,
    id_field: IdColumn = "id",
    text_field: TextColumn = "text",
    lang_field: LangColumn = "lang",
    overwrite: Overwrite = False,
) -> None:
    """Score a Parquet file or table with Spark into partitioned Parquet tables (needs the spark extra).

    Exit codes: 0 all scored, 1 tables written but some articles failed, 2 usage or model error.
    """
    run_spark(source, model, out, partition_by, spark_master, id_field, text_field, lang_field, overwrite)


def run_spark(
    source: str,
    model: str | None,
    out: Path,
    partition_by: str,
    master: str | None,
    id_field: str,
    text_field: str,
    lang_field: str,
    overwrite: bool,
) -> NoReturn:
    """:func:`framescope.inference.spark.run_spark_scoring`, its summary, and its exit code."""
    try:
        from framescope.inference.spark import run_spark_scoring

        summary = run_spark_scoring(
            source,
            out,
            model,
            partition_by=partition_by,
            master=master,
            text_col=text_field,
            id_col=id_field,
            lang_col=lang_field,
            overwrite=overwrite,
        )
    except ImportError:
        raise UsageError("score-spark needs pyspark: pip install 'framescope[spark]'") from None
    except ValueError as err:
        raise UsageError(str(err)) from None
    console.print(
        f"spark: {summary.articles} articles, {summary.spans} spans, {summary.errors} failed in {summary.seconds:.1f}s; "
        f"tables in [bold]{summary.out_dir}[/bold] (partitioned by {summary.partition_by})"
    )
    raise typer.Exit(summary.exit_code)


def register(app: typer.Typer) -> None:
    app.command("score-spark")(score_spark_cmd)
