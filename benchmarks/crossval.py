"""k-fold cross-validation of a recipe over the SemEval-2023 German and English train articles.

    nice -n 10 python benchmarks/crossval.py --config benchmarks/configs/linear-semeval.yaml \
        --folds 5 --name de+en --out docs/results/crossval-de-en.json
    ... --extra-lang fr --extra-lang it --extra-lang pl --extra-lang ru   # train on these too (default: the config's other langs)
    ... --stage-extra $FRAMESCOPE_SHARED_DATA/semeval2023/fr ...   # six languages for the stage only
    ... --cache runs/cv-cache   # keep each fold's tagger and token scores: resume, rescore stages
    ... --set seed=1 --fold-seed 0 --cache runs/cv-cache-seed1   # another draw of the taggers, same folds
    ... --cache runs/cv-cache --ensemble-cache runs/cv-cache-seed1   # their seed ensemble, no retraining

Every run scores the stage variants of :data:`framescope.training.crossval.VARIANTS` on the
same folds: the tagger alone (article score = best span), the character n-gram stage
alone, and the stage stacked on cross-fitted token scores.

Folds are over the evaluated languages' articles (``--lang``, default de and en);
``--extra-lang`` articles join every fold's training set and are never evaluated; without
it, the config's other ``data.langs`` do (the default config trains on six languages). See
:mod:`framescope.training.crossval` for what runs inside a fold. Prints one JSON object
(per-language metrics of both profiles, per-fold seconds) and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from framescope.labels.taxonomy import load_taxonomy
from framescope.training.config import load_config
from framescope.training.crossval import VARIANTS, cross_validate, training_only_langs
from framescope.training.metrics.intervals import save_article_tables
from framescope.training.train import load_corpora

KEYS = (
    "articles",
    "article_mean_auc",
    "article_presence_f1",
    "constant_guess_presence_f1",
    "paragraph_micro_f1",
    "paragraph_micro_f1_spans",
    "span_f1",
    "span_precision",
    "span_identification_f1",
    "precise_span_precision",
    "precise_span_f1",
    "n_pred",
    "precise_n_pred",
    "article_presence_precision",
    "article_presence_recall",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(Path(__file__).parent / "configs" / "linear-semeval.yaml"))
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--lang", action="append", help="evaluated languages (default de, en)")
    ap.add_argument(
        "--extra-lang",
        action="append",
        default=[],
        help="training-only languages (default: the config's data.langs that are not evaluated)",
    )
    ap.add_argument(
        "--stage-extra",
        action="append",
        default=[],
        metavar="DIR",
        help="also score the variant stacked+extra: the stacked stage with these corpora in article_stage.extra_train",
    )
    ap.add_argument("--variant", action="append", help=f"stage variants to score (default all: {', '.join(VARIANTS)})")
    ap.add_argument("--max-folds", type=int, help="stop after this many folds (partial figures, labelled so)")
    ap.add_argument(
        "--no-tagger", action="store_true", help="only the char-ngrams stage: no tagger trainings, no span metrics"
    )
    ap.add_argument("--cache", help="folder keeping each fold's tagger and token scores: reruns resume and reuse them")
    ap.add_argument(
        "--fold-seed",
        type=int,
        help="deals the folds (default: the config's seed); fix it to train other seeds on the same folds",
    )
    ap.add_argument(
        "--ensemble-cache",
        action="append",
        default=[],
        metavar="DIR",
        help="a finished cache of the same folds (another seed): its token scores are averaged with this run's",
    )
    ap.add_argument(
        "--resamples",
        type=int,
        default=1000,
        help="bootstrap resamples of the articles for the article metrics' 95%% intervals (0: none)",
    )
    ap.add_argument(
        "--predictions",
        metavar="NPZ",
        help="also write the pooled article scores and decisions here, for benchmarks/compare_cv.py",
    )
    ap.add_argument("--name", default="recipe")
    ap.add_argument("--out")
    args = ap.parse_args()
    langs = args.lang or ["de", "en"]
    config = load_config(args.config, args.overrides)
    taxonomy = load_taxonomy(config.taxonomy)
    t0 = time.time()
    docs = load_corpora(config.data.train, taxonomy, langs)
    extra_langs = args.extra_lang or training_only_langs(config, langs)
    extra = load_corpora(config.data.train, taxonomy, extra_langs) if extra_langs else []
    say = lambda m: print(f"[{args.name}] {m}", file=sys.stderr, flush=True)  # noqa: E731
    say(f"{len(docs)} evaluated articles ({', '.join(langs)}), {len(extra)} training-only")
    unknown = set(args.variant or []) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variant(s) {', '.join(sorted(unknown))}; known: {', '.join(VARIANTS)}")
    variants = {k: dict(v) for k, v in VARIANTS.items() if not args.variant or k in args.variant}
    for v in variants.values():
        v.setdefault("extra_train", [])  # the named variants are de+en stages, whatever the config says
    if args.stage_extra:
        fmt = config.data.train[0].format
        variants["stacked+extra"] = {
            **VARIANTS["stacked"],
            "extra_train": [{"path": d, "format": fmt} for d in args.stage_extra],
        }

    def write(result: dict) -> str:
        out = {
            "name": args.name,
            "config": args.config,
            "overrides": args.overrides,
            "extra_langs": extra_langs,
            "folds": args.folds,
            "fold_seed": args.fold_seed,
            "ensemble_caches": args.ensemble_cache,
            "folds_done": result["folds_done"],
            "seconds": round(time.time() - t0, 1),
            "fold_seconds": [round(s, 1) for s in result["fold_seconds"]],
            "tagger": not args.no_tagger,
            "variants": {
                name: {g: {k: m[k] for k in (*KEYS, "intervals") if k in m} for g, m in report.items()}
                for name, report in result["reports"].items()
            },
        }
        if args.predictions and "articles" in result:
            save_article_tables(
                args.predictions,
                result["articles"],
                {"name": args.name, "config": args.config, "overrides": args.overrides},
            )
        text = json.dumps(out, indent=2)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(text + "\n", encoding="utf-8")
        return text

    result = cross_validate(
        config,
        docs,
        taxonomy,
        args.folds,
        extra,
        say,
        variants,
        on_fold=write,
        max_folds=args.max_folds,
        fit_tagger=not args.no_tagger,
        cache_dir=args.cache,
        fold_seed=args.fold_seed,
        ensemble_caches=args.ensemble_cache,
        resamples=args.resamples,
    )
    print(write(result))


if __name__ == "__main__":
    main()
