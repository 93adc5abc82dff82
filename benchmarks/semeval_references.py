"""Compare trained models with the two references on the minilm-semeval dev split.

Usage (from the project root, after `framescope train minilm-semeval` and
`framescope train bio-reference`):

    python benchmarks/semeval_references.py runs/minilm-semeval/model runs/bio-reference/model \
        --out docs/results/semeval-dev.json

References: (a) the textbook single-label BIO recipe (the bio-reference model, decoded both
textbook-style at 0.5 and with framescope's calibrated thresholds), (b) the degenerate
baseline marking every paragraph as the language's most frequent training technique.
Everything is scored on the same article-level dev split the training config makes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from framescope.labels.taxonomy import load_taxonomy
from framescope.training.config import load_config
from framescope.training.evaluation import most_frequent_technique_baseline, score_predictions
from framescope.model.tagger import SpanTagger
from framescope.training.train import prepare_data

KEYS = (
    "span_precision",
    "span_recall",
    "span_f1",
    "span_identification_f1",
    "paragraph_micro_f1",
    "mean_pred_span_length",
    "mean_gold_span_length",
    "n_pred",
    "n_gold",
)


def summarise(report: dict) -> dict:
    return {g: {k: m[k] for k in KEYS} | {"per_technique": m["per_technique"]} for g, m in report.items()}


def cross_calibrated(tagger, dev_docs, scores, taxonomy, cal_cfg: dict) -> list:
    """Thresholds chosen on one half of dev, applied to the other, and vice versa.

    The model's own thresholds were chosen on all of dev, which flatters dev figures; this
    gives an unbiased estimate from the same articles. Each half is calibrated exactly as
    ``framescope train`` calibrates (same objective, guard and grids), and its thresholds,
    begin thresholds and smoothing are applied to the other half.
    """
    from framescope.labels.dataset import split_documents
    from framescope.training.calibration import calibrate_from_config
    from framescope.training.evaluation import gold_tuples

    half_a, half_b = split_documents(dev_docs, 0.5, seed=1)
    index = {d.id: i for i, d in enumerate(dev_docs)}
    preds: list = [None] * len(dev_docs)
    techniques = tagger.techniques
    for fit, apply in ((half_a, half_b), (half_b, half_a)):
        idx = [index[d.id] for d in fit]
        cal = calibrate_from_config(
            [scores[i] for i in idx],
            [gold_tuples(dev_docs[i], taxonomy) for i in idx],
            techniques,
            [dev_docs[i].text for i in idx],
            cal_cfg,
        )
        thresholds = cal.all_thresholds(techniques)
        begins = cal.all_begin_thresholds(techniques)
        for d in apply:
            i = index[d.id]
            preds[i] = [p.as_tuple() for p in tagger.decode(scores[i], thresholds, begins, cal.smoothing)]
    return preds


def overlap_share(dev_docs, preds: list) -> float:
    """Share of predicted spans that overlap a predicted span of another technique."""
    from framescope.labels.document import Document, Span
    from framescope.labels.stats import corpus_stats

    st = corpus_stats(Document(d.id, d.text, d.lang, [Span(s, e, t) for s, e, t in p]) for d, p in zip(dev_docs, preds))
    return st.cross_technique_overlaps / st.spans if st.spans else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="model folders to compare")
    ap.add_argument("--config", default="minilm-semeval", help="the config whose data split to use")
    ap.add_argument("--out", type=Path, help="write all figures as JSON here")
    args = ap.parse_args()
    cfg = load_config(args.config)
    taxonomy = load_taxonomy(cfg.taxonomy)
    train_docs, dev_docs = prepare_data(cfg, taxonomy)
    results = {"split": {"train": len(train_docs), "dev": len(dev_docs), "config": args.config}}
    results["most_frequent_paragraphs"] = summarise(most_frequent_technique_baseline(train_docs, dev_docs, taxonomy))
    gold = [[(s.start, s.end, s.technique) for s in taxonomy.resolve_spans(d.spans)] for d in dev_docs]
    results["split"]["gold_overlapping_span_share"] = overlap_share(dev_docs, gold)
    for folder in args.models:
        tagger = SpanTagger.from_pretrained(folder)
        scores = tagger.token_scores([d.text for d in dev_docs])
        name = Path(folder).parent.name if Path(folder).name == "model" else Path(folder).name
        preds = [[p.as_tuple() for p in tagger.decode(s)] for s in scores]
        results[f"{name} (calibrated)"] = summarise(score_predictions(dev_docs, preds, taxonomy))
        results[f"{name} (calibrated)"]["overlapping_pred_share"] = overlap_share(dev_docs, preds)
        preds = cross_calibrated(tagger, dev_docs, scores, taxonomy, cfg.calibration)
        results[f"{name} (2-fold cross-calibrated)"] = summarise(score_predictions(dev_docs, preds, taxonomy))
        if not tagger.scheme.calibrated:  # the textbook BIO reference
            fixed = {t: 0.5 for t in tagger.techniques}
            preds = [[p.as_tuple() for p in tagger.decode(s, fixed)] for s in scores]
            results[f"{name} (textbook argmax-like, 0.5)"] = summarise(score_predictions(dev_docs, preds, taxonomy))
    print(
        f"{'system':45s} {'lang':4s} {'spanP':>6s} {'spanR':>6s} {'spanF1':>6s} {'paraF1':>6s} {'predLen':>7s} {'goldLen':>7s}"
    )
    for system, rep in results.items():
        if system == "split":
            continue
        if "overlapping_pred_share" in rep:
            print(f"{system}: {rep['overlapping_pred_share']:.1%} of predicted spans overlap another technique's")
        for lang in ("de", "en", "all"):
            m = rep.get(lang)
            if m:
                print(
                    f"{system:45s} {lang:4s} {m['span_precision']:6.3f} {m['span_recall']:6.3f} {m['span_f1']:6.3f} "
                    f"{m['paragraph_micro_f1']:6.3f} {m['mean_pred_span_length']:7.1f} {m['mean_gold_span_length']:7.1f}"
                )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
