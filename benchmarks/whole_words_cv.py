"""Span F1 of cached cross-validation taggers, decoded with and without whole-word snapping.

    FRAMESCOPE_SHARED_DATA=../shared/data nice -n 10 python benchmarks/whole_words_cv.py \
        --config benchmarks/configs/minilm-de-en-semeval.yaml \
        --cache runs/cv-cache/minilm --out docs/results/whole-words-cv-minilm.json

``--config`` must be the config the cache was trained with (its other ``data.langs`` join
every fold's training articles, as in ``benchmarks/crossval.py``).

Why: whole words must not lower span F1, and snapping (decoding.snap_to_words)
widens spans that the tagger starts or ends inside a word, while many German gold spans end
one character short of their word. This takes each fold's cached tagger and token scores
(``benchmarks/crossval.py --cache``), chooses the thresholds on the fold's dev articles and
decodes its test articles twice: with the article text (snapped to whole words, what
framescope does) and without it (the decoder before commit 3a79ce4 of 2026-11-29, which knew only the tokens'
offsets), then pools the out-of-fold spans per language.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from framescope.labels.taxonomy import load_taxonomy
from framescope.model.tagger import SpanTagger, TokenScores
from framescope.training.calibration import calibrate_on_dev
from framescope.training.config import load_config
from framescope.training.crossval import config_folds, fold_articles, fold_name, load_token_scores, training_only_langs
from framescope.training.evaluation import score_predictions
from framescope.training.train import load_corpora

KEYS = ("span_f1", "span_precision", "span_recall", "span_identification_f1", "n_pred")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="minilm-semeval")
    ap.add_argument("--cache", required=True, help="a finished benchmarks/crossval.py --cache folder of this config")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--fold-seed", type=int, help="as given to benchmarks/crossval.py (default: the config's seed)")
    ap.add_argument("--out")
    args = ap.parse_args()
    cfg = load_config(args.config)
    tax = load_taxonomy(cfg.taxonomy)
    docs = load_corpora(cfg.data.train, tax, ["de", "en"])
    extra_langs = training_only_langs(cfg, ["de", "en"])
    extra = load_corpora(cfg.data.train, tax, extra_langs) if extra_langs else []
    preds: dict[str, list] = {
        "whole words": [None] * len(docs),
        "token offsets (before whole words)": [None] * len(docs),
    }
    for k, held in enumerate(config_folds(docs, args.folds, cfg, args.fold_seed)):
        _, dev_docs, test = fold_articles(docs, held, cfg, extra)
        fold_dir = Path(args.cache) / fold_name(k, args.folds)
        tagger = SpanTagger.from_pretrained(fold_dir / "model")
        test_scores, dev_scores = (
            load_token_scores(fold_dir / "test.npz", test),
            load_token_scores(fold_dir / "dev.npz", dev_docs),
        )
        for mode, keep_text in zip(preds, (True, False)):
            strip = (
                (lambda xs: xs) if keep_text else (lambda xs: [TokenScores(s.offsets, s.probs, text=None) for s in xs])
            )  # noqa: E731
            calibrate_on_dev(tagger, dev_docs, cfg.calibration, scores=strip(dev_scores))
            for i, sc in zip(held, strip(test_scores)):
                preds[mode][i] = [p.as_tuple() for p in tagger.decode(sc)]
        print(f"fold {k + 1}/{args.folds} done", flush=True)
    out = {"config": args.config, "cache": args.cache, "folds": args.folds, "decoders": {}}
    for mode, p in preds.items():
        report = score_predictions(docs, p, tax)
        out["decoders"][mode] = {g: {key: report[g][key] for key in KEYS} for g in ("de", "en", "all")}
    text = json.dumps(out, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
