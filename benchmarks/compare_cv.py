"""Paired bootstrap differences between two cross-validated recipes, per language.

    python benchmarks/crossval.py ... --predictions runs/cv-a.npz   # recipe A
    python benchmarks/crossval.py ... --predictions runs/cv-b.npz   # recipe B, the same folds
    python benchmarks/compare_cv.py runs/cv-a.npz runs/cv-b.npz --variant stacked+extra [--variant-b stacked]

Why: two recipes' intervals side by side overlap even when one is better on nearly every
resample, because both share the hard articles. Resampling the articles once for both
recipes (:func:`framescope.training.metrics.intervals.paired_differences`) measures the
difference itself. The two files must pool the same articles (the same ``--folds`` and
``--fold-seed``; ``--max-folds`` runs only against runs stopped at the same fold).

Prints, per language, B − A of article AUC and presence F1 with its 95% interval and the
share of resamples in which B is not better; ``--out`` writes it as JSON. The interval
covers the articles' luck, not the training's: another training seed of the same recipe
moves the figures too (docs/results.md, "Seed variance").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from framescope.training.metrics.intervals import ARTICLE_METRICS, load_article_tables, paired_differences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="recipe A: a benchmarks/crossval.py --predictions file")
    ap.add_argument("b", help="recipe B, scored on the same articles")
    ap.add_argument("--variant", default="stacked+extra", help="the stage variant of A (and of B unless --variant-b)")
    ap.add_argument("--variant-b")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--out")
    args = ap.parse_args()
    for path in (args.a, args.b):
        if not Path(path).is_file():
            sys.exit(f"error: {path}: no such file (write one with benchmarks/crossval.py --predictions)")
    a, b = load_article_tables(args.a), load_article_tables(args.b)
    va, vb = args.variant, args.variant_b or args.variant
    for run, v, path in ((a, va, args.a), (b, vb, args.b)):
        if v not in run["tables"]:
            sys.exit(f"error: {path} has no variant {v!r} (it has: {', '.join(run['tables'])})")
    if a["ids"] != b["ids"] or a["techniques"] != b["techniques"]:
        sys.exit(
            f"error: {args.a} and {args.b} pool different articles or techniques (other folds?); they cannot be paired"
        )
    langs = np.array(a["langs"])
    out = {
        "a": {"file": args.a, "variant": va, **a["meta"]},
        "b": {"file": args.b, "variant": vb, **b["meta"]},
        "languages": {},
    }
    print(
        f"B − A: B = {b['meta'].get('name')} ({vb}), A = {a['meta'].get('name')} ({va}); 95% paired bootstrap intervals"
    )
    for lang in sorted(set(langs.tolist())):
        rows = np.flatnonzero(langs == lang)
        diff = paired_differences(
            a["tables"][va].subset(rows), b["tables"][vb].subset(rows), n_resamples=args.resamples
        )
        out["languages"][lang] = {"articles": len(rows), **diff}
        for m in ARTICLE_METRICS[:2]:  # the guess is the same for both recipes: F1 over it moves as F1 does
            d = diff[m]
            print(
                f"  {lang} ({len(rows)} articles) {m:24s} {d['difference']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
                f"  B not better in {d['share_not_better']:.0%} of resamples"
            )
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
