"""``framescope score`` and ``export-onnx``: options in, one call to the batch engine, a summary out.

The work itself is done by :func:`framescope.inference.batch.run_score` (journal and
exports), after :func:`framescope.inference.preflight.preflight` has made every check that
can refuse the run. Spark scoring is its own command, ``score-spark`` (:mod:`framescope.cli.spark`);
``score --engine spark`` still reaches it, as a hidden alias, for one version.

Exit codes: 0 all articles scored, 1 some article failed (see errors.jsonl), 2 usage error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from framescope.cli.options import IdColumn, LangColumn, ModelOption, TextColumn, out_option, pick
from framescope.cli.spark import run_spark
from framescope.errors import UsageError

if TYPE_CHECKING:
    from framescope.inference.summary import ScoreSummary
    from framescope.inference.inputs import Fields

console = Console()

Inputs = Annotated[
    Optional[List[str]],
    typer.Argument(
        help="Articles: .txt files, folders (recursive *.txt), globs, .jsonl/.csv files, or - for stdin.",
        metavar="INPUTS",
        show_default=False,
    ),
]
Out = out_option("Output folder (exports + resumable journal): new, empty, or one framescope wrote before.")
Export = Annotated[
    Optional[str],
    typer.Option("--export", help="Exports to write, comma-separated: jsonl,parquet,csv,labelstudio (default all)."),
]
DefaultLang = Annotated[
    Optional[str],
    typer.Option("--default-lang", help="Language of articles that do not name one (default: detected per article)."),
]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Articles scored per batch (bounds memory).")]
Threads = Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for the model.")]
Backend = Annotated[
    str,
    typer.Option(
        "--backend",
        help="Forward pass: torch (fp32), torch-bf16, onnx-fp32 or onnx-int8 (after `framescope export-onnx "
        "MODEL --int8`); see docs/benchmarks.md.",
    ),
]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Discard the journal of an earlier run in --out (files framescope did not write are never touched).",
    ),
]
Html = Annotated[bool, typer.Option("--html", help="Also write the HTML report.")]
Meta = Annotated[
    Optional[str],
    typer.Option(
        "--meta",
        help="JSONL fields / CSV columns kept as article metadata, e.g. source,url,title,published_at (the default, "
        "when present) or desk,source=outlet (column=field). Others than these four become meta_<name> columns.",
    ),
]
Dataset = Annotated[
    Optional[Path],
    typer.Option(
        "--dataset",
        help="Also append the scored articles to this partitioned Parquet dataset (skips articles already in it; "
        "see docs/monitoring.md).",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Profile = Annotated[
    str,
    typer.Option(
        "--profile",
        help="Span thresholds: balanced (best F1 on dev) or precise (high span precision; weak techniques off).",
    ),
]
MaxChars = Annotated[
    int,
    typer.Option(
        "--max-chars",
        help="Largest article scored, in characters; a longer one is an error row (exit 1), the rest is scored.",
    ),
]
# old spellings, hidden, kept for one version: -f/--format (now --export), --lang (now --default-lang),
# and the Spark options of `score --engine spark` (now `framescope score-spark`)
FormatAlias = Annotated[Optional[str], typer.Option("--format", "-f", hidden=True, help="Old spelling of --export.")]
LangAlias = Annotated[Optional[str], typer.Option("--lang", hidden=True, help="Old spelling of --default-lang.")]
Engine = Annotated[str, typer.Option("--engine", hidden=True, help="local, or spark: framescope score-spark.")]
SparkInput = Annotated[Optional[str], typer.Option("--input", hidden=True, help="score-spark's SOURCE.")]
PartitionBy = Annotated[str, typer.Option("--partition-by", hidden=True, help="score-spark --partition-by.")]
SparkMaster = Annotated[Optional[str], typer.Option("--spark-master", hidden=True, help="score-spark --spark-master.")]


@dataclass(frozen=True)
class LocalRun:
    """The options of one local ``score`` run, resolved (old spellings merged, fields parsed)."""

    inputs: list[str]
    model: str | None
    out: Path
    formats: str
    lang: str | None
    batch_size: int
    threads: int | None
    backend: str
    overwrite: bool
    html: bool
    fields: Fields
    quiet: bool
    profile: str
    max_chars: int
    dataset: Path | None


def score_cmd(
    inputs: Inputs = None,
    model: ModelOption = None,
    out: Out = ...,
    export: Export = None,
    default_lang: DefaultLang = None,
    batch_size: BatchSize = 8,
    threads: Threads = None,
    backend: Backend = "torch",
    overwrite: Overwrite = False,
    html: Html = False,
    id_field: IdColumn = "id",
    text_field: TextColumn = "text",
    lang_field: LangColumn = "lang",
    meta: Meta = None,
    dataset: Dataset = None,
    quiet: Quiet = False,
    profile: Profile = "balanced",
    max_chars: MaxChars = 1_000_000,
    format_alias: FormatAlias = None,
    lang_alias: LangAlias = None,
    engine: Engine = "local",
    spark_input: SparkInput = None,
    partition_by: PartitionBy = "lang",
    spark_master: SparkMaster = None,
) -> None:
    """Score articles and write exports for dashboards (resumable: rerun the same command).

    Exit codes: 0 all scored, 1 exports written but some articles failed (errors.jsonl),
    2 usage, input or model error (nothing new written), 3 output not writable.
    """
    formats = pick(export, format_alias, "--export/--format") or "all"
    lang = pick(default_lang, lang_alias, "--default-lang/--lang")
    if engine == "spark":  # the old way into score-spark; run_spark ends the command
        source = _spark_source(inputs, spark_input, dataset)
        run_spark(source, model, out, partition_by, spark_master, id_field, text_field, lang_field, overwrite)
    if engine != "local":
        raise UsageError(f"--engine must be local or spark, not {engine!r}")
    if not inputs:
        raise UsageError("no articles given (INPUTS...)")
    fields = _fields(id_field, text_field, lang_field, meta)
    score_local(
        LocalRun(
            inputs=inputs,
            model=model,
            out=out,
            formats=formats,
            lang=lang,
            batch_size=batch_size,
            threads=threads,
            backend=backend,
            overwrite=overwrite,
            html=html,
            fields=fields,
            quiet=quiet,
            profile=profile,
            max_chars=max_chars,
            dataset=dataset,
        )
    )


def _spark_source(inputs: list[str] | None, spark_input: str | None, dataset: Path | None) -> str:
    """``score --engine spark``: what to score (``--input``, or the one INPUT), checked as before."""
    if dataset is not None:
        raise UsageError("--dataset works with --engine local (Spark writes its own partitioned tables)")
    source = spark_input or (inputs[0] if inputs and len(inputs) == 1 else None)
    if source is None:
        raise UsageError("--engine spark needs --input PARQUET_OR_TABLE")
    return source


def _fields(id_field: str, text_field: str, lang_field: str, meta: str | None) -> Fields:
    """Which record fields hold the id, text, language and metadata; ``--meta`` parsed (a usage error)."""
    import click

    from framescope.inference.inputs import Fields
    from framescope.inference.metadata import parse_meta_option

    ctx = click.get_current_context(silent=True)
    explicit_id = ctx is not None and ctx.get_parameter_source("id_field").name != "DEFAULT"
    try:
        meta_fields = parse_meta_option(meta)
    except ValueError as err:
        raise UsageError(f"--meta: {err}") from None
    return Fields(id=id_field, text=text_field, lang=lang_field, id_required=explicit_id, meta=meta_fields)


def score_local(run: LocalRun) -> None:
    """Check everything (:func:`~framescope.inference.preflight.preflight`), score, print, append to the dataset.

    User errors (FramescopeError) reach the root group of :mod:`framescope.cli`: one line, exit 2 or 3.
    """
    from framescope.inference.batch import run_score
    from framescope.inference.preflight import preflight

    formats = run.formats
    if run.dataset is not None:
        from framescope.inference.dataset import formats_for_dataset

        formats = formats_for_dataset(formats)
    checks = dict(formats=formats, html=run.html, batch_size=run.batch_size, lang=run.lang)
    scorer = preflight(
        run.inputs,
        model=run.model,
        out=run.out,
        **checks,
        backend=run.backend,
        profile=run.profile,
        dataset=run.dataset,
    )
    summary = run_score(
        run.inputs,
        scorer=scorer,
        out=run.out,
        **checks,
        threads=run.threads,
        backend=run.backend,
        overwrite=run.overwrite,
        fields=run.fields,
        show_progress=not run.quiet,
        profile=run.profile,
        max_chars=run.max_chars,
    )
    print_summary(summary)
    if run.dataset is not None:
        _append_to_dataset(run.out, run.dataset)
    raise typer.Exit(summary.exit_code)


def _append_to_dataset(out: Path, dataset: Path) -> None:
    from framescope.inference.dataset import DatasetError, append_run

    try:
        added = append_run(out, dataset)
    except DatasetError as err:
        raise type(err)(f"--dataset {dataset}: {err}") from None
    console.print(
        f"dataset: [bold]{dataset}[/bold]: {added.articles} new articles, {added.spans} spans "
        f"({added.skipped} already there)"
    )


def print_summary(summary: ScoreSummary) -> None:
    t = Table(title=f"framescope score: {summary.model} {summary.model_version}".strip())
    t.add_column("")
    t.add_column("count", justify="right")
    t.add_row("articles exported", str(summary.articles))
    t.add_row("  scored now", str(summary.scored))
    t.add_row("  from the journal (resumed)", str(summary.reused))
    t.add_row("failed", f"[red]{len(summary.failed)}[/red]" if summary.failed else "0")
    if summary.warnings:
        t.add_row("warnings (articles exported)", f"[yellow]{len(summary.warnings)}[/yellow]")
    rate = summary.scored / summary.seconds if summary.seconds else 0.0
    t.add_row("seconds", f"{summary.seconds:.1f} ({rate:.1f} articles/s)")
    console.print(t)
    if summary.spans_per_technique:
        tt = Table(title="spans per technique")
        tt.add_column("technique")
        tt.add_column("spans", justify="right")
        tt.add_column("articles", justify="right")
        for tech, n in summary.spans_per_technique.most_common():
            tt.add_row(tech, str(n), str(summary.articles_per_technique[tech]))
        console.print(tt)
    if summary.errors:
        n_err = len(summary.errors)
        et = Table(title=f"failures and warnings ({'first 20 of ' if n_err > 20 else ''}{n_err}; all in errors.jsonl)")
        for col in ("level", "id", "source", "reason"):
            et.add_column(col)
        for e in summary.errors[:20]:
            et.add_row(e.get("level", "error"), str(e.get("id") or ""), e["source"], e["reason"])
        console.print(et)
    _print_untrained_languages(summary)
    console.print(f"exports: [bold]{summary.out_dir}[/bold]")
    if summary.report is not None:
        console.print(f"HTML report: [bold]{summary.report}[/bold]")


def _print_untrained_languages(summary: ScoreSummary) -> None:
    """One note for the articles in languages the model has no training annotations for."""
    if not summary.untrained_langs:
        return
    n = sum(summary.untrained_langs.values())
    langs = ", ".join(f"{lang} {k}" for lang, k in summary.untrained_langs.most_common())
    console.print(
        f"[yellow]note:[/yellow] {n} article(s) in languages the model was not trained on ({langs}; "
        f"trained on {', '.join(sorted(summary.trained_langs))}): their article ranking carries over, "
        'their thresholds and span counts do not (docs/results.md, "Leave one language out")'
    )


ExportOut = Annotated[
    Optional[Path], typer.Option("--out", "-o", help="Write here instead of into MODEL (tokenizer etc. copied).")
]


def export_onnx_cmd(
    model: Annotated[Path, typer.Argument(help="A transformer model folder (framescope.json + safetensors).")],
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write model.int8.onnx (dynamic int8 quantization).")
    ] = False,
    out: ExportOut = None,
    opset: Annotated[int, typer.Option("--opset", min=17, help="ONNX opset.")] = 17,
) -> None:
    """Export a transformer tagger to ONNX (fp32, optionally int8) for the onnx-fp32/onnx-int8 backends."""
    try:
        from framescope.model.onnx_backend import FP32_FILE, INT8_FILE, export_onnx
    except ImportError as err:
        raise UsageError(f"export-onnx needs the onnx extra: pip install 'framescope[onnx]' ({err})") from None
    written = export_onnx(model, out, quantize=int8, opset=opset)  # a folder that does not load: ModelError, exit 2
    for name in (FP32_FILE, INT8_FILE):
        f = written.parent / name
        if f.is_file() and (name == FP32_FILE or int8):
            typer.echo(f"wrote {f} ({f.stat().st_size / 2**20:.1f} MiB)")


def register(app: typer.Typer) -> None:
    """Add ``score`` and ``export-onnx``; torch loads only when one runs."""
    app.command("score")(score_cmd)
    app.command("export-onnx")(export_onnx_cmd)
