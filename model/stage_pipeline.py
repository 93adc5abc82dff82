"""The article stage as one object: the estimators of ``stage_*`` put together per level.

Paragraphs are fitted first, because the article level weighs the paragraph models' logits.
Per level: the lexical models on the training units, the priors per language, then the
stacker on units where both kinds of evidence are honest (see :meth:`ArticleStage.fit`),
then the decision threshold on the stacker's out-of-fold probabilities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from framescope.model.numeric import micro_f1
from framescope.model.stage_features import StackFeatures, Units, predictions, unit_labels, unit_rows
from framescope.model.stage_folder import digest, load_stage, save_stage
from framescope.model.stage_lexical import HashedTfidfLogit
from framescope.model.stage_settings import LEVELS, StagePrediction, StageSettings
from framescope.model.stage_stacker import LanguageCentres, LanguagePrior, OffsetStacker, best_threshold
from framescope.model.tagger import TokenScores

Gold = Sequence[Sequence[tuple[int, int, str]]]


class ArticleStage:
    """scikit-learn conventions (``fit``/``predict``), HF-style ``save_pretrained``/``from_pretrained``.

    ``weights[level]`` holds the arrays the folder stores: the lexical models' (see
    :class:`HashedTfidfLogit`), ``active [K]`` (0: the technique keeps its prior) and
    ``stacker [n_inputs + 1]`` (weights, bias). After a fit with stacking articles,
    ``stack_predictions`` holds their predictions by stackers that did not see them and
    lexical models that did not train on them: the honest figures for a dev report (not saved).
    ``settings`` and ``weights`` keep the names the folder format and the callers use; the
    estimators they configure follow scikit-learn's conventions.
    """

    def __init__(self, settings: StageSettings):
        self.settings = settings
        self.weights: dict[str, dict[str, np.ndarray]] = {}
        self.stack_predictions: list[StagePrediction] | None = None

    @property
    def techniques(self) -> list[str]:
        return list(self.settings.techniques)

    labels = staticmethod(unit_labels)

    # -- the estimators, as this stage's settings and weights configure them (the one-line
    # methods keep the names that callers and tests used before the estimators existed) --

    def _features(self) -> StackFeatures:
        return StackFeatures.from_settings(self.settings)

    def _lexical_model(self, level: str | None = None) -> HashedTfidfLogit:
        s = self.settings
        if level is None:
            return HashedTfidfLogit(s.n_features, s.ngram_range, s.C)
        return HashedTfidfLogit.from_arrays(self.weights[level], s.n_features, s.ngram_range, s.C)

    def _fit_lexical(self, rows: Sequence[str], y: np.ndarray, active: np.ndarray) -> dict[str, np.ndarray]:
        return self._lexical_model().fit(rows, y, active).arrays()

    def _lexical(self, rows: Sequence[str], level: str) -> np.ndarray:
        return self._lexical_model(level).decision_function(rows)

    def _paragraph_evidence(self, paragraph_lexical: np.ndarray, groups: np.ndarray, n_articles: int) -> np.ndarray:
        intercept = self.weights["paragraph"]["intercept"]
        return self._features().paragraph_summary(paragraph_lexical, groups, n_articles, intercept)

    def _inputs(self, level: str, data: Units, rows, lexical, langs, paragraph_lexical, fit: bool = False):
        """The stacker inputs ``[n, K, n_inputs]`` of ``data``'s units of ``level``, centred on
        their language's means (learned from these units when ``fit``): with average evidence
        a unit gets its prior."""
        features = self._features()
        tokens = features.token_inputs(data, level, len(self.techniques))
        paragraphs = None
        if features.uses_paragraphs(level):
            paragraphs = self._paragraph_evidence(*paragraph_lexical, len(data.texts))
        raw = features.transform(level, lexical, tokens, rows, paragraphs)
        if fit:
            self.settings.centers[level] = LanguageCentres(self.settings.prior_strength).fit(raw, langs).centres_
        return raw - LanguageCentres.rows(self.settings.centers[level], langs)

    # -- fit ----------------------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        gold: Gold,
        scores: Sequence[TokenScores | None] | None = None,
        langs: Sequence[str | None] | None = None,
        stack: Units | None = None,
    ) -> "ArticleStage":
        """Lexical models on the training articles; the stacker on ``stack`` (held-out
        articles with their honest token scores: the dev split) or, without it, on the
        training articles with out-of-fold lexical logits and the given ``scores``.

        A tagger's scores on its own training articles are overconfident, and so are the
        lexical logits: a stacker fitted on them would trust both too much. Once the stacker
        is learned, the lexical models are refitted on the training and the stacking
        articles together (``refit``, like scikit-learn's StackingClassifier refitting its
        base estimators), so that new articles are scored by models that learned from every
        labelled article."""
        s = self.settings
        train = Units(texts, gold, langs, scores)
        p_lexical, p_oof, p_groups = self._fit_level("paragraph", train, stack)
        _, a_oof, _ = self._fit_level("article", train, stack, (p_lexical, p_groups))
        s.fit_info["articles"] = len(texts)
        s.fit_info["stacked_on"] = "held-out articles" if stack is not None else "training articles (out of fold)"
        if stack is not None:
            s.fit_info["stack_articles"] = len(stack.texts)
            self.stack_predictions = self._predictions(stack.texts, a_oof, p_oof, p_groups)
            if s.refit:
                self._refit_lexical(Units([*texts, *stack.texts], [*gold, *stack.gold]))
        s.fit_info["lexical_models_trained_on"] = (
            "training and stacking articles" if stack is not None and s.refit else "training articles"
        )
        return self

    def _refit_lexical(self, both: Units) -> None:
        """Refit the lexical models on the training and the stacking articles together, once
        the stacker, centres and thresholds are learned from the honest logits."""
        for level in LEVELS:
            rows, _, _ = unit_rows(both, level)
            y = unit_labels(both.texts, both.gold, self.settings.techniques, level)
            self.weights[level].update(self._fit_lexical(rows, y, self.weights[level]["active"].astype(bool)))

    def _fit_level(self, level: str, train: Units, stack: Units | None, paragraph_lexical=None):
        """Fit one level; returns the stacking units' honest lexical logits (the paragraph
        level's feed the article level's stacker), their out-of-fold stacked probabilities
        and their article indices."""
        s = self.settings
        rows, groups, langs = unit_rows(train, level)
        y = unit_labels(train.texts, train.gold, s.techniques, level)
        s.priors[level] = LanguagePrior(s.prior_strength).fit(y, langs).shares_
        # a technique with too few positives (or negatives) keeps its prior
        active = np.array([s.min_positives <= int(t) <= len(y) - 2 for t in y.sum(axis=0)], dtype=bool)
        lexical_model = self._lexical_model().fit(rows, y, active)
        self.weights[level] = {
            **lexical_model.arrays(),
            "active": active.astype(np.int8),
            "stacker": np.zeros(s.n_inputs(level) + 1, np.float32),
        }
        if stack is not None:  # the stacker's units: held-out articles ...
            data, (s_rows, s_groups, s_langs) = stack, unit_rows(stack, level)
            s_y = unit_labels(stack.texts, stack.gold, s.techniques, level)
            lexical = lexical_model.decision_function(s_rows)
        else:  # ... or the training ones with out-of-fold lexical logits
            data, s_rows, s_groups, s_langs, s_y = train, rows, groups, langs, y
            lexical = lexical_model.out_of_fold(rows, y, groups, s.folds, active)
        inputs = self._inputs(level, data, s_rows, lexical, s_langs, paragraph_lexical, fit=True)
        prior = LanguagePrior.logits(s.priors[level], s_langs)
        stacker = OffsetStacker(s.stacker_C).fit(inputs, prior, s_y, active)
        self.weights[level]["stacker"] = stacker.weights_
        oof = stacker.out_of_fold(inputs, prior, s_y, s_groups, active, s.folds)
        s.thresholds[level] = best_threshold(oof, s_y)
        s.fit_info[level] = {
            "units": int(len(y)),
            "stack_units": int(len(s_y)),
            "techniques_learned": int(active.sum()),
            "oof_micro_f1": round(micro_f1(oof >= s.thresholds[level], s_y), 4),
            "stacker": dict(zip([*s.inputs(level), "bias"], [round(float(v), 4) for v in stacker.weights_])),
        }
        return lexical, oof, s_groups

    # -- predict --------------------------------------------------------------------------

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

    def _predict_level(self, data: Units, level: str, paragraph_lexical=None):
        """Probabilities, article indices and lexical logits (with their article indices: the
        article level reuses the paragraph level's) of every unit of ``level``."""
        w = self.weights[level]
        rows, groups, unit_langs = unit_rows(data, level)
        lexical = self._lexical(rows, level)
        if self.settings.paragraph_evidence and level == "article" and paragraph_lexical is None:
            p_rows, p_groups, _ = unit_rows(data, "paragraph")
            paragraph_lexical = (self._lexical(p_rows, "paragraph"), p_groups)
        inputs = self._inputs(level, data, rows, lexical, unit_langs, paragraph_lexical)
        stacker = OffsetStacker(self.settings.stacker_C)
        stacker.weights_ = w["stacker"]
        prior = LanguagePrior.logits(self.settings.priors[level], unit_langs)
        return stacker.predict_proba(inputs, prior, w["active"].astype(bool)), groups, (lexical, groups)

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
        return predictions(texts, art, par, groups, self.techniques)

    # -- folder -----------------------------------------------------------------------------

    def save_pretrained(self, folder: str | Path) -> None:
        save_stage(folder, self.settings, self.weights)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "ArticleStage | None":
        """The folder's stage, checked (:mod:`framescope.model.stage_folder`), or ``None`` for
        folders trained before there was one."""
        loaded = load_stage(folder)
        if loaded is None:
            return None
        stage = cls(loaded[0])
        stage.weights = loaded[1]
        return stage

    def digest(self, h) -> None:
        """Feed the stage's settings and arrays into the hash ``h`` (the model's fingerprint)."""
        digest(h, self.settings, self.weights)
