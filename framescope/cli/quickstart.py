"""``framescope quickstart``: train the embedded baseline, score an example, show the results.

It drives both stages (training, then scoring), so it lives above them in the CLI package
of the root layer, the one place allowed to import both ``framescope.training`` and
``framescope.inference`` (see the layer contracts in pyproject.toml).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from framescope.training.config import Config

console = Console()

QUICKSTART_DIR = Path("runs/quickstart")


def _quickstart_current(model_dir: Path, cfg: Config) -> bool:
    """The model folder exists, was trained from this config by this framescope on today's sample."""
    from framescope import __version__
    from framescope.errors import ModelError
    from framescope.labels.dataset import fingerprint
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.model.settings import TaggerSettings
    from framescope.training.train import prepare_data

    try:
        settings = TaggerSettings.load(model_dir)
    except ModelError:  # no folder yet, or one that does not load: train it
        return False
    if settings.framescope_version != __version__ or settings.extra.get("config_name") != cfg.name:
        return False
    import json

    from framescope.model.article_stage import STAGE_FORMAT, STAGE_SETTINGS

    if cfg.article_stage.enabled:
        try:  # trained before the article stage existed, or with an older one: retrain so it ships
            if json.loads((model_dir / STAGE_SETTINGS).read_text(encoding="utf-8")).get("format") != STAGE_FORMAT:
                return False
        except (OSError, ValueError, AttributeError):
            return False
    if settings.precise_thresholds is None:
        return False  # calibrated before profiles existed
    try:
        train_docs, _ = prepare_data(cfg, load_taxonomy(cfg.taxonomy))
    except Exception:
        return False
    return settings.extra.get("train_fingerprint") == fingerprint(train_docs)


def quickstart_cmd(
    retrain: Annotated[bool, typer.Option("--retrain", help="Train again even when the model is current.")] = False,
    no_mlflow: Annotated[bool, typer.Option("--no-mlflow", help="Do not track the training run in MLflow.")] = False,
) -> None:
    """Train the quickstart model, score the German example article and show the results."""
    from importlib import resources

    from framescope.inference.batch import run_score
    from framescope.inference.exports import RESULTS_FILE
    from framescope.training.config import load_config

    t0 = time.time()
    cfg = load_config("quickstart")
    model_dir = Path(cfg.output_dir)
    if no_mlflow:
        cfg = cfg.with_values({"mlflow.enabled": False})
    _train_unless_current(cfg, model_dir, retrain)
    example = resources.files("framescope.inference") / "examples" / "de_article.txt"
    with resources.as_file(example) as path:
        report_dir = QUICKSTART_DIR / "report"
        summary = run_score(
            [str(path)], model=str(model_dir), out=report_dir, overwrite=True, html=True, show_progress=False
        )
        text = Path(path).read_text(encoding="utf-8")
    with open(report_dir / RESULTS_FILE, encoding="utf-8") as fh:
        rec = json.loads(fh.readline())
    _print_spans(rec, text)
    _print_scores(rec)
    console.print(f"exports: [bold]{report_dir}[/bold]")
    if summary.report is not None:
        console.print(f"HTML report: [bold]{summary.report}[/bold]")
    console.print(
        f"done in {time.time() - t0:.1f}s. Score your own articles: framescope score ARTICLES... --out results"
    )


def _train_unless_current(cfg: Config, model_dir: Path, retrain: bool) -> None:
    from framescope.training.train import train

    if not retrain and _quickstart_current(model_dir, cfg):
        console.print(f"model: [bold]{model_dir}[/bold] is current (use --retrain to train again)")
        return
    console.print(f"training the quickstart model into [bold]{model_dir}[/bold] ...")
    result = train(cfg, progress=lambda m: console.print(f"[dim]framescope[/dim] {m}", highlight=False))
    if result.run_id:
        console.print(f"MLflow run: {result.run_id}")


def _print_spans(rec: dict, text: str) -> None:
    spans = Table(title=f"spans in {rec['id']} ({rec['lang']}, {len(text)} characters)")
    for col in ("technique", "confidence", "text"):
        spans.add_column(col, justify="right" if col == "confidence" else "left")
    for s in rec["spans"]:
        spans.add_row(s["technique"], f"{s['confidence']:.3f}", s["text"].replace("\n", " "))
    console.print(spans)


def _print_scores(rec: dict) -> None:
    """The article stage's calibrated probability is what to rank on (docs/schema.md); the best
    span's confidence ("best span") stays beside it."""
    scores = Table(title=f"article scores (best span overall {rec['overall']:.3f})")
    for col in ("technique", "probability", "best span", "spans", "coverage"):
        scores.add_column(col, justify="left" if col == "technique" else "right")

    def rank(item):
        prob = item[1].get("probability")
        return (-(prob if prob is not None else -1.0), -item[1]["score"])

    for tech, ts in sorted(rec["techniques"].items(), key=rank):
        prob = ts.get("probability")
        scores.add_row(
            tech,
            "-" if prob is None else f"{prob:.3f}",
            f"{ts['score']:.3f}",
            str(ts["spans"]),
            f"{ts['coverage']:.1%}",
        )
    console.print(scores)


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart_cmd)
