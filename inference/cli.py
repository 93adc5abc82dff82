"""``framescope score`` and ``framescope quickstart``.

``score`` streams articles from its inputs (:mod:`framescope.inference.inputs`), scores
them in batches, appends every finished batch to a journal in the output folder
(:mod:`framescope.inference.journal`) and, at the end, writes the exports
(:mod:`framescope.inference.exports`) from the journal in input order. Rerunning the
same command resumes: articles already in the journal are not scored again.

Exit codes: 0 all articles scored, 1 some article failed (see errors.jsonl), 2 usage error.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

DEFAULT_MODEL = Path("runs/quickstart/model")
QUICKSTART_DIR = Path("runs/quickstart")


class UsageError(Exception):
    pass


@dataclass
class ScoreSummary:
    out_dir: Path
    articles: int = 0  # articles exported (scored now or earlier)
    scored: int = 0  # scored by this run
    reused: int = 0  # taken from the journal
    errors: list[dict] = field(default_factory=list)
    spans_per_technique: Counter = field(default_factory=Counter)
    articles_per_technique: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)
    report: Path | None = None
    model: str = ""
    model_version: str = ""

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


def _load_scorer(model: str | None, backend: str = "torch", profile: str = "balanced"):
    from framescope.inference.scorer import Scorer

    if model is None:
        if not (DEFAULT_MODEL / "framescope.json").exists():
            raise UsageError(
                f"no --model given and {DEFAULT_MODEL} does not exist: run `framescope quickstart` to train "
                "the quickstart model, or pass --model FOLDER (or an MLflow URI such as models:/framescope@candidate)"
            )
        model = str(DEFAULT_MODEL)
    is_uri = model.startswith(("models:/", "runs:/"))
    if not is_uri and not Path(model).exists():
        raise UsageError(f"--model {model}: no such folder")
    try:
        return Scorer.from_pretrained(model, backend=backend, profile=profile)
    except (FileNotFoundError, ValueError, OSError, ImportError) as err:
        raise UsageError(f"--model {model}: {err}") from None
    except Exception as err:  # MLflow errors and the like
        raise UsageError(f"--model {model}: cannot load: {err}") from None


def run_score(
    inputs: Sequence[str],
    *,
    model: str | None = None,
    scorer=None,
    out: Path,
    lang: str | None = None,
    formats: str | Sequence[str] | None = None,
    batch_size: int = 8,
    threads: int | None = None,
    backend: str = "torch",
    overwrite: bool = False,
    html: bool = False,
    fields=None,
    show_progress: bool = True,
    stdin=None,
    profile: str = "balanced",
) -> ScoreSummary:
    """Score ``inputs`` into the folder ``out``; raises :class:`UsageError` for bad usage."""
    from framescope.inference import exports as ex
    from framescope.inference.inputs import Article, count_inputs, iter_inputs
    from framescope.inference.journal import Journal, JournalError, article_key, model_fingerprint

    try:
        fmts = ex.parse_formats(formats)
    except ValueError as err:
        raise UsageError(f"--format: {err}") from None
    if html and "jsonl" not in fmts:
        fmts.append("jsonl")  # the HTML report is built from results.jsonl
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    from framescope.training.settings import PROFILES

    if profile not in PROFILES:
        raise UsageError(f"--profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    t0 = time.time()
    if scorer is None:
        scorer = _load_scorer(model, backend, profile)
    if threads:
        scorer.tagger.set_threads(threads)
    techniques = list(scorer.tagger.techniques)
    categories = ex.categories_of(scorer.taxonomy, techniques)
    fingerprint = model_fingerprint(scorer)
    meta = {
        "schema_version": ex.SCHEMA_VERSION,
        "model": {"name": scorer.name, "version": scorer.version, "fingerprint": fingerprint},
        "profile": scorer.profile,
        "techniques": techniques,
        "categories": categories,
    }
    journal = Journal(out)
    try:
        journal.open(meta, overwrite=overwrite)
    except JournalError as err:
        raise UsageError(str(err)) from None
    summary = ScoreSummary(out, model=scorer.name, model_version=scorer.version)
    order: list[str] = []
    try:
        progress = _progress(show_progress)
        total = count_inputs(inputs) if show_progress else None
        with progress:
            task = progress.add_task("scoring", total=total, rate="")
            done = 0
            batch: list[tuple[str, Article]] = []

            def flush() -> None:
                nonlocal done
                if not batch:
                    return
                entries, errors = _score_batch(scorer, batch)
                journal.append(entries)
                summary.errors.extend(errors)
                summary.scored += len(entries)
                done += len(batch)
                batch.clear()
                elapsed = max(time.time() - t0, 1e-6)
                progress.update(task, completed=done, rate=f"{done / elapsed:.1f} articles/s")

            for item in iter_inputs(inputs, lang=lang, fields=fields, stdin=stdin):
                if not isinstance(item, Article):
                    summary.errors.append(item.to_dict())
                    done += 1
                    progress.update(task, completed=done)
                    continue
                key = article_key(item.id, item.text_sha256, item.lang, fingerprint)
                order.append(key)
                if key in journal:
                    summary.reused += 1
                    done += 1
                    progress.update(task, completed=done)
                    continue
                batch.append((key, item))
                if len(batch) >= batch_size:
                    flush()
            flush()
            progress.update(task, total=done, completed=done)

        # exports, from the journal, in input order
        texts: dict[str, str] = {}
        with ex.ExportWriter(out, fmts, techniques, categories) as writer:
            for rec, text in journal.iter_entries(order):
                writer.add(rec, text)
                if html:  # the report highlights spans in the text, which results.jsonl leaves out
                    texts[rec["id"]] = text
                summary.articles += 1
                for s in rec["spans"]:
                    summary.spans_per_technique[s["technique"]] += 1
                for t, ts in rec["techniques"].items():
                    if ts["spans"]:
                        summary.articles_per_technique[t] += 1
        summary.files = list(writer.written)
    finally:
        journal.close()
    summary.files += ex.write_errors(out, summary.errors, fmts)
    summary.seconds = time.time() - t0
    summary.files.append(
        ex.write_manifest(
            out,
            {
                "model": meta["model"],
                "profile": scorer.profile,
                "techniques": techniques,
                "categories": categories,
                "articles": summary.articles,
                "failed": len(summary.errors),
                "formats": fmts,
                "files": sorted(p.name for p in summary.files),
            },
        )
    )
    if html:
        summary.report = _html_report(out / ex.RESULTS_FILE, out, texts)
    return summary


def _score_batch(scorer, batch):
    """Score a batch; when it fails, score its articles one by one to isolate the culprit."""
    from framescope.inference.exports import result_record

    def one_go(items):
        results = scorer.score_texts([a.text for _, a in items], [a.id for _, a in items], [a.lang for _, a in items])
        return [(key, result_record(r, a.text_sha256), a.text) for (key, a), r in zip(items, results)]

    try:
        return one_go(batch), []
    except Exception:
        if len(batch) == 1:
            key, a = batch[0]
            return [], [{"id": a.id, "source": a.source, "reason": f"scoring failed: {_why()}"}]
    entries, errors = [], []
    for item in batch:
        try:
            entries.extend(one_go([item]))
        except Exception:
            errors.append({"id": item[1].id, "source": item[1].source, "reason": f"scoring failed: {_why()}"})
    return entries, errors


def _why() -> str:
    exc = sys.exc_info()[1]
    return f"{type(exc).__name__}: {exc}"


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not enabled,
        transient=False,
    )


def _html_report(results: Path, out_dir: Path, texts: dict[str, str] | None = None) -> Path | None:
    try:
        from framescope.inference.report import write_report
    except ImportError:
        err_console.print("[yellow]warning[/yellow] the HTML report is not available in this version (no framescope.inference.report)")
        return None
    return write_report(results, out_dir, texts=texts)


def print_summary(summary: ScoreSummary) -> None:
    t = Table(title=f"framescope score: {summary.model} {summary.model_version}".strip())
    t.add_column("")
    t.add_column("count", justify="right")
    t.add_row("articles exported", str(summary.articles))
    t.add_row("  scored now", str(summary.scored))
    t.add_row("  from the journal (resumed)", str(summary.reused))
    t.add_row("failed", f"[red]{len(summary.errors)}[/red]" if summary.errors else "0")
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
        et = Table(title=f"failures ({'first 20 of ' if n_err > 20 else ''}{n_err}; all in errors.jsonl)")
        for col in ("id", "source", "reason"):
            et.add_column(col)
        for e in summary.errors[:20]:
            et.add_row(str(e.get("id") or ""), e["source"], e["reason"])
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
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (exports + resumable journal)."),
    lang: Optional[str] = typer.Option(
        None, "--lang", help="Language of articles that do not name one (default: detected per article)."
    ),
    fmt: str = typer.Option("all", "--format", "-f", help="Comma-separated: jsonl,parquet,csv,labelstudio (default all)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Articles scored per batch (bounds memory)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads for the model."),
    backend: str = typer.Option(
        "torch", "--backend",
        help="Forward pass: torch (fp32), torch-bf16, onnx-fp32 or onnx-int8 (after `framescope export-onnx "
        "MODEL --int8`); see docs/benchmarks.md.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Discard the journal of an earlier run in --out."),
    html: bool = typer.Option(False, "--html", help="Also write the HTML report."),
    id_field: str = typer.Option("id", "--id-column", "--id-field", help="JSONL field / CSV column of the article id."),
    text_field: str = typer.Option("text", "--text-column", "--text-field", help="JSONL field / CSV column of the text."),
    lang_field: str = typer.Option("lang", "--lang-column", "--lang-field", help="JSONL field / CSV column of the language."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    profile: str = typer.Option(
        "balanced", "--profile",
        help="Span thresholds: balanced (best F1 on dev) or precise (high span precision; weak techniques off).",
    ),
    engine: str = typer.Option("local", "--engine", help="local (this process) or spark (MLflow UDF, see docs/scaling.md)."),
    spark_input: Optional[str] = typer.Option(None, "--input", help="--engine spark: a Parquet path or a table name."),
    partition_by: str = typer.Option("lang", "--partition-by", help="--engine spark: lang, date or none."),
    spark_master: Optional[str] = typer.Option(None, "--spark-master", help="--engine spark: master URL (default $SPARK_MASTER or local[*])."),
) -> None:
    """Score articles and write exports for dashboards (resumable: rerun the same command)."""
    from framescope.inference.inputs import Fields

    if engine == "spark":
        _score_spark(spark_input, inputs, model, out, partition_by, spark_master, id_field, text_field, lang_field, overwrite)
        return
    if engine != "local":
        err_console.print(f"[red]error[/red] --engine must be local or spark, not {engine!r}")
        raise typer.Exit(2)
    if not inputs:
        err_console.print("[red]error[/red] no articles given (INPUTS...)")
        raise typer.Exit(2)

    ctx = click_ctx()
    explicit_id = ctx is not None and ctx.get_parameter_source("id_field").name != "DEFAULT"
    fields = Fields(id=id_field, text=text_field, lang=lang_field, id_required=explicit_id)
    try:
        summary = run_score(
            inputs, model=model, out=out, lang=lang, formats=fmt, batch_size=batch_size, threads=threads,
            backend=backend, overwrite=overwrite, html=html, fields=fields, show_progress=not quiet, profile=profile,
        )
    except UsageError as err:
        err_console.print(f"[red]error[/red] {err}")
        raise typer.Exit(2)
    print_summary(summary)
    raise typer.Exit(summary.exit_code)


def _score_spark(spark_input, inputs, model, out, partition_by, master, id_field, text_field, lang_field, overwrite) -> None:
    """``--engine spark``: :func:`framescope.inference.spark.run_spark_scoring` (Parquet tables, no journal)."""
    source = spark_input or (inputs[0] if inputs and len(inputs) == 1 else None)
    if source is None:
        err_console.print("[red]error[/red] --engine spark needs --input PARQUET_OR_TABLE")
        raise typer.Exit(2)
    try:
        from framescope.inference.spark import run_spark_scoring

        summary = run_spark_scoring(
            source, out, model, partition_by=partition_by, master=master, text_col=text_field,
            id_col=id_field, lang_col=lang_field, overwrite=overwrite,
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


def _quickstart_current(model_dir: Path, cfg: dict) -> bool:
    """The model folder exists, was trained from this config by this framescope on today's sample."""
    from framescope import __version__
    from framescope.labels.dataset import fingerprint
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.training.settings import TaggerSettings
    from framescope.training.train import prepare_data

    try:
        settings = TaggerSettings.load(model_dir)
    except (FileNotFoundError, ValueError, TypeError):
        return False
    if settings.framescope_version != __version__ or settings.extra.get("config_name") != cfg["name"]:
        return False
    from framescope.training.article_stage import STAGE_SETTINGS

    if cfg["article_stage"]["enabled"] and not (model_dir / STAGE_SETTINGS).exists():
        return False  # trained before the article stage existed: retrain so it ships
    if settings.precise_thresholds is None:
        return False  # calibrated before profiles existed
    try:
        train_docs, _ = prepare_data(cfg, load_taxonomy(cfg["taxonomy"]))
    except Exception:
        return False
    return settings.extra.get("train_fingerprint") == fingerprint(train_docs)


