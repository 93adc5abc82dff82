"""The second stage: calibrated per-technique probabilities for whole articles and paragraphs.

Why a second stage: the span tagger is the right tool to highlight phrases but the wrong
estimator for "does this article use technique T": its best span confidence barely ranks
articles above chance in some languages, and a technique it never predicts scores 0
everywhere. This stage learns that question directly, per level (the whole article, and
each paragraph = non-empty line), in two steps:

1. **Lexical models** (:mod:`~framescope.model.stage_lexical`), one per technique: an L2
   logistic regression over sublinear TF-IDF of hashed character n-grams of the unit's text.
2. **Stacker** (:mod:`~framescope.model.stage_stacker`), one logistic regression *shared by
   all techniques*, with the technique's prior logit in the unit's language as its offset. It
   weighs the evidence of each (unit, technique) (:mod:`~framescope.model.stage_features`),
   centred on that technique's mean: the lexical model's logit, the unit's length (longer
   units use more techniques), at article level the paragraph models' logits of its
   paragraphs (they learn from ten times more units), and the tagger's token-score
   aggregates for the technique (evidence the span decoder's threshold throws away still
   counts).

The stacker is fitted on units where both inputs are honest: the **dev articles**, which
neither the tagger nor the lexical models saw (or, without dev articles, the training
articles with out-of-fold lexical logits and cross-fitted token scores). Being a logistic
regression on held-out units, its output is calibrated (0.8 means about 80% of such units
use the technique). A technique with fewer than ``min_positives`` positive training units
gets its smoothed base rate in the unit's language.

Stored in the model folder as arrays (``article_stage.safetensors``) plus JSON settings
(``article_stage.json``, with the priors; :mod:`~framescope.model.stage_folder`); nothing is
pickled. A folder without them has no stage and exports null probabilities. The
cross-validated figures behind each design choice are in docs/results.md.

This module is the stage's public face: the pieces live in the ``stage_*`` modules.
"""

from __future__ import annotations

from framescope.model.stage_features import StackFeatures, Units, units
from framescope.model.stage_folder import load_stage, save_stage
from framescope.model.stage_lexical import HashedTfidfLogit
from framescope.model.stage_pipeline import ArticleStage
from framescope.model.stage_settings import (
    BASE_INPUTS,
    LENGTH_INPUTS,
    LEVELS,
    MAX_FEATURES,
    MAX_NGRAM,
    PARAGRAPH_INPUTS,
    POOLED,
    READABLE_FORMATS,
    STAGE_FORMAT,
    STAGE_SETTINGS,
    STAGE_WEIGHTS,
    TOKEN_INPUTS,
    StageOptions,
    StagePrediction,
    StageSettings,
    check_vectorizer,
)
from framescope.model.stage_stacker import LanguageCentres, LanguagePrior, OffsetStacker

__all__ = [
    "ArticleStage",
    "BASE_INPUTS",
    "HashedTfidfLogit",
    "LanguageCentres",
    "LanguagePrior",
    "LENGTH_INPUTS",
    "LEVELS",
    "MAX_FEATURES",
    "MAX_NGRAM",
    "OffsetStacker",
    "PARAGRAPH_INPUTS",
    "POOLED",
    "READABLE_FORMATS",
    "STAGE_FORMAT",
    "STAGE_SETTINGS",
    "STAGE_WEIGHTS",
    "StackFeatures",
    "StageOptions",
    "StagePrediction",
    "StageSettings",
    "TOKEN_INPUTS",
    "Units",
    "check_vectorizer",
    "load_stage",
    "save_stage",
    "units",
]
