"""``framescope score`` and ``export-onnx``: argument parsing and summaries.

The work itself is done by :func:`framescope.inference.batch.run_score` (journal and
exports); this module turns options into its arguments and prints what it did.

Exit codes: 0 all articles scored, 1 some article failed (see errors.jsonl), 2 usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from framescope.inference.batch import ScoreSummary, UsageError, run_score

__all__ = ["ScoreSummary", "UsageError", "run_score", "register"]

console = Console()
err_console = Console(stderr=True)


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
    console.print(f"exports: [bold]{summary.out_dir}[/bold]")
    if summary.report is not None:
        console.print(f"HTML report: [bold]{summary.report}[/bold]")


def score_cmd(
    inputs: Optional[List[str]] = typer.Argument(
        None, help="Articles: .txt files, folders (recursive *.txt), globs, .jsonl/.csv files, or - for stdin."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="Model folder or MLflow URI (default: runs/quickstart/model)."
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Output folder (exports + resumable journal): new, empty, or one framescope wrote before.",
    ),
    lang: Optional[str] = typer.Option(
        None, "--lang", help="Language of articles that do not name one (default: detected per article)."
    ),
    fmt: str = typer.Option(
        "all", "--format", "-f", help="Comma-separated: jsonl,parquet,csv,labelstudio (default all)."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Articles scored per batch (bounds memory)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads for the model."),
    backend: str = typer.Option(
        "torch",
        "--backend",
        help="Forward pass: torch (fp32), torch-bf16, onnx-fp32 or onnx-int8 (after `framescope export-onnx "
        "MODEL --int8`); see docs/benchmarks.md.",
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Discard the journal of an earlier run in --out (files framescope did not write are never touched).",
    ),
    html: bool = typer.Option(False, "--html", help="Also write the HTML report."),
    id_field: str = typer.Option("id", "--id-column", "--id-field", help="JSONL field / CSV column of the article id."),
    text_field: str = typer.Option(
        "text", "--text-column", "--text-field", help="JSONL field / CSV column of the text."
    ),
    lang_field: str = typer.Option(
        "lang", "--lang-column", "--lang-field", help="JSONL field / CSV column of the language."
    ),
    meta: Optional[str] = typer.Option(
        None,
        "--meta",
        help="JSONL fields / CSV columns kept as article metadata, e.g. source,url,title,published_at (the default, "
        "when present) or desk,source=outlet (column=field). Others than these four become meta_<name> columns.",
    ),
    dataset: Optional[Path] = typer.Option(
        None,
        "--dataset",
        help="Also append the scored articles to this partitioned Parquet dataset (skips articles already in it; "
        "see docs/monitoring.md).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    profile: str = typer.Option(
        "balanced",
        "--profile",
        help="Span thresholds: balanced (best F1 on dev) or precise (high span precision; weak techniques off).",
    ),
    max_chars: int = typer.Option(
        1_000_000,
        "--max-chars",
        help="Largest article scored, in characters; a longer one is an error row (exit 1), the rest is scored.",
    ),
    engine: str = typer.Option(
        "local", "--engine", help="local (this process) or spark (MLflow UDF, see docs/scaling.md)."
    ),
    spark_input: Optional[str] = typer.Option(None, "--input", help="--engine spark: a Parquet path or a table name."),
    partition_by: str = typer.Option("lang", "--partition-by", help="--engine spark: lang, date or none."),
    spark_master: Optional[str] = typer.Option(
        None, "--spark-master", help="--engine spark: master URL (default $SPARK_MASTER or local[*])."
    ),
) -> None:
    """Score articles and write exports for dashboards (resumable: rerun the same command).

    Exit codes: 0 all scored, 1 exports written but some articles failed (errors.jsonl),
    2 usage, input or model error (nothing new written), 3 output not writable.
    """
    from framescope.inference.inputs import Fields

    if engine == "spark" and dataset is not None:
        err_console.print(
            "[red]error[/red] --dataset works with --engine local (Spark writes its own partitioned tables)"
        )
        raise typer.Exit(2)
    if engine == "spark":
        _score_spark(
            spark_input, inputs, model, out, partition_by, spark_master, id_field, text_field, lang_field, overwrite
        )
        return
    if engine != "local":
        err_console.print(f"[red]error[/red] --engine must be local or spark, not {engine!r}")
        raise typer.Exit(2)
    if not inputs:
        err_console.print("[red]error[/red] no articles given (INPUTS...)")
        raise typer.Exit(2)

    ctx = click_ctx()
    explicit_id = ctx is not None and ctx.get_parameter_source("id_field").name != "DEFAULT"
    from framescope.inference.metadata import parse_meta_option

    try:
        meta_fields = parse_meta_option(meta)
    except ValueError as err:
        raise UsageError(f"--meta: {err}") from None
    fields = Fields(id=id_field, text=text_field, lang=lang_field, id_required=explicit_id, meta=meta_fields)
    if dataset is not None:
        from framescope.inference.dataset import formats_for_dataset

        fmt = formats_for_dataset(fmt)
    # user errors (FramescopeError) reach framescope.cli's root group: one line, exit 2 or 3
    scorer = preflight(
        inputs,
        model=model,
        out=out,
        formats=fmt,
        html=html,
        batch_size=batch_size,
        lang=lang,
        backend=backend,
        profile=profile,
        dataset=dataset,
    )
    summary = run_score(
        inputs,
        scorer=scorer,
        out=out,
        lang=lang,
        formats=fmt,
        batch_size=batch_size,
        threads=threads,
        backend=backend,
        overwrite=overwrite,
        html=html,
        fields=fields,
        show_progress=not quiet,
        profile=profile,
        max_chars=max_chars,
    )
    print_summary(summary)
    if dataset is not None:
        from framescope.inference.dataset import DatasetError, append_run

        try:
            added = append_run(out, dataset)
        except DatasetError as err:
            err_console.print(f"[red]error[/red] --dataset {dataset}: {err}")
            raise typer.Exit(err.exit_code)
        console.print(
            f"dataset: [bold]{dataset}[/bold]: {added.articles} new articles, {added.spans} spans "
            f"({added.skipped} already there)"
        )
    raise typer.Exit(summary.exit_code)


def preflight(
    inputs,
    *,
    model: str | None,
    out: Path,
    formats: str,
    html: bool,
    batch_size: int,
    lang: str | None,
    backend: str,
    profile: str,
    dataset: Path | None,
):
    """Every check that can refuse a ``score`` run, before anything is written; the loaded scorer.

    The options, ``--out`` (whose files, inputs outside it), the model (loads exactly, has a
    usable name) and ``--dataset`` (which needs the model's techniques) are all checked here, so a
    refused run leaves ``--out`` and the dataset exactly as they were (docs/failures.md).
    """
    from framescope.errors import OutputError
    from framescope.inference import outdir
    from framescope.inference.batch import _check_options, load_model

    _check_options(formats, html, batch_size, lang)
    outdir.check_out_dir(out, inputs)
    scorer = load_model(model, backend, profile)
    check_model_identity(scorer, model)
    if dataset is not None:
        from framescope.inference.dataset import DatasetError, DatasetIOError, check_dataset_target
        from framescope.inference.exports import SCHEMA_VERSION

        try:
            check_dataset_target(dataset, list(scorer.techniques), out, SCHEMA_VERSION)
        except DatasetError as err:
            kind = OutputError if isinstance(err, DatasetIOError) else UsageError
            raise kind(f"--dataset {dataset}: {err}") from None
    return scorer


def check_model_identity(scorer, model: str | None) -> None:
    """Refuse (exit 2) a model whose name or version would not fit the exports' string columns.

    The name comes from the model folder's ``framescope.json`` (or a training ``--set``); a
    number or a list there would otherwise fail only when the exports are written, after scoring.
    """
    from framescope.errors import ModelError
    from framescope.inference.batch import DEFAULT_MODEL

    for key, value in (("name", scorer.name), ("version", scorer.version)):
        if not isinstance(value, str) or (key == "name" and not value.strip()):
            shown = model or DEFAULT_MODEL
            raise ModelError(f"--model {shown}: the model's {key} must be a non-empty string, found {value!r}")


def _score_spark(
    spark_input, inputs, model, out, partition_by, master, id_field, text_field, lang_field, overwrite
) -> None:
    """``--engine spark``: :func:`framescope.inference.spark.run_spark_scoring` (Parquet tables, no journal)."""
    source = spark_input or (inputs[0] if inputs and len(inputs) == 1 else None)
    if source is None:
        err_console.print("[red]error[/red] --engine spark needs --input PARQUET_OR_TABLE")
        raise typer.Exit(2)
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
        err_console.print("[red]error[/red] --engine spark needs pyspark: pip install 'framescope[spark]'")
        raise typer.Exit(2)
    except ValueError as err:
        err_console.print(f"[red]error[/red] {err}")
        raise typer.Exit(2)
    console.print(
        f"spark: {summary.articles} articles, {summary.spans} spans, {summary.errors} failed in {summary.seconds:.1f}s; "
        f"tables in [bold]{summary.out_dir}[/bold] (partitioned by {summary.partition_by})"
    )
    raise typer.Exit(summary.exit_code)


def click_ctx():
    import click

    return click.get_current_context(silent=True)


def export_onnx_cmd(
    model: Path = typer.Argument(..., help="A transformer model folder (framescope.json + safetensors)."),
    int8: bool = typer.Option(False, "--int8", help="Also write model.int8.onnx (dynamic int8 quantization)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write here instead of into MODEL (tokenizer etc. copied)."),
    opset: int = typer.Option(17, "--opset", min=17, help="ONNX opset."),
) -> None:
    """Export a transformer tagger to ONNX (fp32, optionally int8) for the onnx-fp32/onnx-int8 backends."""
    from framescope.errors import UsageError

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
    """Add ``score``, ``report`` and ``export-onnx``; torch loads only when one runs."""
    from framescope.inference.report import register as register_report

    app.command("score")(score_cmd)
    register_report(app)
    app.command("export-onnx")(export_onnx_cmd)
    from framescope.inference.dashboard import register as register_dashboard

    register_dashboard(app)
