"""``framescope adapt`` under cross-validation: adapt the encoder on every article but one fold's.

Why: domain-adaptive MLM pretraining (:mod:`framescope.training.adapt`) may use any text,
labelled or not, except the articles a fold is evaluated on: adapting on them, even without
their labels, lets the encoder see the test text and makes the figures optimistic. So the
adapted encoder belongs to one fold. This script deals the folds exactly as
``benchmarks/crossval.py`` does, collects

* the evaluated languages' labelled train articles outside the chosen fold's test set,
* the ``--extra`` corpora (e.g. the fr/it/pl/ru train articles),
* the unlabelled ``--unlabelled`` folders (e.g. the SemEval test articles of all languages),

adapts the config's base encoder on them, and writes the folder ``--out``. Then the fold is
trained from it, on a fresh cache (fold 1 only: ``--max-folds 1``)::

    S=$FRAMESCOPE_SHARED_DATA/semeval2023
    python benchmarks/adapt_fold.py --config training/configs/minilm-semeval.yaml --fold 1 \\
        --extra $S/fr --extra $S/it --extra $S/pl --extra $S/ru \\
        --unlabelled $S/*/test-articles-subtask-3 --out runs/adapted-fold1
    python benchmarks/crossval.py --config training/configs/minilm-semeval.yaml --folds 5 --max-folds 1 \\
        --set model.base=runs/adapted-fold1 --variant tagger --stage-extra $S/fr ... \\
        --cache runs/cv-cache-adapted --name adapted --out docs/results/crossval-adapted-fold1.json

Prints the ``adapt.json`` summary with the fold and the held-out article count added.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from framescope.labels.atomic import atomic_write_bytes
from framescope.labels.taxonomy import load_taxonomy
from framescope.training.adapt import adapt, read_texts
from framescope.training.config import load_config
from framescope.training.crossval import config_folds
from framescope.training.train import load_corpora


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--fold", type=int, default=1, help="the fold (1-based) whose test articles are left out")
    ap.add_argument("--fold-seed", type=int, help="as benchmarks/crossval.py --fold-seed")
    ap.add_argument("--lang", action="append", help="evaluated languages (default de, en)")
    ap.add_argument(
        "--extra", action="append", default=[], metavar="DIR", help="other corpora to adapt on (all their articles)"
    )
    ap.add_argument("--unlabelled", nargs="*", default=[], metavar="DIR", help="unlabelled article folders to adapt on")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (a quick check)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    config = load_config(args.config, args.overrides)
    taxonomy = load_taxonomy(config.taxonomy)
    langs = args.lang or ["de", "en"]
    docs = load_corpora(config.data.train, taxonomy, langs)
    folds = config_folds(docs, args.folds, config, args.fold_seed)
    if not 1 <= args.fold <= len(folds):
        ap.error(f"--fold must be between 1 and {len(folds)}")
    held = set(folds[args.fold - 1].tolist())
    texts = [d.text for i, d in enumerate(docs) if i not in held]
    if args.extra:
        texts += read_texts(args.extra)
    if args.unlabelled:
        texts += read_texts(args.unlabelled)
    # a corpus read twice (an --extra folder holding its own test articles) counts once, and no
    # text of the held-out fold comes back in through --extra or --unlabelled
    held_texts = {docs[i].text for i in held}
    texts = [t for t in dict.fromkeys(texts) if t not in held_texts]
    say = lambda m: print(f"[adapt fold {args.fold}] {m}", file=sys.stderr, flush=True)  # noqa: E731
    say(f"{len(docs) - len(held)} of {len(docs)} evaluated articles ({len(held)} held out), {len(texts)} texts in all")
    summary = adapt(
        config.model.base,
        texts,
        args.out,
        epochs=args.epochs,
        max_length=config.model.max_length,
        seed=config.seed,
        max_steps=args.max_steps,
        progress=say,
    )
    summary.update(fold=args.fold, folds=args.folds, held_out_articles=len(held))
    # adapt() committed the folder; its adapt.json gains the fold, replaced whole (never half-written)
    atomic_write_bytes(Path(args.out) / "adapt.json", (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
