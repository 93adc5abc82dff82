"""Which character model for the article stage: 5-fold article AUC of the lexical part alone.

    FRAMESCOPE_SHARED_DATA=../shared/data nice -n 10 python benchmarks/char_models.py \
        '[{}, {"C": 10}, {"tfidf": true, "C": 1}, {"tfidf": true, "C": 10}, {"tfidf": true, "C": 30}]'
    ... '[{"tfidf": true, "C": 10}]' --six      # the character models also trained on fr/it/pl/ru

Each grid entry is one recipe: hashed ``char_wb`` n-grams (``ngram``, ``nf`` buckets), raw
l2-normalised counts or sublinear TF-IDF (``tfidf``), L2 logistic regression ``C`` per
technique, optionally a language one-hot (``langfeat``), a per-language copy of every
feature beside the shared one (``augment``: Daumé's feature augmentation), or hashed word 1-2-grams beside
(``words: 1``) or instead (``words: 2``). Same folds as ``benchmarks/crossval.py`` (the
config's seed, stratified by language); prints the mean ROC AUC over techniques per
language of the out-of-fold decision values. This chose the stage's TF-IDF and C = 10
(docs/results.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from framescope.labels.taxonomy import load_taxonomy
from framescope.training.config import Corpus, load_config
from framescope.training.crossval import article_folds
from framescope.training.evaluation import gold_tuples
from framescope.training.train import load_corpora


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("grid", help="JSON list of recipes")
    ap.add_argument("--six", action="store_true", help="also train on the fr, it, pl, ru articles")
    args = ap.parse_args()
    cfg = load_config("minilm-semeval")
    tax = load_taxonomy(cfg.taxonomy)
    docs = load_corpora(cfg.data.train, tax, ["de", "en"])
    root = os.path.join(os.environ["FRAMESCOPE_SHARED_DATA"], "semeval2023")
    extra_langs = ["fr", "it", "pl", "ru"]
    extra = (
        load_corpora([Corpus(f"{root}/{lg}", "semeval2023") for lg in extra_langs], tax, extra_langs)
        if args.six
        else []
    )
    folds = article_folds(docs, 5, cfg.seed)
    techs = tax.names

    def labels(ds):
        y = np.zeros((len(ds), len(techs)), int)
        for i, d in enumerate(ds):
            for _, _, t in gold_tuples(d, tax):
                y[i, techs.index(t)] = 1
        return y

    y_all = labels(docs)
    yy = np.vstack([y_all, labels(extra)]) if extra else y_all
    texts = [d.text for d in docs] + [d.text for d in extra]
    all_langs = [d.lang for d in docs] + [d.lang for d in extra]
    langs = np.array([d.lang for d in docs])

    for recipe in json.loads(args.grid):
        t0 = time.time()
        tfidf, c = recipe.get("tfidf", False), recipe.get("C", 1.0)
        vec = HashingVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(recipe.get("ngram", (2, 4))),
            n_features=recipe.get("nf", 2**16),
            alternate_sign=False,
            norm=None if tfidf else "l2",
            lowercase=True,
        )
        x = vec.transform(texts)
        if recipe.get("words"):
            w = HashingVectorizer(
                analyzer="word", ngram_range=(1, 2), n_features=2**16, alternate_sign=False, norm=None
            ).transform(texts)
            x = w if recipe["words"] == 2 else sp.hstack([x, w], format="csr")
        z = np.zeros(y_all.shape)
        for held in folds:
            tr = np.setdiff1d(np.arange(len(texts)), held)
            xtr, xte = x[tr], x[held]
            if tfidf:
                tt = TfidfTransformer(sublinear_tf=True).fit(xtr)
                xtr, xte = tt.transform(xtr), tt.transform(xte)
            if recipe.get("langfeat"):
                names = sorted(set(all_langs))
                onehot = lambda idx: sp.csr_matrix(np.array([[float(all_langs[i] == n) for n in names] for i in idx]))  # noqa: E731, B023  (called at once)
                xtr, xte = sp.hstack([xtr, onehot(tr)], format="csr"), sp.hstack([xte, onehot(held)], format="csr")
            if recipe.get("augment"):  # shared weights plus one copy per language (feature augmentation)
                names = sorted(set(all_langs))
                lang_arr = np.array(all_langs)

                def augment(m, idx, lang_arr=lang_arr, names=names):
                    return sp.hstack(
                        [m] + [sp.diags((lang_arr[idx] == n).astype(float)) @ m for n in names], format="csr"
                    )

                xtr, xte = augment(xtr, tr), augment(xte, held)
            for j in range(len(techs)):
                t = yy[tr, j]
                if 2 <= t.sum() <= len(t) - 2:
                    z[held, j] = LogisticRegression(C=c, solver="liblinear").fit(xtr, t).decision_function(xte)
        out = []
        for lg in ("de", "en"):
            m = langs == lg
            aucs = [roc_auc_score(y_all[m, j], z[m, j]) for j in range(len(techs)) if 0 < y_all[m, j].sum() < m.sum()]
            out.append(f"{lg} {np.mean(aucs):.3f} ({len(aucs)} techniques)")
        print(json.dumps(recipe), *out, f"{time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
