"""The sections of a training config, one frozen dataclass each (the YAML's layout).

Why apart from :mod:`framescope.training.config`: these are the config's *contents*, its
keys, types, choices and defaults, which a reader looks up; ``config.py`` is how a file
becomes a checked :class:`~framescope.training.config.Config`. Every section is importable
from ``framescope.training.config`` as well. The linear tagger's and the article stage's
hyper-parameters are defined in the model layer, next to the objects that use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from framescope.model.article_stage import StageOptions
from framescope.model.linear import LinearSettings
from framescope.model.schemes import CONFIG_DEFAULT

ModelType = Literal["linear", "transformer"]
# multilabel-softmax (soft k-hot targets, softmax) | multilabel (sigmoid per channel)
# | bio (the textbook single-label reference); see model/schemes.py
SchemeName = Literal["multilabel-softmax", "multilabel", "bio"]
Loss = Literal["bce", "focal"]
# fp32 | bf16 | fp16 (mixed precision; fp16 needs CUDA)
Precision = Literal["fp32", "bf16", "fp16"]
# span (span F1), mean or harmonic (of span F1 and paragraph F1); see calibration.py
Objective = Literal["span", "mean", "harmonic"]
TokenScoreSource = Literal["auto", "dev", "crossfit", "none"]


@dataclass(frozen=True)
class Corpus:
    """One annotated corpus: a file or folder and its format (detected when omitted).
    A config may give just the path as a string."""

    path: str
    format: str | None = None


@dataclass(frozen=True)
class DataConfig:
    train: tuple[Corpus, ...] = ()
    dev: tuple[Corpus, ...] = ()  # explicit dev corpora; when empty, an article-level split of train
    langs: tuple[str, ...] | None = None  # e.g. [de, en]; None keeps all
    dev_fraction: float = 0.2
    split_seed: int = 0


@dataclass(frozen=True)
class ModelConfig:
    type: ModelType = "linear"
    base: str = "minilm"  # transformer: "minilm" (the packaged MiniLM), a local folder, or a hub name
    max_length: int = 256
    stride: int = 64
    scheme: SchemeName = CONFIG_DEFAULT
    # keep the encoder's word-embedding table as pretrained (no gradient, no optimizer state): for
    # a large multilingual vocabulary it halves the CPU training time, and the model folder
    # references the table in the base instead of storing it (docs/training.md)
    freeze_embeddings: bool = False


#: the linear tagger's section: its hyper-parameters live with the tagger (model/linear.py)
LinearConfig = LinearSettings


@dataclass(frozen=True)
class TrainingConfig:
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 16
    eval_batch_size: int = 64  # windows per forward pass when scoring dev articles (capped by max_batch_tokens)
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5.0e-5
    head_learning_rate: float | None = None  # a separate rate for the new classifier head
    # epochs at the start in which only the head trains, the encoder's rate held at 0
    # (linear probing before fine-tuning; training/schedules.py)
    head_only_epochs: float = 0.0
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    loss: Loss = "bce"  # the multilabel scheme's loss
    pos_weight_max: float = 10.0
    focal_gamma: float = 2.0
    early_stopping_patience: int = 2
    eval_every_epochs: float = 1
    threads: int | None = None
    max_train_windows: int | None = None
    # GPU training: mixed precision, TF32 matmuls on Ampere or newer, dataloader worker processes
    precision: Precision = "fp32"
    tf32: bool = False
    dataloader_workers: int = 0


@dataclass(frozen=True)
class CalibrationConfig:
    """The threshold search's settings and their one set of defaults (see calibration.py)."""

    min_support: int = 10
    max_length_ratio: float = 2.0
    begin_threshold: float = 0.5
    objective: Objective = "mean"
    # the precise profile: per technique the lowest threshold whose dev span precision
    # reaches this (with at least precise_min_predictions dev spans); others switch off
    precise_min_precision: float = 0.5
    precise_min_predictions: int = 3


@dataclass(frozen=True)
class ArticleStageConfig(StageOptions):
    """The article/paragraph stage (model/article_stage.py): its hyper-parameters
    (:class:`~framescope.model.article_stage.StageOptions`) and how training fits it.

    ``token_scores``: which token scores the stage's stacker learns to trust, and where it
    is fitted: ``dev`` (the tagger's scores on the dev articles, which it never trained on;
    no extra training), ``crossfit`` (on the training articles, with scores of taggers
    retrained on ``crossfit_folds`` article folds), ``none`` (characters only), ``auto``
    (``dev`` when there are dev articles, else ``crossfit``).
    """

    enabled: bool = True
    token_scores: TokenScoreSource = "auto"
    crossfit_folds: int = 3
    # corpora (like data.train) whose articles only the stage's lexical models and priors
    # learn from, e.g. other languages; articles of data.langs are left out (they would
    # leak dev and cross-validation test articles)
    extra_train: tuple[Corpus, ...] = ()
    constant_guess_share: float = 0.3


@dataclass(frozen=True)
class MlflowConfig:
    enabled: bool = True
    experiment: str = "framescope"
    registered_model: str | None = "framescope"
    alias: str | None = "candidate"
