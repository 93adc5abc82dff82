"""The article stage's lexical models: one logistic regression per technique over the
sublinear TF-IDF of hashed character n-grams of a unit's text.

Hashed ``char_wb`` n-grams are language independent (German compounds share their pieces
with their parts) and need no vocabulary: the IDF weights are an array. Only the hashed
columns that training units have are kept, so the hashing space can be large (few
collisions between the n-grams of six languages) while the model folder holds only what
was learned. docs/results.md ("The character models' n-grams" and the format-1 table)
has the cross-validated comparisons behind these choices.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import normalize

from framescope.model.stage_stacker import logit

#: the arrays a fitted model is stored as, without their trailing ``_``
ARRAYS = ("columns", "idf", "idf_unseen", "coef", "intercept")


def classifier(c: float) -> LogisticRegression:
    """L2 logistic regression, solved in the dual: units are far fewer than the hundreds of
    thousands of hashed n-gram columns, where liblinear's dual solver is several times
    faster than the primal one for the same optimum. Seeded: the dual solver visits coordinates in random order,
    and an unseeded fit gives other weights on every run."""
    return LogisticRegression(C=c, solver="liblinear", dual=True, max_iter=1000, random_state=0)


class HashedTfidfLogit:
    """Per-technique logits of texts. ``fit(rows, y, active)`` learns the kept ``columns_``,
    their ``idf_`` (and ``idf_unseen_``, the idf of every other column), and ``coef_ [K, D]`` /
    ``intercept_ [K]``; a technique that is not ``active`` keeps zero weights."""

    def __init__(self, n_features: int = 2**20, ngram_range: tuple[int, int] = (2, 5), C: float = 10.0):
        self.n_features = n_features
        self.ngram_range = ngram_range
        self.C = C

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], n_features: int, ngram_range: tuple[int, int], C: float
    ) -> "HashedTfidfLogit":
        """A fitted model from its stored arrays (``columns``, ``idf``, ``idf_unseen``, ``coef``, ``intercept``)."""
        model = cls(n_features, ngram_range, C)
        for name in ARRAYS:
            setattr(model, f"{name}_", arrays[name])
        return model

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted arrays under their stored names."""
        return {name: getattr(self, f"{name}_") for name in ARRAYS}

    def counts(self, rows: Sequence[str]) -> sp.csr_matrix:
        """Hashed character n-gram counts ``[len(rows), n_features]``."""
        if len(rows) == 0:  # no unit (blank articles have no paragraph): the vectorizer needs one
            return sp.csr_matrix((0, self.n_features), dtype=np.float64)
        vec = HashingVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(self.ngram_range),
            n_features=self.n_features,
            alternate_sign=False,
            norm=None,
            lowercase=True,
        )
        return vec.transform(rows).astype(np.float64).tocsr()

    def weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Sublinear TF-IDF of hashed counts, rows l2-normalised, on the kept columns.

        An n-gram that no training unit had has no weight, but it still counts towards the
        row's length, with the idf of an unseen n-gram: a text full of new words gives
        weaker evidence. This is exactly the dense TF-IDF of format 2, whose unseen columns
        had that idf and a zero coefficient."""
        if counts.shape[0] == 0:
            return sp.csr_matrix((0, len(self.columns_)), dtype=np.float64)
        idf = np.full(counts.shape[1], self.idf_unseen_[0], dtype=np.float32)
        idf[self.columns_] = self.idf_
        x = counts.copy()
        x.data = 1.0 + np.log(x.data)
        return normalize(x @ sp.diags(idf), norm="l2", copy=False).tocsr()[:, self.columns_]

    def transform(self, rows: Sequence[str]) -> sp.csr_matrix:
        """The classifiers' inputs: :meth:`weigh` of the rows' n-gram counts."""
        return self.weigh(self.counts(rows))

    def decision_function(self, rows: Sequence[str]) -> np.ndarray:
        """``[len(rows), K]``: the logits (an empty text gets the intercept)."""
        return np.asarray(self.transform(rows) @ self.coef_.T) + self.intercept_

    def fit(self, rows: Sequence[str], y: np.ndarray, active: np.ndarray | None = None) -> "HashedTfidfLogit":
        k = y.shape[1]
        active = np.ones(k, bool) if active is None else active
        counts = self.counts(rows)
        df = np.diff(counts.tocsc().indptr)
        self.columns_ = np.flatnonzero(df).astype(np.int32)
        self.idf_ = (np.log((1.0 + len(rows)) / (1.0 + df[self.columns_])) + 1.0).astype(np.float32)
        self.idf_unseen_ = np.array([np.log(1.0 + len(rows)) + 1.0], dtype=np.float32)
        x = self.weigh(counts)
        self.coef_ = np.zeros((k, x.shape[1]), np.float32)
        self.intercept_ = np.zeros(k, np.float32)
        for j in np.flatnonzero(active):
            clf = classifier(self.C).fit(x, y[:, j])
            self.coef_[j], self.intercept_[j] = clf.coef_[0], clf.intercept_[0]
        return self

    def out_of_fold(self, rows: Sequence[str], y: np.ndarray, groups: np.ndarray, folds: int, active: np.ndarray):
        """Logits ``[len(rows), K]`` of every training unit from models that did not see its
        article (grouped folds, on this model's fitted TF-IDF weighting): honest evidence to
        stack on. A fold without both classes leaves the smoothed base-rate logit."""
        x = self.transform(rows)
        z = np.zeros(y.shape, np.float64) + logit((y.sum(axis=0) + 0.5) / (len(y) + 1.0))
        n_folds = min(folds, len(set(groups.tolist())))
        if n_folds < 2:
            return z
        for tr, te in GroupKFold(n_splits=n_folds).split(x, y, groups):
            for j in np.flatnonzero(active):
                target = y[tr, j]
                if target.min() == target.max():
                    continue
                z[te, j] = classifier(self.C).fit(x[tr], target).decision_function(x[te])
        return z
