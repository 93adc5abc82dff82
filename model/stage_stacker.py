"""The article stage's stacker: one logistic regression shared by all techniques, with each
technique's prior logit in the unit's language as its offset.

Why an offset: with no evidence beyond the average (inputs centred per technique and
language), a unit gets its technique's base rate in its language, so the output stays
calibrated per technique. A shared weight on the prior would pull rare techniques up and
common ones down. Why shared: a small dev split holds a handful of positives for most
techniques; a few shared weights can be learned from it, one calibration per technique
cannot. Why centred per language: the lexical logits also encode the language (some
languages' articles use more techniques, and their n-grams say which language they are
in); centred across languages, they would count the prior twice.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.optimize import minimize
from sklearn.model_selection import GroupKFold

from framescope.model.numeric import THRESHOLD_GRID, micro_f1, sigmoid
from framescope.model.stage_settings import POOLED


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def by_language(
    values: np.ndarray, langs: Sequence[str | None], pooled: np.ndarray, strength: float
) -> dict[str, np.ndarray]:
    """``pooled`` under :data:`POOLED` and, per language, the mean of its rows of ``values``
    pulled towards ``pooled`` by ``strength`` pseudo-rows (priors and centres alike)."""
    out = {POOLED: pooled}
    arr = np.array([str(lg) if lg is not None else POOLED for lg in langs])
    for lang in sorted(set(arr.tolist()) - {POOLED}):
        sel = values[arr == lang]
        out[lang] = (sel.sum(axis=0) + strength * pooled) / (len(sel) + strength)
    return out


def rows_by_language(table: dict[str, np.ndarray], langs: Sequence[str | None]) -> np.ndarray:
    """``[n, *entry shape]``: each unit's entry of ``table`` (the pooled one for languages not in it)."""
    if not langs:
        return np.zeros((0, *np.shape(table[POOLED])))
    return np.stack([table.get(str(lang), table[POOLED]) for lang in langs])


class LanguagePrior:
    """Per language (and pooled), each technique's share of units, smoothed: a language's
    share is pulled towards the pooled one by ``strength`` pseudo-units, the pooled one
    towards 0 by half a unit (a technique never seen is rare, not impossible).
    ``shares_``: language -> shares, rounded as stored in the folder."""

    def __init__(self, strength: float = 10.0):
        self.strength = strength

    def fit(self, y: np.ndarray, langs: Sequence[str | None]) -> "LanguagePrior":
        pooled = (y.sum(axis=0) + 0.5) / (len(y) + 1.0)
        table = by_language(y, langs, pooled, self.strength)
        self.shares_ = {lang: [round(float(v), 6) for v in share] for lang, share in table.items()}
        return self

    @staticmethod
    def logits(shares: dict[str, list[float]], langs: Sequence[str | None]) -> np.ndarray:
        """``[n, K]``: each unit's prior logit in its language."""
        return rows_by_language({lang: logit(np.asarray(p, dtype=np.float64)) for lang, p in shares.items()}, langs)


class LanguageCentres:
    """Mean stacker inputs per technique, pooled and per language (pulled towards the pooled
    mean by ``strength`` pseudo-units, like the priors: a language's dev articles are few).
    ``centres_``: language -> ``[K][n_inputs]``, rounded as stored in the folder."""

    def __init__(self, strength: float = 10.0):
        self.strength = strength

    def fit(self, raw: np.ndarray, langs: Sequence[str | None]) -> "LanguageCentres":
        pooled = raw.mean(axis=0) if len(raw) else np.zeros(raw.shape[1:])
        table = by_language(raw, langs, pooled, self.strength)
        self.centres_ = {lang: np.round(c, 6).tolist() for lang, c in table.items()}
        return self

    @staticmethod
    def rows(centres: dict[str, list[list[float]]], langs: Sequence[str | None]) -> np.ndarray:
        """``[n, K, n_inputs]``: each unit's language centre."""
        return rows_by_language({lang: np.asarray(c, dtype=np.float64) for lang, c in centres.items()}, langs)


def fit_stacker(inputs: np.ndarray, prior: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    """``[weights..., bias]`` of one logistic regression over all (unit, technique) pairs with
    the prior logit as its offset, L2 ``1/c`` on the weights (not the bias).

    scikit-learn's LogisticRegression has no offset; the problem is a handful of
    parameters, so L-BFGS on the exact loss is direct."""
    m = inputs.shape[-1]
    x, off, t = inputs.reshape(-1, m).astype(np.float64), prior.reshape(-1), y.reshape(-1).astype(np.float64)
    if len(t) == 0 or t.min() == t.max():
        return np.zeros(m + 1, np.float32)  # nothing to learn: the prior alone

    def loss(theta):
        z = off + x @ theta[:-1] + theta[-1]
        p = sigmoid(z)
        # log(1 + e^z) - t z, stably
        value = np.sum(np.logaddexp(0.0, z) - t * z) + 0.5 / c * np.sum(theta[:-1] ** 2)
        g = p - t
        grad = np.concatenate([x.T @ g + theta[:-1] / c, [g.sum()]])
        return value, grad

    res = minimize(loss, np.zeros(m + 1), jac=True, method="L-BFGS-B")
    return res.x.astype(np.float32)


def stacked(inputs: np.ndarray, prior: np.ndarray, active: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Probabilities ``[n, K]``: the prior logit plus the weighed evidence; techniques that are
    not ``active`` keep their prior."""
    out = sigmoid(prior)
    out[:, active] = sigmoid(prior[:, active] + inputs[:, active] @ w[:-1] + w[-1])
    return out


class OffsetStacker:
    """The shared stacker as an estimator: ``fit(inputs [n, K, m], prior [n, K], y [n, K], active)``
    learns ``weights_`` (``[m]`` weights, then the bias) on the active techniques' pairs."""

    def __init__(self, C: float = 1.0):
        self.C = C

    def fit(self, inputs: np.ndarray, prior: np.ndarray, y: np.ndarray, active: np.ndarray) -> "OffsetStacker":
        self.weights_ = fit_stacker(inputs[:, active], prior[:, active], y[:, active], self.C)
        return self

    def predict_proba(self, inputs: np.ndarray, prior: np.ndarray, active: np.ndarray) -> np.ndarray:
        return stacked(inputs, prior, active, self.weights_)

    def out_of_fold(self, inputs, prior, y, groups: np.ndarray, active: np.ndarray, folds: int) -> np.ndarray:
        """Probabilities of the stacking units from stackers that did not see their article:
        the evidence the decision threshold is chosen on."""
        prob = sigmoid(prior)
        n_folds = min(folds, len(set(groups.tolist())))
        if n_folds < 2:
            return prob  # one stacking article: no out-of-fold evidence beyond the priors
        for tr, te in GroupKFold(n_splits=n_folds).split(inputs, y, groups):
            fold = OffsetStacker(self.C).fit(inputs[tr], prior[tr], y[tr], active)
            prob[te] = fold.predict_proba(inputs[te], prior[te], active)
        return prob


def best_threshold(prob: np.ndarray, gold: np.ndarray) -> float:
    """One threshold for all techniques: the best micro-F1 over the out-of-fold probabilities."""
    best, best_f1 = 0.5, -1.0
    for thr in THRESHOLD_GRID:
        f1 = micro_f1(prob >= thr, gold)
        if f1 > best_f1:
            best, best_f1 = thr, f1
    return float(best)
