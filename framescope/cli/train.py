"""``framescope train``, ``evaluate``, ``calibrate``, ``adapt`` and ``register``: the training stage's commands."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from framescope.cli.options import FromAlias, InputFormat, LangFilter, out_option, pick

console = Console()

ConfigArg = Annotated[
    str,
    typer.Argument(
        help="A config YAML file, or a built-in config name (quickstart, minilm-semeval, bio-reference, xlmr-semeval)."
    ),
]
SetValues = Annotated[
    Optional[List[str]], typer.Option("--set", help="Override a config value: --set training.epochs=2 (repeatable).")
]
NoMlflow = Annotated[bool, typer.Option("--no-mlflow", help="Do not track this run in MLflow.")]
ModelOut = Annotated[Optional[Path], typer.Option("--out", "-o", help="Model folder to write (overrides output_dir).")]
OutputAlias = Annotated[Optional[Path], typer.Option("--output", hidden=True, help="Old spelling of --out.")]
ShowConfig = Annotated[
    bool, typer.Option("--show-config", help="Print the resolved config as YAML and exit without training.")
]


def _progress(message: str) -> None:
    console.print(f"[dim]framescope[/dim] {message}", highlight=False)


def train_cmd(
    config: ConfigArg,
    set_: SetValues = None,
    out: ModelOut = None,
    no_mlflow: NoMlflow = False,
    show_config: ShowConfig = False,
    output: OutputAlias = None,
) -> None:
    """Train a tagger from a config; track the run in MLflow and register the model."""
    from framescope.errors import InputError
    from framescope.labels.document import AnnotationError
    from framescope.training.config import load_config, show_config as config_yaml
    from framescope.training.train import train

    out = pick(out, output, "--out/--output")
    cfg = load_config(config, set_ or [])  # a bad config is a ConfigError: one line, exit 2 (framescope.cli)
    if out is not None:
        cfg = cfg.with_values({"output_dir": str(out)})
    if no_mlflow:
        cfg = cfg.with_values({"mlflow.enabled": False})
    if show_config:
        typer.echo(config_yaml(cfg), nl=False)
        return
    logging.basicConfig(level=logging.WARNING)
    try:
        result = train(cfg, progress=_progress)
    except AnnotationError as err:  # bad input data: nothing trained or scored (exit 2)
        raise InputError(str(err)) from None
    from framescope.training.distributed import is_main_process

    if not is_main_process():
        return  # another process of a distributed run: the main process reports
    print_report(result.report, title=f"dev results: {cfg.name}")
    console.print(f"model folder: [bold]{result.output_dir}[/bold]")
    if result.run_id:
        console.print(f"MLflow run: {result.run_id}")
    if result.registered_version:
        m = cfg.mlflow
        console.print(f"registered: models:/{m.registered_model}/{result.registered_version} (alias @{m.alias})")


def evaluate_cmd(
    model: Annotated[str, typer.Argument(help="Model folder or MLflow model URI (models:/framescope@candidate).")],
    data: Annotated[List[Path], typer.Argument(help="Annotated corpora (any supported format).")],
    fmt: InputFormat = None,
    langs: LangFilter = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    profile: Annotated[str, typer.Option("--profile", help="Span thresholds: balanced or precise.")] = "balanced",
    guess_share: Annotated[
        Optional[float],
        typer.Option(
            "--guess-share",
            min=0.0,
            max=1.0,
            help="Constant-guess baseline: techniques used by at least this share of the training articles (default: the model's, 0.3).",
        ),
    ] = None,
    resamples: Annotated[
        int,
        typer.Option(
            "--resamples",
            min=0,
            help="Bootstrap resamples of the articles for 95% intervals of article AUC and presence F1 (0: none).",
        ),
    ] = 1000,
    from_: FromAlias = None,
) -> None:
    """Score a model against annotated data: per language and per technique.

    Article level: mean ROC AUC of the article probability (the article stage's, or the best
    span confidence for models without one) and presence micro-F1 beside the constant guess;
    paragraph micro-F1; span F1; span identification F1. The article figures come with 95%
    bootstrap intervals over the articles: on a 26-article dev split they are wide, and say
    how far apart two models must be before the difference means anything. For k-fold
    cross-validation of a training recipe see ``benchmarks/crossval.py``.
    """
    from framescope.errors import InputError
    from framescope.labels.document import AnnotationError
    from framescope.labels.io import read_documents
    from framescope.model.scorer import check_profile
    from framescope.model.tagger import SpanTagger
    from framescope.training.evaluation import evaluate_tagger

    fmt = pick(fmt, from_, "--format/--from")
    tagger = SpanTagger.from_pretrained(model)  # a folder that does not load: ModelError, exit 2
    check_profile(tagger, profile)
    try:
        docs = read_documents(data, fmt, taxonomy=tagger.taxonomy, langs=langs or None)
    except (AnnotationError, ValueError) as err:  # bad or unrecognised data: an input error (exit 2)
        raise InputError(str(err)) from None
    report = evaluate_tagger(tagger, docs, tagger.stage, profile, guess_share, resamples)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        print_report(report, title=f"{model} on {len(docs)} article(s), {profile} profile")


def _with_interval(m: dict, key: str) -> str:
    """``0.740 [0.690, 0.790]``: the figure and, when the report has one, its 95% interval."""
    if m.get(key) is None:
        return "n/a"
    lo_hi = m.get("intervals", {}).get(key)
    return f"{m[key]:.3f}" + (f" [{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]" if lo_hi else "")


def _print_table(table: Table) -> None:
    """A table whole, also in logs and pipes: rich falls back to 80 columns when stdout is not a
    terminal and would cut the numbers to ``0.…``; a table never grows wider than it needs."""
    if console.is_terminal:
        console.print(table)
    else:
        Console(file=console.file, width=400).print(table)


def print_report(report: dict, title: str = "results") -> None:
    table = Table(title=title)
    cols = (
        "group",
        "articles",
        "article AUC",
        "presence F1",
        "guess F1",
        "paragraph µF1",
        "span P",
        "span R",
        "span F1",
        "span-id F1",
        "pred len",
        "gold len",
    )
    for col in cols:
        table.add_column(col, justify="right" if col != "group" else "left")
    for group, m in report.items():
        table.add_row(
            group,
            str(m["articles"]),
            _with_interval(m, "article_mean_auc"),
            _with_interval(m, "article_presence_f1"),
            f"{m['constant_guess_presence_f1']:.3f}",
            f"{m['paragraph_micro_f1']:.3f}",
            f"{m['span_precision']:.3f}",
            f"{m['span_recall']:.3f}",
            f"{m['span_f1']:.3f}",
            f"{m['span_identification_f1']:.3f}",
            f"{m['mean_pred_span_length']:.0f}",
            f"{m['mean_gold_span_length']:.0f}",
        )
    _print_table(table)
    first = next(iter(report.values()), {})
    if first:
        console.print(
            f"[dim]article scores from {first.get('article_source')}; constant guess = "
            f"{', '.join(first.get('constant_guess_techniques', [])) or 'nothing'}[/dim]"
        )
    per = report.get("all", {}).get("per_technique", {})
    if per:
        t = Table(title="per technique (all languages)")
        for col in ("technique", "P", "R", "F1", "pred", "gold"):
            t.add_column(col, justify="right" if col != "technique" else "left")
        for tech, m in sorted(per.items(), key=lambda kv: -kv[1]["n_gold"]):
            t.add_row(
                tech,
                f"{m['precision']:.3f}",
                f"{m['recall']:.3f}",
                f"{m['f1']:.3f}",
                str(m["n_pred"]),
                str(m["n_gold"]),
            )
        _print_table(t)


def calibrate_cmd(
    model: Annotated[Path, typer.Argument(help="A trained model folder.")],
    config: Annotated[str, typer.Argument(help="The config (name or YAML) whose dev split to calibrate on.")],
    set_: Annotated[Optional[List[str]], typer.Option("--set", help="Override a config value (repeatable).")] = None,
) -> None:
    """Re-choose a model's per-technique thresholds on dev and rewrite its settings and card."""
    from framescope.training.config import load_config
    from framescope.training.train import recalibrate

    report, _ = recalibrate(model, load_config(config, set_ or []))
    print_report(report, title=f"dev results after calibration: {model}")


