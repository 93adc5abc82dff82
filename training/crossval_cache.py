"""A cross-validation fold's tagger and token scores, and the cache that keeps them.

Why a cache: a fold's tagger is the expensive part of cross-validation (minutes to hours);
kept on disk with its dev and test token scores, a rerun reads a finished fold back (an
interrupted run resumes, new stage variants cost no training) and finished caches of other
seeds can be averaged into a seed ensemble without retraining. Token scores are stored as
arrays (``.npz``), never pickles.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from framescope.labels.atomic import atomic_write_bytes
from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.training.config import Config


def fold_tagger(config: Config, taxonomy: Taxonomy, fit_docs, dev_docs, test, fold_dir: Path | None, say):
    """The fold's tagger, calibrated on the fold's dev articles, with the token scores of its
    test and dev articles; read back from ``fold_dir`` when an earlier run finished the fold."""
    from framescope.model.tagger import SpanTagger
    from framescope.training.fit import build_tagger, fit_tagger
    from framescope.training.train import calibrate_tagger, record_train_shares

    # what the tagger depends on: everything but the stage's section and the bookkeeping
    tagger_config = {
        k: v for k, v in config.to_dict().items() if k not in ("article_stage", "mlflow", "name", "output_dir")
    }
    # the caches written before these keys existed stay valid while the keys keep their defaults
    if not tagger_config["model"]["freeze_embeddings"]:
        del tagger_config["model"]["freeze_embeddings"]
    if not tagger_config["training"]["head_only_epochs"]:
        del tagger_config["training"]["head_only_epochs"]
    key = {
        "tagger_config": hashlib.sha256(json.dumps(tagger_config, sort_keys=True, default=str).encode()).hexdigest(),
        "fit": [d.id for d in fit_docs],
        "dev": [d.id for d in dev_docs],
        "test": [d.id for d in test],
    }
    if fold_dir is not None and (fold_dir / "fold.json").exists():
        stored = json.loads((fold_dir / "fold.json").read_text(encoding="utf-8"))
        if stored != key:
            raise ValueError(f"{fold_dir} caches a fold of another config or split; use another cache folder")
        say(f"{fold_dir.name}: tagger and token scores read from the cache")
        tagger = SpanTagger.from_pretrained(fold_dir / "model")
        return tagger, load_token_scores(fold_dir / "test.npz", test), load_token_scores(fold_dir / "dev.npz", dev_docs)
    tagger = build_tagger(config, taxonomy)
    fit_tagger(tagger, fit_docs, dev_docs, config, tracker=None, say=say)
    record_train_shares(tagger, fit_docs, taxonomy, config)
    dev_scores = tagger.token_scores([d.text for d in dev_docs])
    calibrate_tagger(tagger, dev_docs, taxonomy, config.calibration, scores=dev_scores)
    scores = tagger.token_scores([d.text for d in test])
    if fold_dir is not None:
        fold_dir.mkdir(parents=True, exist_ok=True)
        tagger.save_pretrained(fold_dir / "model")
        save_token_scores(fold_dir / "test.npz", test, scores)
        save_token_scores(fold_dir / "dev.npz", dev_docs, dev_scores)
        atomic_write_bytes(fold_dir / "fold.json", json.dumps(key).encode("utf-8"))  # last: marks the fold complete
    return tagger, scores, dev_scores


def ensemble_scores(
    tagger, scores, dev_scores, caches: Sequence[str | Path], fold_name: str, config: Config, dev_docs, test
):
    """Test and dev token scores averaged with those the other caches hold for this fold;
    the tagger's thresholds (both profiles) chosen again on the averaged dev scores."""
    from framescope.model.tagger import TokenScores
    from framescope.training.calibration import calibrate_on_dev

    members = [(scores, dev_scores)]
    for cache in caches:
        fold_dir = Path(cache) / fold_name
        if not (fold_dir / "fold.json").exists():
            raise ValueError(f"{fold_dir}: no finished fold to ensemble with")
        members.append(
            (load_token_scores(fold_dir / "test.npz", test), load_token_scores(fold_dir / "dev.npz", dev_docs))
        )

    def mean(which: int) -> list:
        out = []
        for parts in zip(*(m[which] for m in members)):
            if any(not np.array_equal(p.offsets, parts[0].offsets) for p in parts):
                raise ValueError(
                    f"{fold_name}: the ensembled taggers tokenize differently; only one tokenizer can be averaged"
                )
            out.append(TokenScores(parts[0].offsets, np.mean([p.probs for p in parts], axis=0), text=parts[0].text))
        return out

    scores, dev_scores = mean(0), mean(1)
    calibrate_on_dev(tagger, dev_docs, config.calibration, scores=dev_scores)
    return scores, dev_scores


def save_token_scores(path: Path, docs: Sequence[Document], scores) -> None:
    """Token scores of ``docs`` as arrays (``.npz``: no pickles), keyed by article id."""
    arrays = {"ids": np.array([d.id for d in docs], dtype=str)}
    for n, sc in enumerate(scores):
        arrays[f"offsets_{n}"], arrays[f"probs_{n}"] = sc.offsets, sc.probs
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_token_scores(path: Path, docs: Sequence[Document]) -> list:
    """The token scores :func:`save_token_scores` wrote for exactly these articles."""
    from framescope.model.tagger import TokenScores

    with np.load(path, allow_pickle=False) as z:
        ids = [str(i) for i in z["ids"]]
        if ids != [d.id for d in docs]:
            raise ValueError(f"{path} holds token scores of other articles")
        return [TokenScores(z[f"offsets_{n}"], z[f"probs_{n}"], text=d.text) for n, d in enumerate(docs)]