def quickstart_cmd(
    retrain: bool = typer.Option(False, "--retrain", help="Train again even when the model is current."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not track the training run in MLflow."),
) -> None:
    """Train the quickstart model, score the German example article and show the results."""
    from importlib import resources

    from framescope.inference.exports import SCHEMA_VERSION  # noqa: F401  (fail early if broken)
    from framescope.training.config import load_config
    from framescope.training.train import train

    t0 = time.time()
    cfg = load_config("quickstart")
    model_dir = Path(cfg["output_dir"])
    if no_mlflow:
        cfg["mlflow"]["enabled"] = False
    if not retrain and _quickstart_current(model_dir, cfg):
        console.print(f"model: [bold]{model_dir}[/bold] is current (use --retrain to train again)")
    else:
        console.print(f"training the quickstart model into [bold]{model_dir}[/bold] ...")
        result = train(cfg, progress=lambda m: console.print(f"[dim]framescope[/dim] {m}", highlight=False))
        if result.run_id:
            console.print(f"MLflow run: {result.run_id}")
    example = resources.files("framescope.inference") / "examples" / "de_article.txt"
    with resources.as_file(example) as path:
        report_dir = QUICKSTART_DIR / "report"
        try:
            summary = run_score([str(path)], model=str(model_dir), out=report_dir, overwrite=True, html=True,
                                show_progress=False)
        except UsageError as err:
            err_console.print(f"[red]error[/red] {err}")
            raise typer.Exit(2)
        text = Path(path).read_text(encoding="utf-8")
    import json

    from framescope.inference.exports import RESULTS_FILE

    with open(report_dir / RESULTS_FILE, encoding="utf-8") as fh:
        rec = json.loads(fh.readline())
    spans = Table(title=f"spans in {rec['id']} ({rec['lang']}, {len(text)} characters)")
    for col in ("technique", "confidence", "text"):
        spans.add_column(col, justify="right" if col == "confidence" else "left")
    for s in rec["spans"]:
        spans.add_row(s["technique"], f"{s['confidence']:.3f}", s["text"].replace("\n", " "))
    console.print(spans)
    scores = Table(title=f"article scores (overall {rec['overall']:.3f})")
    for col in ("technique", "score", "spans", "coverage"):
        scores.add_column(col, justify="left" if col == "technique" else "right")
    for tech, ts in sorted(rec["techniques"].items(), key=lambda kv: -kv[1]["score"]):
        scores.add_row(tech, f"{ts['score']:.3f}", str(ts["spans"]), f"{ts['coverage']:.1%}")
    console.print(scores)
    console.print(f"exports: [bold]{report_dir}[/bold]")
    if summary.report is not None:
        console.print(f"HTML report: [bold]{summary.report}[/bold]")
    console.print(f"done in {time.time() - t0:.1f}s. Score your own articles: framescope score ARTICLES... --out results")


def export_onnx_cmd(
    model: Path = typer.Argument(..., help="A transformer model folder (framescope.json + safetensors)."),
    int8: bool = typer.Option(False, "--int8", help="Also write model.int8.onnx (dynamic int8 quantization)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write here instead of into MODEL (tokenizer etc. copied)."),
    opset: int = typer.Option(17, "--opset", min=17, help="ONNX opset."),
) -> None:
    """Export a transformer tagger to ONNX (fp32, optionally int8) for the onnx-fp32/onnx-int8 backends."""
    from framescope.inference.onnx_backend import FP32_FILE, INT8_FILE, export_onnx

    written = export_onnx(model, out, quantize=int8, opset=opset)
    for name in (FP32_FILE, INT8_FILE):
        f = written.parent / name
        if f.is_file() and (name == FP32_FILE or int8):
            typer.echo(f"wrote {f} ({f.stat().st_size / 2**20:.1f} MiB)")


def register(app: typer.Typer) -> None:
    """Add ``score``, ``quickstart``, ``report`` and ``export-onnx``; torch loads only when one runs."""
    from framescope.inference.report import register as register_report

    app.command("score")(score_cmd)
    app.command("quickstart")(quickstart_cmd)
    register_report(app)
    app.command("export-onnx")(export_onnx_cmd)
