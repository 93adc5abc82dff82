"""One training run, end to end: data → tagger → calibration → evaluation → folder → MLflow.

This is what ``framescope train CONFIG`` runs; the steps read in the order the data flows.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from framescope.labels.dataset import fingerprint, split_documents
from framescope.labels.document import Document
from framescope.labels.io import read_documents
from framescope.labels.taxonomy import Taxonomy, load_taxonomy
from framescope.model.tagger import SpanTagger
from framescope.training.calibration import calibrate_on_dev
from framescope.training.config import resolve_path
from framescope.training.distributed import is_main_process
from framescope.training.evaluation import score_predictions
from framescope.training.fit import build_tagger, fit_tagger
from framescope.training.model_card import write_model_card
from framescope.training.tracking import Tracker

log = logging.getLogger("framescope.train")


@dataclass
class TrainResult:
    output_dir: Path
    report: dict
    calibration: dict
    run_id: str | None
    model_uri: str | None
    registered_version: str | None
    seconds: float
    train_stats: dict


def load_corpora(entries: list, taxonomy: Taxonomy, langs) -> list[Document]:
    docs: list[Document] = []
    for entry in entries:
        if isinstance(entry, str):
            entry = {"path": entry}
        found = read_documents(resolve_path(entry["path"]), entry.get("format"), taxonomy=taxonomy, langs=langs)
        # articles without annotations (e.g. SemEval test articles) would teach "no technique"
        docs.extend(d for d in found if d.meta.get("labeled", True))
    return docs


def prepare_data(config: dict, taxonomy: Taxonomy) -> tuple[list[Document], list[Document]]:
    d = config["data"]
    train = load_corpora(d["train"], taxonomy, d["langs"])
    if not train:
        raise ValueError("the config's data.train selects no articles")
    if d["dev"]:
        dev = load_corpora(d["dev"], taxonomy, d["langs"])
    else:
        train, dev = split_documents(train, d["dev_fraction"], seed=d["split_seed"])
    return train, dev


def train(config: dict, progress: Callable[[str], None] | None = None) -> TrainResult:
    say = progress or (lambda msg: log.info(msg))
    t0 = time.time()
    taxonomy = load_taxonomy(config["taxonomy"])
    train_docs, dev_docs = prepare_data(config, taxonomy)
    say(f"data: {len(train_docs)} train / {len(dev_docs)} dev articles")
    with Tracker(config) as tracker:
        tracker.set_tags(
            {
                "taxonomy": str(taxonomy.identity),
                "taxonomy_sha256": taxonomy.identity.sha256,
                "train_fingerprint": fingerprint(train_docs),
                "dev_fingerprint": fingerprint(dev_docs),
                "model_type": config["model"]["type"],
            }
        )
        tracker.log_params({"data.train_articles": len(train_docs), "data.dev_articles": len(dev_docs)})
        tagger = build_tagger(config, taxonomy)
        train_stats = fit_tagger(tagger, train_docs, dev_docs, config, tracker=tracker, say=say)
        out = Path(config["output_dir"])
        if not is_main_process():
            # distributed training: the weights are the same on every rank; only the main
            # process calibrates, evaluates, writes the folder and logs to MLflow
            return TrainResult(out, {}, {}, None, None, None, time.time() - t0, train_stats)
        say(f"trained in {time.time() - t0:.1f}s; calibrating on dev")
        cal, report = calibrate_tagger(tagger, dev_docs, taxonomy, config["calibration"])
        tagger.settings.name = config["mlflow"].get("registered_model") or config["name"]
        tagger.settings.extra.update({"config_name": config["name"], "train_fingerprint": fingerprint(train_docs)})
        tagger.save_pretrained(out)
        (out / "dev_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        card = write_model_card(out, config, report, cal.report, train_docs, dev_docs, taxonomy, train_stats)
        seconds = time.time() - t0
        tracker.log_report(report, "dev")
        tracker.log_metrics({"train_seconds": seconds, **{k: float(v) for k, v in train_stats.items() if isinstance(v, (int, float))}})
        tracker.log_results(report, cal.report)
        tracker.log_artifact(card)
        tracker.log_model(out)
        say(f"saved {out}" + (f"; MLflow run {tracker.run_id}" if tracker.run_id else ""))
        return TrainResult(out, report, cal.report, tracker.run_id, tracker.model_uri, tracker.registered_version, seconds, train_stats)


def calibrate_tagger(tagger, dev_docs: list[Document], taxonomy: Taxonomy, cal_cfg: dict):
    """Choose the tagger's thresholds on dev (stored in its settings) and score dev with them."""
    cal, preds = calibrate_on_dev(tagger, dev_docs, cal_cfg)
    return cal, score_predictions(dev_docs, preds, taxonomy)


def recalibrate(model_dir: str | Path, config: dict) -> tuple[dict, dict]:
    """Re-choose a trained model's thresholds on its config's dev split and rewrite its folder.

    The weights are untouched, so this is what ``train`` would have saved with the current
    calibration code; researchers also use it to calibrate on fresh dev annotations.
    Returns the dev report and the calibration report.
    """
    tagger = SpanTagger.from_pretrained(model_dir)
    taxonomy = tagger.taxonomy
    train_docs, dev_docs = prepare_data(config, taxonomy)
    cal, report = calibrate_tagger(tagger, dev_docs, taxonomy, config["calibration"])
    out = Path(model_dir)
    tagger.settings.save(out)
    (out / "dev_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    write_model_card(out, config, report, cal.report, train_docs, dev_docs, taxonomy, {})
    return report, cal.report
