"""``framescope data``: validate, describe and convert annotated corpora."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from framescope.labels.formats import FORMATS, WRITE_ONLY, conversion_losses
from framescope.labels.formats.labelstudio import TaskCounts, counts_of_inputs
from framescope.labels.io import read_with_problems, write_documents
from framescope.labels.stats import corpus_stats, is_labeled

data_app = typer.Typer(help="Validate, describe and convert annotated corpora.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

FMT_HELP = f"Input format ({', '.join(FORMATS)}); detected from the layout when omitted."
TAX_HELP = "Taxonomy: a built-in name (semeval2023, ptc2020, semeval2023-categories) or a YAML file."


def _report_problems(problems, limit: int | None = None) -> None:
    shown = problems if limit is None else problems[:limit]
    for p in shown:
        label = "[red]error[/red]" if p.is_error else "[yellow]warning[/yellow]"
        err_console.print(f"{label} {p}", highlight=False, markup=True, soft_wrap=True)
    if limit is not None and len(problems) > limit:
        err_console.print(f"... and {len(problems) - limit} more (run `framescope data validate`)")


def _report_tasks(counts: list[TaskCounts]) -> None:
    """How each Label Studio export's tasks were read (labelstudio.TaskCounts): nothing set aside unsaid."""
    for c in counts:
        first, *rules = c.lines()
        console.print(f"[bold]Label Studio[/bold] {first}", highlight=False, soft_wrap=True)
        for line in rules:
            console.print(f"  {line}", highlight=False, soft_wrap=True)


@data_app.command("validate")
def validate_cmd(
    paths: List[Path] = typer.Argument(..., help="Files or folders to check."),
    fmt: Optional[str] = typer.Option(None, "--from", "-f", help=FMT_HELP),
    taxonomy: str = typer.Option("semeval2023", "--taxonomy", "-t", help=TAX_HELP),
) -> None:
    """Check offsets, techniques and ids; list every problem with its file and line.

    Exit 1 when any error is found (an empty file or folder is one); warnings (exact
    duplicate spans) are listed but keep exit 0.
    """
    try:
        docs, problems = read_with_problems(paths, fmt, taxonomy=taxonomy)
    except (ValueError, FileNotFoundError) as err:
        err_console.print(f"[red]error[/red] {err}")
        raise typer.Exit(2)
    _report_problems(problems)
    _report_tasks(counts_of_inputs(paths, fmt))
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    noted = f", {warnings} warning(s)" if warnings else ""
    articles = sum(map(is_labeled, docs))
    unlabeled = len(docs) - articles
    if unlabeled:
        noted += f"; {unlabeled} unlabeled document(s), not counted as articles"
    if errors:
        err_console.print(f"[red]{errors} problem(s)[/red]{noted} in {articles} article(s)")
        raise typer.Exit(1)
    spans = sum(len(d.spans) for d in docs)
    console.print(f"[green]ok[/green] {articles} article(s), {spans} span(s), no errors{noted}")


@data_app.command("stats")
def stats_cmd(
    paths: List[Path] = typer.Argument(..., help="Files or folders to describe."),
    fmt: Optional[str] = typer.Option(None, "--from", "-f", help=FMT_HELP),
    taxonomy: str = typer.Option("semeval2023", "--taxonomy", "-t", help=TAX_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as JSON."),
) -> None:
    """Articles, spans per technique and per language, and how often spans overlap."""
    try:
        docs, problems = read_with_problems(paths, fmt, taxonomy=taxonomy)
    except (ValueError, FileNotFoundError) as err:
        err_console.print(f"[red]error[/red] {err}")
        raise typer.Exit(2)
    st = corpus_stats(docs)
    tasks = counts_of_inputs(paths, fmt)
    if as_json:
        out = st.to_dict()
        out["labelstudio"] = [{**c.to_dict(), "notes": c.lines()[1:]} for c in tasks]
        out["problems"] = [str(p) for p in problems]
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        _report_tasks(tasks)
        summary = Table(title="Corpus", show_header=False)
        summary.add_row("articles", f"{st.articles:,}")
        summary.add_row("unlabeled (not counted as articles)", f"{st.unlabeled:,}")
        summary.add_row("spans", f"{st.spans:,}")
        summary.add_row("mean span length (chars)", f"{st.mean_span_length:.1f}")
        summary.add_row("spans overlapping another span", f"{st.overlapping_spans:,} ({st.overlap_share:.1%})")
        summary.add_row("... of another technique", f"{st.cross_technique_overlaps:,}")
        console.print(summary)
        langs = Table(title="Per language")
        langs.add_column("lang")
        langs.add_column("articles", justify="right")
        langs.add_column("spans", justify="right")
        for lang, n in sorted(st.per_lang_articles.items(), key=lambda kv: str(kv[0])):
            langs.add_row(str(lang), f"{n:,}", f"{st.per_lang_spans[lang]:,}")
        console.print(langs)
        techs = Table(title="Per technique")
        techs.add_column("technique")
        techs.add_column("spans", justify="right")
        techs.add_column("share", justify="right")
        for tech, n in st.per_technique.most_common():
            techs.add_row(tech, f"{n:,}", f"{n / st.spans:.1%}")
        console.print(techs)
    if problems:
        if not as_json:  # with --json they are in its "problems" list: stdout stays one JSON document
            _report_problems(problems, limit=20)
        if any(p.is_error for p in problems):
            raise typer.Exit(1)


@data_app.command("convert")
def convert_cmd(
    paths: List[Path] = typer.Argument(..., help="Files or folders to read."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file or folder."),
    fmt_in: Optional[str] = typer.Option(None, "--from", "-f", help=FMT_HELP),
    fmt_out: str = typer.Option("jsonl", "--to", help=f"Output format ({', '.join([*FORMATS, *WRITE_ONLY])})."),
    taxonomy: str = typer.Option("semeval2023", "--taxonomy", "-t", help=TAX_HELP),
    check: bool = typer.Option(True, "--check/--no-check", help="Validate against the taxonomy first."),
) -> None:
    """Convert between formats; refuses to write anything when the input has problems."""
    try:
        docs, problems = read_with_problems(paths, fmt_in, taxonomy=taxonomy, check=check)
    except (ValueError, FileNotFoundError) as err:
        err_console.print(f"[red]error[/red] {err}")
        raise typer.Exit(2)
    if problems:
        _report_problems(problems, limit=50)
    if any(p.is_error for p in problems):
        err_console.print("[red]nothing written[/red]")
        raise typer.Exit(2)  # an input error: nothing written (framescope.errors)
    try:
        _report_problems(conversion_losses(docs, fmt_out))
        write_documents(docs, out, fmt_out)
    except ValueError as err:
        err_console.print(f"[red]error[/red] {err}")
        raise typer.Exit(2)
    console.print(f"wrote {len(docs)} article(s) as {fmt_out} to {out}")
