"""The second stage: calibrated per-technique probabilities for whole articles and paragraphs.

Why a second stage: the span tagger is the right tool to highlight phrases but the wrong
estimator for "does this article use technique T": its best span confidence
barely ranks German articles above chance, and a technique it never predicts scores 0
everywhere. This stage learns that question directly, per level (the whole article, and
each paragraph = non-empty line), in two steps:

1. **Lexical model**, one per technique: an L2 logistic regression over sublinear TF-IDF
   of hashed character 2-5-grams of the unit's text (``char_wb``: language independent,
   German compounds share their pieces, no vocabulary to store; the IDF weights are an
   array). Under 5-fold cross-validation this lifted German article AUC from 0.50 (raw
   l2-normalised counts, C=1) to 0.67; 2-5-grams in 2^20 buckets instead of 2-4-grams in
   2^16 added 0.007 to the stacked German AUC (fewer collisions between the n-grams of
   six languages). Only the buckets that training units have are stored (format 3).
2. **Stacker**, one logistic regression *shared by all techniques*. Its offset is the
   technique's prior logit in the unit's language (training share, smoothed towards the
   pooled share); it weighs the evidence of each (unit, technique), centred on that
   technique's mean: the lexical model's logit, the unit's length (log characters: longer
   units use more techniques), at article level the paragraph models' logits of its
   paragraphs (max, mean, top-k mean: the paragraph models learn from ten times more
   units), and the tagger's token-score aggregates for the technique (max, mean, top-k mean
   and share of tokens at or above 0.5 of its *inside* channel: evidence the span
   decoder's threshold throws away still counts). Under 5-fold cross-validation the length
   and paragraph inputs lifted article AUC 0.674 -> 0.694 (de) and 0.725 -> 0.744 (en).
   Once the stacker is learned, the lexical models are refitted on the training and the
   stacking articles together (``refit``), so that new articles are scored by models that
   learned from every labelled article.

The stacker is fitted on units where both inputs are honest: the **dev articles**, which
neither the tagger nor the lexical models saw (or, without dev articles, the training
articles with out-of-fold lexical logits and cross-fitted token scores). A tagger's scores
on its own training articles are overconfident, and so are the lexical logits; a stacker
fitted on them would trust both too much. Being a logistic regression on held-out units,
its output is calibrated (0.8 means about 80% of such units use the technique), and the
prior offset keeps that per technique and language: a unit with average evidence gets its
technique's base rate. One stacker for all techniques, not one per technique, because a
26-article German dev split holds a handful of positives for most techniques: a few shared
weights can be learned from it, 23 separate calibrations cannot. A technique with fewer than ``min_positives`` positive training units
gets its smoothed base rate in the unit's language.

Stored in the model folder as arrays (``article_stage.safetensors``) plus JSON settings
(``article_stage.json``, with the priors); nothing is pickled. A folder without them has
no stage and exports null probabilities.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import normalize

from framescope.labels.atomic import atomic_open
from framescope.labels.paragraphs import paragraph_offsets
from framescope.model.numeric import THRESHOLD_GRID, micro_f1, sigmoid
from framescope.model.tagger import TokenScores

STAGE_WEIGHTS = "article_stage.safetensors"
STAGE_SETTINGS = "article_stage.json"
#: the stage's folder format. Format 3 stores only the kept hashed columns of the lexical
#: models (``columns``); format 2 stored all ``n_features`` and is still read. Other formats
#: are refused (retrain them).
STAGE_FORMAT = 3
READABLE_FORMATS = (2, 3)
#: the largest hashing space and n-gram length a folder may ask for: scoring allocates a
#: vector of ``n_features``, so an untrusted folder must not name 2^40
MAX_FEATURES = 2**24
MAX_NGRAM = 10
LEVELS = ("article", "paragraph")
#: the stacker's inputs per (unit, technique), before the token aggregates
BASE_INPUTS = ("lexical_logit",)
#: the unit's size, log(1 + characters): longer articles and paragraphs use more techniques
LENGTH_INPUTS = ("log_chars",)
#: article level only: the paragraph-level lexical logits of the article's paragraphs
#: (max, mean, top-k mean); the paragraph models learn from ten times more units
PARAGRAPH_INPUTS = ("paragraph_lexical_max", "paragraph_lexical_mean", "paragraph_lexical_top_k_mean")
TOKEN_INPUTS = ("token_max", "token_mean", "token_top_k_mean", "token_share")
POOLED = "*"


@dataclass(frozen=True)
class StageOptions:
    """The stage's hyper-parameters and their one set of defaults (a training config's
    ``article_stage`` section extends this class): hashed character n-grams (2-5-grams in
    2^20 buckets), the lexical models' inverse L2 strength ``C`` and cross-validation
    ``folds``, the length and paragraph-evidence stacker inputs, and the refit on training
    plus stacking articles."""

    n_features: int = 2**20
    ngram_range: tuple[int, int] = (2, 5)
    C: float = 10.0
    folds: int = 5
    length_feature: bool = True
    paragraph_evidence: bool = True
    refit: bool = True


@dataclass
class StageSettings:
    techniques: list[str]
    format: int = STAGE_FORMAT
    n_features: int = StageOptions.n_features
    ngram_range: tuple[int, int] = StageOptions.ngram_range
    C: float = StageOptions.C
    stacker_C: float = 1.0
    top_k: int = 5
    share_threshold: float = 0.5
    token_features: bool = True
    # the unit's length as a stacker input
    length_feature: bool = StageOptions.length_feature
    # the article's paragraph-level lexical logits as article-level stacker inputs
    paragraph_evidence: bool = StageOptions.paragraph_evidence
    paragraph_top_k: int = 3
    # with stacking articles: refit the lexical models on training + stacking articles once
    # the stacker is learned (fit time only; False in folders from before it existed)
    refit: bool = StageOptions.refit
    folds: int = StageOptions.folds
    # a technique with fewer positive units than this gets its smoothed base rate: a
    # classifier learned from 2-4 examples ranks noise and would be trusted
    min_positives: int = 5
    # pseudo-units of the pooled share in each language's prior (German has ~130 articles)
    prior_strength: float = 10.0
    # per level: language -> per-technique prior share; POOLED for languages not seen
    priors: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # per level: language -> per-technique mean stacker inputs on the stacking units ([K][n_inputs])
    centers: dict[str, dict[str, list[list[float]]]] = field(default_factory=dict)
    # decision thresholds on the calibrated probabilities (best micro-F1 out of fold)
    thresholds: dict[str, float] = field(default_factory=lambda: {"article": 0.5, "paragraph": 0.5})
    fit_info: dict = field(default_factory=dict)

    @classmethod
    def from_options(cls, techniques: list[str], options: StageOptions, token_features: bool = True) -> "StageSettings":
        """New, unfitted settings with ``options`` (a config's ``article_stage`` section)."""
        chosen = {f.name: getattr(options, f.name) for f in fields(StageOptions)}
        chosen["ngram_range"] = tuple(options.ngram_range)
        return cls(techniques=list(techniques), token_features=token_features, **chosen)

    def inputs(self, level: str) -> tuple[str, ...]:
        """The names of the stacker's inputs at ``level``, in order."""
        return (
            *BASE_INPUTS,
            *(LENGTH_INPUTS if self.length_feature else ()),
            *(PARAGRAPH_INPUTS if self.paragraph_evidence and level == "article" else ()),
            *(TOKEN_INPUTS if self.token_features else ()),
        )

    def n_inputs(self, level: str) -> int:
        return len(self.inputs(level))


@dataclass
class StagePrediction:
    """One article: ``article[T]`` and, per paragraph, ``(index, start, end, {T: p})``."""

    article: dict[str, float]
    paragraphs: list[tuple[int, int, int, dict[str, float]]]


@dataclass
class Units:
    """Articles as the stage sees them: texts, gold spans (for fitting), languages, token scores."""

    texts: Sequence[str]
    gold: Sequence[Sequence[tuple[int, int, str]]] | None = None
    langs: Sequence[str | None] | None = None
    scores: Sequence[TokenScores | None] | None = None


def units(text: str, level: str) -> list[tuple[int, int]]:
    """The character ranges one level scores: the whole text, or its paragraphs (lines)."""
    if level == "article":
        return [(0, len(text))]
    return paragraph_offsets(text)


def _aggregates(
    scores: TokenScores | None, spans: Sequence[tuple[int, int]], k: int, top_k: int, share_thr: float
) -> np.ndarray:
    """``[len(spans), K, 4]``: per technique max, mean, top-k mean, share >= threshold of *inside*."""
    out = np.zeros((len(spans), k, len(TOKEN_INPUTS)), dtype=np.float64)
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
        out[r] = np.stack([x.max(0), x.mean(0), top.mean(0), (x >= share_thr).mean(0)], axis=1)
    return out


def _classifier(c: float) -> LogisticRegression:
    """L2 logistic regression, solved in the dual: units are far fewer than the hundreds of
    thousands of hashed n-gram columns, where liblinear's dual solver is several times
    faster than the primal one for the same optimum. Seeded: the dual solver visits coordinates in random order,
    and an unseeded fit gives other weights on every run."""
    return LogisticRegression(C=c, solver="liblinear", dual=True, max_iter=1000, random_state=0)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class ArticleStage:
    """scikit-learn conventions (``fit``/``predict``), HF-style ``save_pretrained``/``from_pretrained``."""

    def __init__(self, settings: StageSettings):
        self.settings = settings
        self._vec = HashingVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(settings.ngram_range),
            n_features=settings.n_features,
            alternate_sign=False,
            norm=None,
            lowercase=True,
        )
        # per level: coef [K, D], intercept [K], idf [D], active [K] (0: the technique gets its
        # prior), stacker [n_inputs + 1] (weights, bias)
        self.weights: dict[str, dict[str, np.ndarray]] = {}
        # after a fit with stacking articles: their predictions by stackers that did not see
        # them and lexical models that did not train on them (the refitted ones did). The
        # honest figures for a dev report; not saved.
        self.stack_predictions: list[StagePrediction] | None = None

    @property
    def techniques(self) -> list[str]:
        return list(self.settings.techniques)

    # -- inputs -----------------------------------------------------------------------

    def _unit_rows(self, data: Units, level: str) -> tuple[list[str], np.ndarray, list[str | None]]:
        """Every unit's text, its article index and its article's language."""
        rows, groups, langs = [], [], []
        for i, text in enumerate(data.texts):
            spans = units(text, level)
            rows.extend(text[a:b] for a, b in spans)
            groups.extend([i] * len(spans))
            langs.extend([data.langs[i] if data.langs is not None else None] * len(spans))
        return rows, np.asarray(groups, dtype=np.int64), langs

    def _counts(self, rows: Sequence[str]) -> sp.csr_matrix:
        """Hashed character n-gram counts ``[len(rows), n_features]``."""
        if len(rows) == 0:  # no unit (blank articles have no paragraph): the vectorizer needs one
            return sp.csr_matrix((0, self.settings.n_features), dtype=np.float64)
        return self._vec.transform(rows).astype(np.float64).tocsr()

    @staticmethod
    def _weigh(counts: sp.csr_matrix, w: dict[str, np.ndarray]) -> sp.csr_matrix:
        """Sublinear TF-IDF of hashed counts, rows l2-normalised, on the level's kept columns
        (``w["columns"]``, with ``w["idf"]``).

        An n-gram that no training unit had has no weight, but it still counts towards the
        row's length, with the idf of an unseen n-gram (``w["idf_unseen"]``): a text full of
        new words gives weaker evidence. This is exactly the dense TF-IDF of format 2, whose
        unseen columns had that idf and a zero coefficient."""
        if counts.shape[0] == 0:
            return sp.csr_matrix((0, len(w["columns"])), dtype=np.float64)
        idf = np.full(counts.shape[1], w["idf_unseen"][0], dtype=np.float32)
        idf[w["columns"]] = w["idf"]
        x = counts.copy()
        x.data = 1.0 + np.log(x.data)
        return normalize(x @ sp.diags(idf), norm="l2", copy=False).tocsr()[:, w["columns"]]

    def _tfidf(self, rows: Sequence[str], w: dict[str, np.ndarray]) -> sp.csr_matrix:
        """The lexical models' inputs: :meth:`_weigh` of the rows' n-gram counts."""
        return self._weigh(self._counts(rows), w)

    def _token_inputs(self, data: Units, level: str) -> np.ndarray:
        s = self.settings
        k = len(s.techniques)
        blocks = [
            _aggregates(
                data.scores[i] if data.scores is not None else None, units(text, level), k, s.top_k, s.share_threshold
            )
            for i, text in enumerate(data.texts)
        ]
        return np.concatenate(blocks) if blocks else np.zeros((0, k, len(TOKEN_INPUTS)))

    def _prior_logits(self, level: str, langs: Sequence[str | None]) -> np.ndarray:
        """``[n, K]``: each unit's prior logit in its language."""
        table = {lang: _logit(np.asarray(p, dtype=np.float64)) for lang, p in self.settings.priors[level].items()}
        return _rows_by_language(table, langs, (len(self.techniques),))

    def _center_rows(self, level: str, langs: Sequence[str | None]) -> np.ndarray:
        """``[n, K, n_inputs]``: each unit's language centre."""
        table = {lang: np.asarray(c, dtype=np.float64) for lang, c in self.settings.centers[level].items()}
        return _rows_by_language(table, langs, (len(self.techniques), self.settings.n_inputs(level)))

    def _lexical(self, rows: Sequence[str], level: str) -> np.ndarray:
        """``[len(rows), K]``: the lexical models' logits (an empty text gets the intercept)."""
        w = self.weights[level]
        return np.asarray(self._tfidf(rows, w) @ w["coef"].T) + w["intercept"]

    def _paragraph_evidence(self, paragraph_lexical: np.ndarray, groups: np.ndarray, n_articles: int) -> np.ndarray:
        """``[n_articles, K, 3]``: max, mean and top-k mean of each article's paragraph logits
        (an article without paragraphs gets the paragraph models' intercept: an empty text)."""
        out = np.repeat(
            np.repeat(self.weights["paragraph"]["intercept"].astype(np.float64)[None, :, None], 3, axis=2),
            n_articles,
            axis=0,
        )
        z = np.clip(paragraph_lexical, -20, 20)
        bounds = _article_bounds(groups, n_articles)
        for i in range(n_articles):
            x = z[bounds[i] : bounds[i + 1]]
            if len(x):
                top = np.sort(x, axis=0)[-self.settings.paragraph_top_k :]
                out[i] = np.stack([x.max(0), x.mean(0), top.mean(0)], axis=1)
        return out

    def _stack_inputs(
        self,
        level: str,
        lexical: np.ndarray,
        tokens: np.ndarray | None,
        rows: Sequence[str],
        paragraphs: np.ndarray | None = None,
    ) -> np.ndarray:
        """``[n, K, n_inputs]``: the evidence the shared stacker weighs for each (unit, technique),
        in the order of :meth:`StageSettings.inputs`; ``paragraphs``: the article level's
        :meth:`_paragraph_evidence`."""
        parts = [np.clip(lexical, -20, 20)[..., None]]
        if self.settings.length_feature:
            size = np.log1p(np.array([len(r) for r in rows], dtype=np.float64))
            parts.append(np.repeat(size[:, None, None], lexical.shape[1], axis=1))
        if self.settings.paragraph_evidence and level == "article":
            parts.append(paragraphs)
        if self.settings.token_features:
            parts.append(tokens)
        return np.concatenate(parts, axis=2)

    @staticmethod
    def labels(
        texts: Sequence[str], gold: Sequence[Sequence[tuple[int, int, str]]], techniques: Sequence[str], level: str
    ) -> np.ndarray:
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
        langs: Sequence[str | None] | None = None,
        stack: Units | None = None,
    ) -> "ArticleStage":
        """Lexical models on the training articles; the stacker on ``stack`` (held-out
        articles with their honest token scores: the dev split) or, without it, on the
        training articles with out-of-fold lexical logits and the given ``scores``."""
        s = self.settings
        train = Units(texts, gold, langs, scores)
        # paragraphs first: the article level weighs the paragraph models' logits
        p_lexical, p_oof, p_groups = self._fit_level("paragraph", train, stack)
        _, a_oof, _ = self._fit_level("article", train, stack, (p_lexical, p_groups))
        s.fit_info.update(
            {
                "articles": len(texts),
                "stacked_on": "held-out articles" if stack is not None else "training articles (out of fold)",
            }
        )
        if stack is not None:
            s.fit_info["stack_articles"] = len(stack.texts)
            self.stack_predictions = self._predictions(stack.texts, a_oof, p_oof, p_groups)
            if s.refit:
                self._refit_lexical(Units([*texts, *stack.texts], [*gold, *stack.gold]))
        s.fit_info["lexical_models_trained_on"] = (
            "training and stacking articles" if stack is not None and s.refit else "training articles"
        )
        return self

    def _fit_lexical(self, rows: Sequence[str], y: np.ndarray, active: np.ndarray) -> dict[str, np.ndarray]:
        """One level's lexical models: the hashed ``columns`` that training units have, their
        ``idf`` (and ``idf_unseen``, the idf of every other column), and ``coef`` and
        ``intercept`` per active technique. Only those columns are stored: any other column
        gets a zero coefficient anyway, so the hashing space can be large (few collisions
        between the n-grams of six languages) while the folder holds only what was learned."""
        k = len(self.settings.techniques)
        counts = self._counts(rows)
        df = np.diff(counts.tocsc().indptr)
        columns = np.flatnonzero(df).astype(np.int32)
        vocab = {
            "columns": columns,
            "idf": (np.log((1.0 + len(rows)) / (1.0 + df[columns])) + 1.0).astype(np.float32),
            "idf_unseen": np.array([np.log(1.0 + len(rows)) + 1.0], dtype=np.float32),
        }
        x = self._weigh(counts, vocab)
        coef = np.zeros((k, x.shape[1]), np.float32)
        intercept = np.zeros(k, np.float32)
        for j in np.flatnonzero(active):
            clf = _classifier(self.settings.C).fit(x, y[:, j])
            coef[j], intercept[j] = clf.coef_[0], clf.intercept_[0]
        return {**vocab, "coef": coef, "intercept": intercept}

    def _refit_lexical(self, both: Units) -> None:
        """Refit the lexical models on the training and the stacking articles together, once
        the stacker, centres and thresholds are learned from the honest logits: the models
        that score new articles learn from every labelled article (like scikit-learn's
        StackingClassifier refitting its base estimators). Under 5-fold cross-validation:
        paragraph micro-F1 0.416 -> 0.421 (de), 0.398 -> 0.406 (en), article AUC +0.001 /
        +0.007."""
        for level in LEVELS:
            rows, _, _ = self._unit_rows(both, level)
            y = self.labels(both.texts, both.gold, self.settings.techniques, level)
            self.weights[level].update(self._fit_lexical(rows, y, self.weights[level]["active"].astype(bool)))

    def _fit_level(
        self,
        level: str,
        train: Units,
        stack: Units | None,
        paragraph_lexical: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fit one level; returns the stacking units' honest lexical logits (the paragraph
        level's feed the article level's stacker), their out-of-fold stacked probabilities
        and their article indices."""
        s = self.settings
        k = len(s.techniques)
        rows, groups, langs = self._unit_rows(train, level)
        y = self.labels(train.texts, train.gold, s.techniques, level)
        s.priors[level] = _priors(y, langs, s.prior_strength)
        active = np.array([s.min_positives <= int(y[:, j].sum()) <= len(y) - 2 for j in range(k)], dtype=bool)
        self.weights[level] = {
            **self._fit_lexical(rows, y, active),
            "active": active.astype(np.int8),
            "stacker": np.zeros(s.n_inputs(level) + 1, np.float32),
        }

        # the stacker's units: held-out articles, or the training ones with out-of-fold lexical logits
        if stack is not None:
            s_rows, s_groups, s_langs = self._unit_rows(stack, level)
            s_y = self.labels(stack.texts, stack.gold, s.techniques, level)
            lexical = self._lexical(s_rows, level)
            tokens = self._token_inputs(stack, level) if s.token_features else None
        else:
            s_rows, s_groups, s_langs, s_y = rows, groups, langs, y
            x = self._tfidf(rows, self.weights[level])
            lexical = self._out_of_fold_lexical(x, y, groups, active)
            tokens = self._token_inputs(train, level) if s.token_features else None
        # each technique's evidence relative to its mean in the unit's language: with average
        # evidence a unit gets its prior. Per language, because the lexical logits also
        # encode the language (German articles use more techniques, and their n-grams say
        # they are German): centred across languages, they would count the prior twice.
        paragraphs = None
        if s.paragraph_evidence and level == "article":
            paragraphs = self._paragraph_evidence(*paragraph_lexical, len(s_y))
        raw = self._stack_inputs(level, lexical, tokens, s_rows, paragraphs)
        s.centers[level] = _centers(raw, s_langs, s.prior_strength)
        inputs, prior = raw - self._center_rows(level, s_langs), self._prior_logits(level, s_langs)
        self.weights[level]["stacker"] = _fit_stacker(inputs[:, active], prior[:, active], s_y[:, active], s.stacker_C)
        oof = self._out_of_fold_stacked(inputs, prior, s_y, s_groups, active)
        s.thresholds[level] = _best_threshold(oof, s_y)
        s.fit_info[level] = {
            "units": int(len(y)),
            "stack_units": int(len(s_y)),
            "techniques_learned": int(active.sum()),
            "oof_micro_f1": round(micro_f1(oof >= s.thresholds[level], s_y), 4),
            "stacker": dict(
                zip([*s.inputs(level), "bias"], [round(float(v), 4) for v in self.weights[level]["stacker"]])
            ),
        }
        return lexical, oof, s_groups

    def _out_of_fold_lexical(self, x, y: np.ndarray, groups: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Lexical logits of every training unit from models that did not see its article."""
        s = self.settings
        z = np.zeros(y.shape, np.float64) + _logit((y.sum(axis=0) + 0.5) / (len(y) + 1.0))  # a fold without positives
        n_folds = min(s.folds, len(set(groups.tolist())))
        if n_folds < 2:
            return z
        for tr, te in GroupKFold(n_splits=n_folds).split(x, y, groups):
            for j in np.flatnonzero(active):
                target = y[tr, j]
                if target.min() == target.max():
                    continue
                z[te, j] = _classifier(s.C).fit(x[tr], target).decision_function(x[te])
        return z

    def _out_of_fold_stacked(self, inputs, prior, y, groups, active) -> np.ndarray:
        """Stacker probabilities of the stacking units from stackers that did not see their
        article: the evidence the decision threshold is chosen on."""
        s = self.settings
        prob = sigmoid(prior)
        n_folds = min(s.folds, len(set(groups.tolist())))
        if n_folds < 2:
            return prob  # one stacking article: no out-of-fold evidence beyond the priors
        for tr, te in GroupKFold(n_splits=n_folds).split(inputs, y, groups):
            w = _fit_stacker(inputs[tr][:, active], prior[tr][:, active], y[tr][:, active], s.stacker_C)
            prob[te] = _stacked(inputs[te], prior[te], active, w)
        return prob

    def predict_level(
        self,
        texts: Sequence[str],
        scores: Sequence[TokenScores | None] | None,
        level: str,
        langs: Sequence[str | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities ``[n_units, K]`` of every unit of ``level`` and the units' article index."""
        prob, groups, _ = self._predict_level(Units(texts, None, langs, scores), level)
        return prob, groups

    def _predict_level(
        self,
        data: Units,
        level: str,
        paragraph_lexical: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Probabilities, article indices and lexical logits (with their article indices: the
        article level reuses the paragraph level's) of every unit of ``level``."""
        w = self.weights[level]
        rows, groups, unit_langs = self._unit_rows(data, level)
        lexical = self._lexical(rows, level)
        tokens = self._token_inputs(data, level) if self.settings.token_features else None
        paragraphs = None
        if self.settings.paragraph_evidence and level == "article":
            if paragraph_lexical is None:
                p_rows, p_groups, _ = self._unit_rows(data, "paragraph")
                paragraph_lexical = (self._lexical(p_rows, "paragraph"), p_groups)
            paragraphs = self._paragraph_evidence(*paragraph_lexical, len(data.texts))
        inputs = self._stack_inputs(level, lexical, tokens, rows, paragraphs) - self._center_rows(level, unit_langs)
        prob = _stacked(inputs, self._prior_logits(level, unit_langs), w["active"].astype(bool), w["stacker"])
        return prob, groups, (lexical, groups)

    def predict(
        self,
        texts: Sequence[str],
        scores: Sequence[TokenScores | None] | None = None,
        langs: Sequence[str | None] | None = None,
    ) -> list[StagePrediction]:
        """Per article, the article's and each paragraph's probability of every technique.

        ``langs`` picks each article's prior (``None`` or an unseen language: the pooled one)."""
        data = Units(texts, None, langs, scores)
        par, groups, paragraph_lexical = self._predict_level(data, "paragraph")
        art, _, _ = self._predict_level(data, "article", paragraph_lexical)
        return self._predictions(texts, art, par, groups)

    def _predictions(
        self, texts: Sequence[str], art: np.ndarray, par: np.ndarray, groups: np.ndarray
    ) -> list[StagePrediction]:
        """Per article, its row of ``art`` and its paragraphs' rows of ``par`` as predictions."""
        techs = self.techniques
        bounds = _article_bounds(groups, len(texts))
        out = []
        for i, text in enumerate(texts):
            rows = par[bounds[i] : bounds[i + 1]]
            paragraphs = [
                (n, a, b, {t: float(p) for t, p in zip(techs, rows[n])})
                for n, (a, b) in enumerate(units(text, "paragraph"))
            ]
            out.append(StagePrediction({t: float(p) for t, p in zip(techs, art[i])}, paragraphs))
        return out

    # -- folder -----------------------------------------------------------------------

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        tensors = {
            f"{level}.{name}": np.ascontiguousarray(arr)
            for level, ws in self.weights.items()
            for name, arr in ws.items()
        }
        save_file(tensors, str(folder / STAGE_WEIGHTS))
        with atomic_open(folder / STAGE_SETTINGS) as fh:
            json.dump(asdict(self.settings), fh, indent=2, ensure_ascii=False)
            fh.write("\n")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "ArticleStage | None":
        """The folder's stage, or ``None`` for folders trained before there was one.

        A model folder is untrusted input and must load exactly: settings that do not parse,
        another stage format, missing or unexpected arrays, arrays of the wrong shape or
        priors of the wrong length are a :class:`~framescope.errors.ModelError`, never a
        stage that scores with zeros.
        """
        from framescope.errors import ModelError
        from framescope.model import folder_checks as checks

        folder = Path(folder)
        if not (folder / STAGE_SETTINGS).exists():
            if (folder / STAGE_WEIGHTS).exists():
                raise ModelError(f"model folder {folder}: {STAGE_WEIGHTS} without {STAGE_SETTINGS}")
            return None
        try:
            data = json.loads((folder / STAGE_SETTINGS).read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if data.get("format") not in READABLE_FORMATS:
                raise ValueError(
                    f"stage format {data.get('format', 1)}, this framescope reads formats "
                    f"{', '.join(map(str, READABLE_FORMATS))}: train the model again"
                )
            unknown = sorted(set(data) - set(StageSettings.__dataclass_fields__))
            if unknown:
                raise ValueError(f"unknown keys {', '.join(unknown)}")
            check_vectorizer(data.get("n_features"), data.get("ngram_range"))
            checks.check_stage_settings(folder, data)  # every value's type and range, one line naming the key
            # format-2 folders written before these inputs existed: load them as they were fitted
            data.setdefault("length_feature", False)
            data.setdefault("paragraph_evidence", False)
            data.setdefault("refit", False)
            stage = cls(StageSettings(**data))
            tensors = load_file(str(folder / STAGE_WEIGHTS))
        except ModelError:
            raise
        except Exception as err:  # JSON, dataclass or safetensors errors alike: the folder is broken
            raise ModelError(f"model folder {folder}: the article stage does not load ({err})") from None
        s = stage.settings
        k = len(stage.techniques)
        names = ("coef", "intercept", "idf", "active", "stacker") + (("columns", "idf_unseen") if s.format >= 3 else ())
        want = {f"{level}.{name}" for level in LEVELS for name in names}
        if set(tensors) != want:
            missing, extra = sorted(want - set(tensors)), sorted(set(tensors) - want)
            raise ModelError(f"model folder {folder}: {STAGE_WEIGHTS} lacks {missing} / has unexpected {extra}")
        for level in LEVELS:
            if s.format >= 3:
                columns = tensors[f"{level}.columns"]
                ok = (
                    columns.ndim == 1
                    and columns.dtype == np.int32
                    and (
                        len(columns) == 0
                        or (columns[0] >= 0 and columns[-1] < s.n_features and bool(np.all(np.diff(columns) > 0)))
                    )
                )
                if not ok:
                    raise ModelError(
                        f"model folder {folder}: {STAGE_WEIGHTS} {level}.columns must be increasing int32 "
                        f"column numbers below n_features {s.n_features}"
                    )
            else:  # format 2 stored every hashed column (so none is unseen: its idf is never used)
                tensors[f"{level}.columns"] = columns = np.arange(s.n_features, dtype=np.int32)
                tensors[f"{level}.idf_unseen"] = np.ones(1, np.float32)
            d = len(columns)
            shapes = {
                "columns": (d,),
                "coef": (k, d),
                "intercept": (k,),
                "idf": (d,),
                "idf_unseen": (1,),
                "active": (k,),
                "stacker": (s.n_inputs(level) + 1,),
            }
            for name, shape in shapes.items():
                arr = tensors[f"{level}.{name}"]
                if tuple(arr.shape) != shape:
                    raise ModelError(
                        f"model folder {folder}: {STAGE_WEIGHTS} {level}.{name} has shape {tuple(arr.shape)}, "
                        f"not {shape} ({k} techniques)"
                    )
            stage.weights[level] = {name: tensors[f"{level}.{name}"] for name in shapes}
            checks.check_stage_arrays(folder, level, stage.weights[level])
            priors = s.priors.get(level) if isinstance(s.priors, dict) else None
            if (
                not isinstance(priors, dict)
                or POOLED not in priors
                or any(
                    not isinstance(p, list)
                    or len(p) != k
                    or not all(isinstance(v, (int, float)) and 0 < v < 1 for v in p)
                    for p in priors.values()
                )
            ):
                raise ModelError(
                    f"model folder {folder}: {STAGE_SETTINGS} priors.{level} must map languages and {POOLED!r} to {k} shares in (0, 1)"
                )
            centers = s.centers.get(level) if isinstance(s.centers, dict) else None
            if (
                not isinstance(centers, dict)
                or POOLED not in centers
                or any(
                    np.asarray(c, dtype=object).shape != (k, s.n_inputs(level))
                    or not all(checks.is_number(v) for row in c for v in row)
                    for c in centers.values()
                )
            ):
                raise ModelError(
                    f"model folder {folder}: {STAGE_SETTINGS} centers.{level} must map languages and {POOLED!r} to {k} x {s.n_inputs(level)} numbers"
                )
        return stage

    def digest(self, h) -> None:
        """Feed the stage's settings and arrays into the hash ``h`` (the model's fingerprint)."""
        h.update(json.dumps(asdict(self.settings), sort_keys=True, default=str).encode("utf-8"))
        for level in sorted(self.weights):
            for name in sorted(self.weights[level]):
                h.update(f"stage.{level}.{name}".encode())
                h.update(memoryview(np.ascontiguousarray(self.weights[level][name]).tobytes()))


def check_vectorizer(n_features, ngram_range) -> None:
    """The hashing settings of a folder's ``article_stage.json`` (``ValueError`` otherwise)."""

    def whole(v, top: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= top

    if not whole(n_features, MAX_FEATURES):
        raise ValueError(f"n_features must be a whole number from 1 to {MAX_FEATURES}, not {n_features!r}")
    if not (
        isinstance(ngram_range, (list, tuple))
        and len(ngram_range) == 2
        and all(whole(v, MAX_NGRAM) for v in ngram_range)
        and ngram_range[0] <= ngram_range[1]
    ):
        raise ValueError(f"ngram_range must be [min, max] with 1 <= min <= max <= {MAX_NGRAM}, not {ngram_range!r}")


def _priors(y: np.ndarray, langs: Sequence[str | None], strength: float) -> dict[str, list[float]]:
    """Per language (and pooled), each technique's share of units, smoothed: a language's
    share is pulled towards the pooled one by ``strength`` pseudo-units, the pooled one
    towards 0 by half a unit (a technique never seen is rare, not impossible)."""
    pooled = (y.sum(axis=0) + 0.5) / (len(y) + 1.0)
    return {
        lang: [round(float(v), 6) for v in share] for lang, share in _by_language(y, langs, pooled, strength).items()
    }


def _by_language(
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


def _article_bounds(groups: np.ndarray, n_articles: int) -> np.ndarray:
    """``[n_articles + 1]``: article ``i``'s units are rows ``bounds[i]:bounds[i + 1]``.
    Units come article by article (``_unit_rows``), so each article's rows are one slice;
    masking ``groups == i`` per article instead is quadratic in a large scoring batch."""
    return np.searchsorted(groups, np.arange(n_articles + 1))


def _rows_by_language(table: dict[str, np.ndarray], langs: Sequence[str | None], shape: tuple[int, ...]) -> np.ndarray:
    """``[n, *shape]``: each unit's entry of ``table`` (the pooled one for languages not in it)."""
    if not langs:
        return np.zeros((0, *shape))
    return np.stack([table.get(str(lang), table[POOLED]) for lang in langs])


def _stacked(inputs: np.ndarray, prior: np.ndarray, active: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Probabilities ``[n, K]``: the prior logit plus the weighed evidence; techniques that are
    not ``active`` keep their prior."""
    out = sigmoid(prior)
    out[:, active] = sigmoid(prior[:, active] + inputs[:, active] @ w[:-1] + w[-1])
    return out


def _centers(raw: np.ndarray, langs: Sequence[str | None], strength: float) -> dict[str, list[list[float]]]:
    """Mean stacker inputs per technique, pooled and per language (pulled towards the pooled
    mean by ``strength`` pseudo-units, like the priors: 20 German dev articles are few)."""
    pooled = raw.mean(axis=0) if len(raw) else np.zeros(raw.shape[1:])
    return {lang: np.round(c, 6).tolist() for lang, c in _by_language(raw, langs, pooled, strength).items()}


def _fit_stacker(inputs: np.ndarray, prior: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    """One logistic regression over all (unit, technique) pairs, with the prior logit as its
    offset: ``[weights..., bias]``, L2 ``1/c`` on the weights (not the bias).

    The offset is why the stacker keeps every technique's base rate: with no evidence
    beyond the average (centred inputs 0), a unit gets its technique's prior in its
    language. A shared weight on the prior would pull rare techniques up and common ones
    down. scikit-learn's LogisticRegression has no offset; the problem is a handful of
    parameters, so L-BFGS on the exact loss is direct.
    """
    from scipy.optimize import minimize

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


def _best_threshold(prob: np.ndarray, gold: np.ndarray) -> float:
    """One threshold for all techniques: the best micro-F1 over the out-of-fold probabilities."""
    best, best_f1 = 0.5, -1.0
    for thr in THRESHOLD_GRID:
        f1 = micro_f1(prob >= thr, gold)
        if f1 > best_f1:
            best, best_f1 = thr, f1
    return float(best)
