"""``framescope report``, ``dashboard`` and ``dataset views``: pages and views over scored articles.

The pages are built by :mod:`framescope.inference.report` and :mod:`framescope.inference.dashboard`,
the views database by :mod:`framescope.inference.views`; these commands only parse options.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from framescope.cli.options import LangFilter, out_option
from framescope.errors import InputError, UsageError
from framescope.inference.dashboard import EXAMPLES_PER_TECHNIQUE

Results = Annotated[
    Optional[Path],
    typer.Argument(
        help="Results of `framescope score`: a JSONL file, or the folder holding results.jsonl.",
        exists=True,
        dir_okay=True,
        file_okay=True,
        readable=True,
    ),
]
ReportDataset = Annotated[
    Optional[Path],
    typer.Option(
        "--dataset", help="Instead of RESULTS: a dataset (score --dataset); one page per article, its latest version."
    ),
]
RankBy = Annotated[
    Optional[str],
    typer.Option(
        "--rank-by",
        help="Order of the index: prob_<Technique>, score_<Technique> or overall "
        "(default: the highest calibrated article probability, else overall).",
    ),
]
ReportOut = Annotated[Path, typer.Option("--out", "-o", help="Folder to write index.html and the article pages into.")]
ReportTaxonomy = Annotated[
    Optional[str],
    typer.Option(
        "--taxonomy",
        "-t",
        help="Taxonomy for category names and order: a built-in name or a YAML file (default semeval2023).",
    ),
]


def report_cmd(
    results: Results = None,
    dataset: ReportDataset = None,
    rank_by: RankBy = None,
    out: ReportOut = Path("report"),
    taxonomy: ReportTaxonomy = None,
) -> None:
    """Write a static HTML report: an index sorted by score (or --rank-by) and one page per article."""
    from framescope.inference.report import dataset_results, write_report

    if (results is None) == (dataset is None):
        raise UsageError("give either RESULTS or --dataset DIR")
    try:
        if dataset is not None:
            items, meta = dataset_results(dataset)
            index = write_report(items, out, taxonomy=taxonomy, meta=meta, rank_by=rank_by)
        else:
            index = write_report(results, out, taxonomy=taxonomy, rank_by=rank_by)
    except (ValueError, FileNotFoundError, NotADirectoryError) as err:
        raise InputError(str(err)) from None
    typer.echo(f"report: {index}")


Source = Annotated[
    Path, typer.Argument(help="An export folder of `framescope score` (with Parquet) or a --dataset folder.")
]
Outlets = Annotated[
    Optional[List[str]],
    typer.Option("--outlet", help="Only articles of this outlet, the `source` column (repeatable)."),
]
Since = Annotated[
    Optional[str], typer.Option("--since", help="Only articles published (else scored) on or after YYYY-MM-DD.")
]
Until = Annotated[
    Optional[str], typer.Option("--until", help="Only articles published (else scored) on or before YYYY-MM-DD.")
]
ReportLink = Annotated[
    Optional[str],
    typer.Option(
        "--report",
        help="Folder or URL of the HTML report (framescope report / score --html) to link examples to; "
        "default: SOURCE when it holds index.html.",
    ),
]
Techniques = Annotated[
    Optional[List[str]],
    typer.Option(
        "--technique",
        help="Also chart this technique's share per outlet and week (repeatable), e.g. Appeal_to_Fear-Prejudice.",
    ),
]


def dashboard_cmd(
    source: Source,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write index.html into.")],
    lang: LangFilter = None,
    outlet: Outlets = None,
    since: Since = None,
    until: Until = None,
    report: ReportLink = None,
    examples: Annotated[
        int, typer.Option("--examples", min=1, help="Example spans per technique.")
    ] = EXAMPLES_PER_TECHNIQUE,
    technique: Techniques = None,
) -> None:
    """Write a trends dashboard: techniques per week and outlet, strongest examples (static, no scripts)."""
    from framescope.inference.dashboard import DashboardError, Filters, write_dashboard

    filters = Filters(list(lang or []), list(outlet or []), _date(since, "--since"), _date(until, "--until"))
    if not source.exists():
        raise DashboardError(f"{source}: no such folder")
    page = write_dashboard(source, out, filters, report, examples, list(technique or []))
    typer.echo(f"dashboard: {page}")


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r}: expected a date YYYY-MM-DD") from None


ViewsOut = out_option("The DuckDB database file to write (FILE.duckdb).")
dataset_app = typer.Typer(help="Work with a dataset built by `score --dataset`.", no_args_is_help=True)


@dataset_app.command("views")
def views_cmd(
    dataset: Annotated[
        Path, typer.Argument(help="A dataset folder (score --dataset) or an export folder with Parquet.")
    ],
    out: ViewsOut,
) -> None:
    """Write a DuckDB database of the shared views (UTC weeks, latest versions, outlets) over DATASET's Parquet files."""
    from framescope.inference.views import VIEW_NAMES, _is_views_database, write_views_database

    if not dataset.is_dir():
        raise UsageError(f"{dataset}: no such folder")
    if out.exists() and (out.is_dir() or not _is_views_database(out)):
        raise UsageError(f"--out {out}: exists and is not a framescope views database; choose another file")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: the folder {out.parent} does not exist")
    try:
        info = write_views_database(dataset, out)
    except ValueError as err:
        raise UsageError(str(err)) from None
    typer.echo(f"views: {out} ({', '.join(VIEW_NAMES)}; {len(info['techniques'])} techniques)")


def register(app: typer.Typer) -> None:
    """Add ``report``, ``dashboard`` and ``dataset views``."""
    app.command("report")(report_cmd)
    app.command("dashboard")(dashboard_cmd)
    app.add_typer(dataset_app, name="dataset")