AdaptData = Annotated[
    List[Path],
    typer.Argument(
        help="Articles: annotated corpora (any supported format; annotations are ignored) and/or plain .txt files or folders of them (one article per file)."
    ),
]
AdaptFormat = Annotated[
    Optional[str],
    typer.Option(
        "--format", "-f", help="Format of every DATA path (an annotated format, or txt); detected when omitted."
    ),
]
AdaptLangs = Annotated[
    Optional[List[str]],
    typer.Option(
        "--lang",
        help="Only articles of these languages from annotated corpora (repeatable; plain .txt files carry no language and are all used).",
    ),
]
AdaptOut = out_option("Folder to write the adapted model to (use it as model.base).")


def adapt_cmd(
    data: AdaptData,
    out: AdaptOut,
    base: Annotated[
        str,
        typer.Option(
            "--base", help="The encoder to adapt: minilm (packaged), a model folder, or a Hugging Face model name."
        ),
    ] = "minilm",
    fmt: AdaptFormat = None,
    langs: AdaptLangs = None,
    epochs: Annotated[float, typer.Option("--epochs", min=0.01, help="Passes over the articles.")] = 1.0,
    max_length: Annotated[
        int, typer.Option("--max-length", min=8, help="Tokens per window, special tokens included.")
    ] = 256,
    max_steps: Annotated[
        Optional[int],
        typer.Option("--max-steps", min=1, help="Stop after this many optimizer steps (overrides --epochs)."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Windows per step.")] = 16,
    learning_rate: Annotated[float, typer.Option("--learning-rate", min=0.0, help="Peak learning rate.")] = 5e-5,
    mlm_probability: Annotated[
        float, typer.Option("--mlm-probability", min=0.01, max=0.99, help="Share of tokens masked.")
    ] = 0.15,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out folder.")] = False,
    from_: FromAlias = None,
) -> None:
    """Adapt an encoder to your articles: continued masked-language-model pretraining (docs/adapt.md).

    Then train from it: framescope train minilm-semeval --set model.base=OUT
    """
    from framescope.training.adapt import adapt, read_texts

    texts = read_texts(data, pick(fmt, from_, "--format/--from"), langs or None)
    logging.basicConfig(level=logging.WARNING)
    hyper = dict(epochs=epochs, max_length=max_length, mlm_probability=mlm_probability, batch_size=batch_size)
    hyper.update(learning_rate=learning_rate, seed=seed, max_steps=max_steps)
    summary = adapt(base, texts, out, **hyper, overwrite=overwrite, progress=_progress)
    _print_adapt_summary(base, summary, out)


def _print_adapt_summary(base: str, summary: dict, out: Path) -> None:
    table = Table(title=f"adapted {base}")
    table.add_column("", justify="left")
    table.add_column("", justify="right")
    for key in ("articles", "windows", "tokens", "epochs", "steps", "final_loss", "mean_loss", "seconds"):
        value = summary[key]
        table.add_row(key.replace("_", " "), f"{value:.4f}" if key.endswith("loss") else str(value))
    console.print(table)
    console.print(
        f"model folder: [bold]{out}[/bold]  (framescope train CONFIG --set model.base={out})", highlight=False
    )


def register_cmd(
    model_dir: Annotated[str, typer.Argument(help="A model folder (framescope train or quickstart wrote it).")],
    name: Annotated[str, typer.Option("--name", "-n", help="Registered model name.")] = "framescope",
    alias: Annotated[
        Optional[str], typer.Option("--alias", "-a", help="Alias to point at the new version ('' for none).")
    ] = "candidate",
    experiment: Annotated[
        str, typer.Option("--experiment", help="MLflow experiment of the logging run.")
    ] = "framescope-register",
) -> None:
    """Log an existing model folder as an MLflow pyfunc model and register it as a new version.

    The tracking and registry URIs are MLflow's (MLFLOW_TRACKING_URI); docs/service.md serves the result.
    """
    from framescope.errors import FramescopeError, ModelError
    from framescope.training.tracking import register_folder

    try:
        run_id, uri, version = register_folder(model_dir, name, alias or None, experiment)
    except FramescopeError:
        raise
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise ModelError(f"{model_dir}: cannot register: {err}") from None
    typer.echo(f"logged {uri} (MLflow run {run_id})")
    typer.echo(f"registered: models:/{name}/{version}" + (f" (alias @{alias})" if alias else ""))


def register(app: typer.Typer) -> None:
    """Add ``train``, ``evaluate``, ``calibrate``, ``adapt`` and ``register``."""
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("calibrate")(calibrate_cmd)
    app.command("adapt")(adapt_cmd)
    app.command("register")(register_cmd)
