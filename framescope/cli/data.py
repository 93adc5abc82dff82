"""``framescope data``: validate, describe and convert annotated corpora."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List

import typer
from rich.console import Console
from rich.table import Table

from framescope.cli.options import AsJson, FromAlias, InputFormat, Taxonomy, out_option, pick
from framescope.errors import InputError
from framescope.labels.formats import FORMATS, WRITE_ONLY, conversion_losses
from framescope.labels.formats.labelstudio import TaskCounts, counts_of_inputs
from framescope.labels.io import read_with_problems, write_documents
from framescope.labels.stats import corpus_stats, is_labeled

data_app = typer.Typer(help="Validate, describe and convert annotated corpora.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

Paths = Annotated[List[Path], typer.Argument(help="Files or folders to read.")]
Out = out_option("Output file or folder.")


def _read(paths: list[Path], fmt: str | None, taxonomy: str, check: bool = True):
    """The documents and their problems; data that cannot be read at all is an input error (exit 2)."""
    try:
        return read_with_problems(paths, fmt, taxonomy=taxonomy, check=check)
    except (ValueError, FileNotFoundError) as err:
        raise InputError(str(err)) from None


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
    paths: Paths, fmt: InputFormat = None, taxonomy: Taxonomy = "semeval2023", from_: FromAlias = None
) -> None:
    """Check offsets, techniques and ids; list every problem with its file and line.

    Exit 1 when any error is found (an empty file or folder is one); warnings (exact
    duplicate spans) are listed but keep exit 0.
    """
    fmt = pick(fmt, from_, "--format/--from")
    docs, problems = _read(paths, fmt, taxonomy)
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
    paths: Paths,
    fmt: InputFormat = None,
    taxonomy: Taxonomy = "semeval2023",
    as_json: AsJson = False,
    from_: FromAlias = None,
) -> None:
    """Articles, spans per technique and per language, and how often spans overlap."""
    fmt = pick(fmt, from_, "--format/--from")
    docs, problems = _read(paths, fmt, taxonomy)
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
    paths: Paths,
    out: Out,
    fmt_in: InputFormat = None,
    fmt_out: Annotated[
        str, typer.Option("--to", help=f"Output format ({', '.join([*FORMATS, *WRITE_ONLY])}).")
    ] = "jsonl",
    taxonomy: Taxonomy = "semeval2023",
    check: Annotated[bool, typer.Option("--check/--no-check", help="Validate against the taxonomy first.")] = True,
    from_: FromAlias = None,
) -> None:
    """Convert between formats; refuses to write anything when the input has problems."""
    fmt_in = pick(fmt_in, from_, "--format/--from")
    docs, problems = _read(paths, fmt_in, taxonomy, check=check)
    if problems:
        _report_problems(problems, limit=50)
    errors = sum(p.is_error for p in problems)
    if errors:  # an input error: nothing written (framescope.errors)
        raise InputError(f"{errors} problem(s) in the input; nothing written")
    try:
        _report_problems(conversion_losses(docs, fmt_out))
        write_documents(docs, out, fmt_out)
    except ValueError as err:
        raise InputError(str(err)) from None
    console.print(f"wrote {len(docs)} article(s) as {fmt_out} to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
