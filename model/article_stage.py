"""The second stage: calibrated per-technique probabilities for whole articles and paragraphs.

Why a second stage: the span tagger is the right tool to highlight phrases but the wrong
estimator for "does this article use technique T" (issue 12): its best span confidence
barely ranks German articles above chance, and a technique it never predicts scores 0
everywhere. This stage learns that question directly, per technique, from

* aggregates of the tagger's token scores over the unit (paragraph or article): per
  technique the max, mean, top-k mean and share of tokens above a threshold of its
  *inside* channel, so evidence the decoder's threshold throws away still counts, and
* lexical evidence: hashed character n-grams of the unit's text (``char_wb``, language
  independent, no vocabulary to store),

with one logistic regression per technique, then Platt-scaled on out-of-fold decision
values (grouped by article) so that 0.8 means about 80% of such units use the technique.
Token scores for fitting should be out-of-fold too (cross-fitting, see
:func:`framescope.training.train.stage_token_scores`): a tagger's scores on its own
training articles are overconfident, and a stage fitted on them would trust them too much.

Stored in the model folder as arrays (``article_stage.safetensors``) plus JSON settings
(``article_stage.json``); nothing is pickled. A folder without them has no stage and
exports null probabilities.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from framescope.labels.atomic import atomic_open
from framescope.labels.paragraphs import paragraph_offsets
from framescope.model.tagger import TokenScores

STAGE_WEIGHTS = "article_stage.safetensors"
STAGE_SETTINGS = "article_stage.json"
LEVELS = ("article", "paragraph")
GRID = tuple(round(x, 2) for x in np.arange(0.05, 0.96, 0.05))


@dataclass
class StageSettings:
    techniques: list[str]
    n_features: int = 2**16
    ngram_range: tuple[int, int] = (2, 4)
    C: float = 1.0
    top_k: int = 5
    share_threshold: float = 0.5
    token_features: bool = True
    folds: int = 5
    # a technique with fewer positive units than this gets its smoothed base rate: a
    # classifier learned from 2-4 examples ranks noise and would be trusted
    min_positives: int = 5
    # decision thresholds on the calibrated probabilities (best micro-F1 out of fold)
    thresholds: dict[str, float] = field(default_factory=lambda: {"article": 0.5, "paragraph": 0.5})
    fit_info: dict = field(default_factory=dict)


@dataclass
class StagePrediction:
    """One article: ``article[T]`` and, per paragraph, ``(index, start, end, {T: p})``."""

    article: dict[str, float]
    paragraphs: list[tuple[int, int, int, dict[str, float]]]


def units(text: str, level: str) -> list[tuple[int, int]]:
    """The character ranges one level scores: the whole text, or its paragraphs (lines)."""
    if level == "article":
        return [(0, len(text))]
    return paragraph_offsets(text)


def _aggregates(scores: TokenScores | None, spans: Sequence[tuple[int, int]], k: int, top_k: int, share_thr: float) -> np.ndarray:
    """``[len(spans), 4K]``: per technique max, mean, top-k mean, share >= threshold of *inside*."""
    out = np.zeros((len(spans), 4 * k), dtype=np.float32)
    if scores is None or len(scores.offsets) == 0:
        return out
    starts = scores.offsets[:, 0]
    inside = scores.probs[:, :k]
    real = scores.offsets[:, 1] > scores.offsets[:, 0]
    for r, (a, b) in enumerate(spans):
        sel = real & (starts >= a) & (starts < b)
        x = inside[sel]
        if len(x) == 0:
            continue
        top = np.sort(x, axis=0)[-top_k:]
        out[r] = np.concatenate([x.max(0), x.mean(0), top.mean(0), (x >= share_thr).mean(0)])
    return out


def _classifier(c: float) -> LogisticRegression:
    """L2 logistic regression, solved in the dual: units are far fewer than the 2^16 hashed
    n-gram columns, where liblinear's dual solver is several times faster than the primal
    one for the same optimum."""
    return LogisticRegression(C=c, solver="liblinear", dual=True, max_iter=1000)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


class ArticleStage:
    """scikit-learn conventions (``fit``/``predict``), HF-style ``save_pretrained``/``from_pretrained``."""

    def __init__(self, settings: StageSettings):
        self.settings = settings
        self._vec = HashingVectorizer(
            analyzer="char_wb", ngram_range=tuple(settings.ngram_range), n_features=settings.n_features,
            alternate_sign=False, norm="l2", lowercase=True,
        )
        # per level: coef [K, D], intercept [K], platt [K, 2] (slope, offset)
        self.weights: dict[str, dict[str, np.ndarray]] = {}

    @property
    def techniques(self) -> list[str]:
        return list(self.settings.techniques)

    # -- features ---------------------------------------------------------------------

    def features(self, texts: Sequence[str], scores: Sequence[TokenScores | None] | None, level: str):
        """Design matrix of all units of ``level`` and each unit's article index."""
        s = self.settings
        k = len(s.techniques)
        rows, groups, blocks = [], [], []
        for i, text in enumerate(texts):
            spans = units(text, level)
            rows.extend(text[a:b] for a, b in spans)
            groups.extend([i] * len(spans))
            if s.token_features:
                blocks.append(_aggregates(scores[i] if scores is not None else None, spans, k, s.top_k, s.share_threshold))
        x = self._vec.transform(rows)
        if s.token_features:
            agg = np.concatenate(blocks) if blocks else np.zeros((0, 4 * k), np.float32)
            x = sp.hstack([x, sp.csr_matrix(agg)], format="csr")
        return x, np.asarray(groups, dtype=np.int64)

    @staticmethod
    def labels(texts: Sequence[str], gold: Sequence[Sequence[tuple[int, int, str]]], techniques: Sequence[str], level: str) -> np.ndarray:
        """``[n_units, K]``: the unit overlaps a gold span of the technique by >= 1 character."""
        col = {t: j for j, t in enumerate(techniques)}
        out = []
        for text, spans in zip(texts, gold):
            us = units(text, level)
            y = np.zeros((len(us), len(techniques)), dtype=np.int8)
            for s, e, t in spans:
                if t not in col:
                    continue
                for r, (a, b) in enumerate(us):
                    if s < b and e > a:
                        y[r, col[t]] = 1
            out.append(y)
        return np.concatenate(out) if out else np.zeros((0, len(techniques)), np.int8)

    # -- fit / predict ----------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        gold: Sequence[Sequence[tuple[int, int, str]]],
        scores: Sequence[TokenScores | None] | None = None,
    ) -> "ArticleStage":
        """One classifier per technique and level; Platt scaling and thresholds out of fold."""
        s = self.settings
        for level in LEVELS:
            x, groups = self.features(texts, scores, level)
            y = self.labels(texts, gold, s.techniques, level)
            k, d = len(s.techniques), x.shape[1]
            coef = np.zeros((k, d), np.float32)
            intercept = np.zeros(k, np.float32)
            platt = np.tile(np.array([1.0, 0.0], np.float32), (k, 1))
            oof_prob = np.zeros((len(y), k), np.float64)
            n_folds = min(s.folds, len(set(groups.tolist())))
            for j in range(k):
                target = y[:, j]
                pos = int(target.sum())
                prior = (pos + 0.5) / (len(target) + 1.0)
                if pos < max(2, s.min_positives) or pos > len(target) - 2 or n_folds < 2:
                    # too little evidence either way: the smoothed base rate, for every unit
                    intercept[j] = np.log(prior / (1 - prior))
                    oof_prob[:, j] = prior
                    continue
                z = np.zeros(len(target))
                for tr, te in GroupKFold(n_splits=n_folds).split(x, target, groups):
                    if target[tr].min() == target[tr].max():
                        z[te] = np.log(prior / (1 - prior))
                        continue
                    clf = _classifier(s.C).fit(x[tr], target[tr])
                    z[te] = clf.decision_function(x[te])
                platt[j] = platt_scaling(z, target)
                oof_prob[:, j] = _sigmoid(platt[j, 0] * z + platt[j, 1])
                clf = _classifier(s.C).fit(x, target)
                coef[j], intercept[j] = clf.coef_[0], clf.intercept_[0]
            self.weights[level] = {"coef": coef, "intercept": intercept, "platt": platt}
            s.thresholds[level] = _best_threshold(oof_prob, y)
            s.fit_info[level] = {"units": int(len(y)), "oof_micro_f1": _micro_f1(oof_prob >= s.thresholds[level], y)}
        s.fit_info["articles"] = len(texts)
        return self

    def predict_level(self, texts: Sequence[str], scores: Sequence[TokenScores | None] | None, level: str) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities ``[n_units, K]`` of every unit of ``level`` and the units' article index."""
        w = self.weights[level]
        x, groups = self.features(texts, scores, level)
        z = np.asarray(x @ w["coef"].T) + w["intercept"]
        platt = w["platt"]
        return _sigmoid(platt[:, 0] * z + platt[:, 1]), groups

    def predict(self, texts: Sequence[str], scores: Sequence[TokenScores | None] | None = None) -> list[StagePrediction]:
        techs = self.techniques
        art, _ = self.predict_level(texts, scores, "article")
        par, groups = self.predict_level(texts, scores, "paragraph")
        out = []
        for i, text in enumerate(texts):
            rows = par[groups == i]
            paragraphs = [
                (n, a, b, {t: float(p) for t, p in zip(techs, rows[n])}) for n, (a, b) in enumerate(units(text, "paragraph"))
            ]
            out.append(StagePrediction({t: float(p) for t, p in zip(techs, art[i])}, paragraphs))
        return out

    # -- folder -----------------------------------------------------------------------

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        tensors = {f"{level}.{name}": np.ascontiguousarray(arr) for level, ws in self.weights.items() for name, arr in ws.items()}
        save_file(tensors, str(folder / STAGE_WEIGHTS))
        with atomic_open(folder / STAGE_SETTINGS) as fh:
            json.dump(asdict(self.settings), fh, indent=2, ensure_ascii=False)
            fh.write("\n")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "ArticleStage | None":
        """The folder's stage, or ``None`` for folders trained before there was one.

        A model folder is untrusted input and must load exactly: settings that do not parse,
        missing or unexpected arrays, or arrays of the wrong shape are a
        :class:`~framescope.errors.ModelError`, never a stage that scores with zeros.
        """
        from framescope.errors import ModelError

        folder = Path(folder)
        if not (folder / STAGE_SETTINGS).exists():
            if (folder / STAGE_WEIGHTS).exists():
                raise ModelError(f"model folder {folder}: {STAGE_WEIGHTS} without {STAGE_SETTINGS}")
            return None
        try:
            data = json.loads((folder / STAGE_SETTINGS).read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            unknown = sorted(set(data) - set(StageSettings.__dataclass_fields__))
            if unknown:
                raise ValueError(f"unknown keys {', '.join(unknown)}")
            stage = cls(StageSettings(**data))
            tensors = load_file(str(folder / STAGE_WEIGHTS))
        except Exception as err:  # JSON, dataclass or safetensors errors alike: the folder is broken
            raise ModelError(f"model folder {folder}: the article stage does not load ({err})") from None
        k = len(stage.techniques)
        d = stage.settings.n_features + (4 * k if stage.settings.token_features else 0)
        shapes = {"coef": (k, d), "intercept": (k,), "platt": (k, 2)}
        want = {f"{level}.{name}" for level in LEVELS for name in shapes}
        if set(tensors) != want:
            missing, extra = sorted(want - set(tensors)), sorted(set(tensors) - want)
            raise ModelError(f"model folder {folder}: {STAGE_WEIGHTS} lacks {missing} / has unexpected {extra}")
        for level in LEVELS:
            for name, shape in shapes.items():
                arr = tensors[f"{level}.{name}"]
                if tuple(arr.shape) != shape:
                    raise ModelError(
                        f"model folder {folder}: {STAGE_WEIGHTS} {level}.{name} has shape {tuple(arr.shape)}, "
                        f"not {shape} ({k} techniques)"
                    )
            stage.weights[level] = {name: tensors[f"{level}.{name}"] for name in shapes}
        return stage

    def digest(self, h) -> None:
        """Feed the stage's settings and arrays into the hash ``h`` (the model's fingerprint)."""
        h.update(json.dumps(asdict(self.settings), sort_keys=True, default=str).encode("utf-8"))
        for level in sorted(self.weights):
            for name in sorted(self.weights[level]):
                h.update(f"stage.{level}.{name}".encode())
                h.update(memoryview(np.ascontiguousarray(self.weights[level][name]).tobytes()))


def platt_scaling(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(slope, offset)`` mapping decision values ``z`` to calibrated probabilities.

    Platt (1999) fits the sigmoid to *smoothed* targets, ``(N+ + 1) / (N+ + 2)`` for the
    positives and ``1 / (N- + 2)`` for the negatives, instead of 1 and 0. With the handful
    of positives a rare technique has, the plain fit separates them perfectly and returns
    probabilities of exactly 0 and 1; the smoothed targets cap a technique seen in 3
    articles at 0.8, which is what 3 examples can support. Each unit enters twice, as a
    positive with weight ``t`` and a negative with weight ``1 - t``.
    """
    y = np.asarray(y).astype(np.int64)
    pos = float(y.sum())
    neg = float(len(y) - pos)
    t = np.where(y == 1, (pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0))
    x = np.concatenate([z, z]).reshape(-1, 1)
    labels = np.concatenate([np.ones(len(y), np.int64), np.zeros(len(y), np.int64)])
    cal = LogisticRegression(C=1e4, solver="lbfgs").fit(x, labels, sample_weight=np.concatenate([t, 1.0 - t]))
    return float(cal.coef_[0, 0]), float(cal.intercept_[0])


def _micro_f1(pred: np.ndarray, gold: np.ndarray) -> float:
    tp = float(np.logical_and(pred, gold).sum())
    n = float(pred.sum() + gold.sum())
    return 2 * tp / n if n else 0.0


def _best_threshold(prob: np.ndarray, gold: np.ndarray) -> float:
    """One threshold for all techniques: the best micro-F1 over the out-of-fold probabilities."""
    best, best_f1 = 0.5, -1.0
    for thr in GRID:
        f1 = _micro_f1(prob >= thr, gold)
        if f1 > best_f1:
            best, best_f1 = thr, f1
    return float(best)
