"""Training configs: YAML files with defaults, dotted ``--set`` overrides and no silent typos.

A config names its data by path and format, language filters, the model, windowing,
optimisation and seed. Its sections are dataclasses (:class:`Config`); :func:`load_config`
returns the merged dict, which :meth:`Config.from_dict` turns into the typed view. Paths may use ``${VAR}`` (``FRAMESCOPE_SHARED_DATA`` defaults
to ``../shared/data``) and ``builtin:sample`` for the corpus shipped with framescope.
"""

from __future__ import annotations

import copy
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from framescope.model.schemes import CONFIG_DEFAULT

@dataclass
class DataConfig:
    train: list = field(default_factory=list)  # list of {path, format}
    dev: list = field(default_factory=list)  # explicit dev corpora; when empty, an article-level split of train
    langs: list | None = None  # e.g. [de, en]; None keeps all
    dev_fraction: float = 0.2
    split_seed: int = 0


@dataclass
class ModelConfig:
    type: str = "linear"  # linear | transformer
    base: str = "minilm"  # transformer: "minilm" (the packaged MiniLM), a local folder, or a hub name
    max_length: int = 256
    stride: int = 64
    # multilabel-softmax (soft k-hot targets, softmax) | multilabel (sigmoid per channel)
    # | bio (the textbook single-label reference); see model/schemes.py
    scheme: str = CONFIG_DEFAULT
    # keep the encoder's word-embedding table as pretrained (no gradient, no optimizer state):
    # for a large multilingual vocabulary it halves the training time on a CPU, and the
    # model folder can reference the table in the base instead of storing it (docs/training.md)
    freeze_embeddings: bool = False


@dataclass
class LinearConfig:
    n_features: int = 65536
    alpha: float = 1.0e-3
    epochs: int = 15
    pos_weight_max: float = 10.0


@dataclass
class TrainingConfig:
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 16
    eval_batch_size: int = 64  # windows per forward pass when scoring dev articles (capped by max_batch_tokens)
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5.0e-5
    head_learning_rate: float | None = None  # a separate rate for the new classifier head
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    loss: str = "bce"  # bce | focal (the multilabel scheme)
    pos_weight_max: float = 10.0
    focal_gamma: float = 2.0
    early_stopping_patience: int = 2
    eval_every_epochs: float = 1
    threads: int | None = None
    max_train_windows: int | None = None
    # GPU training: fp32 | bf16 | fp16 (mixed precision; fp16 needs CUDA), TF32 matmuls on
    # Ampere or newer, dataloader worker processes
    precision: str = "fp32"
    tf32: bool = False
    dataloader_workers: int = 0


@dataclass
class CalibrationConfig:
    """objective: span (span F1), mean or harmonic (of span F1 and paragraph F1); see calibration.py."""

    min_support: int = 10
    max_length_ratio: float = 2.0
    begin_threshold: float = 0.5
    objective: str = "mean"
    # the precise profile: per technique the lowest threshold whose dev span precision
    # reaches this (with at least precise_min_predictions dev spans); others switch off
    precise_min_precision: float = 0.5
    precise_min_predictions: int = 3


@dataclass
class ArticleStageConfig:
    """The article/paragraph stage (model/article_stage.py).

    ``token_scores``: which token scores the stage's stacker learns to trust, and where it
    is fitted: ``dev`` (the tagger's scores on the dev articles, which it never trained on;
    no extra training), ``crossfit`` (on the training articles, with scores of taggers
    retrained on ``crossfit_folds`` article folds), ``none`` (characters only), ``auto``
    (``dev`` when there are dev articles, else ``crossfit``). ``C``: the inverse L2
    strength of the per-technique lexical models (chosen by 5-fold cross-validation).
    """

    enabled: bool = True
    token_scores: str = "auto"
    crossfit_folds: int = 3
    folds: int = 5
    # the lexical models' hashed character n-grams: 2-5-grams in 2^20 buckets (few collisions
    # between six languages' n-grams; only the columns training units have are stored)
    n_features: int = 1048576
    ngram_range: list = field(default_factory=lambda: [2, 5])
    C: float = 10.0
    # stacker inputs beside the lexical logit and the token scores: the unit's length (log
    # characters), and at article level the paragraph models' logits of its paragraphs
    length_feature: bool = True
    paragraph_evidence: bool = True
    # refit the lexical models on training + dev articles once the stacker is learned on dev
    refit: bool = True
    # corpora (like data.train) whose articles only the stage's lexical models and priors
    # learn from, e.g. other languages; articles of data.langs are left out (they would
    # leak dev and cross-validation test articles)
    extra_train: list = field(default_factory=list)
    constant_guess_share: float = 0.3


@dataclass
class MlflowConfig:
    enabled: bool = True
    experiment: str = "framescope"
    registered_model: str = "framescope"
    alias: str = "candidate"


@dataclass
class Config:
    """A whole training config, one dataclass per section (the YAML's layout)."""

    name: str = "framescope"
    taxonomy: str = "semeval2023"
    seed: int = 0
    output_dir: str = "runs/{name}/model"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    linear: LinearConfig = field(default_factory=LinearConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    article_stage: ArticleStageConfig = field(default_factory=ArticleStageConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)

    @classmethod
    def from_dict(cls, config: dict) -> "Config":
        """The typed view of a config dict as :func:`load_config` returns it (keys already checked)."""
        sections = {f.name: f.default_factory for f in fields(cls) if f.default_factory is not MISSING}
        return cls(**{k: sections[k](**v) if k in sections else v for k, v in config.items()})


#: The defaults every config is merged over; a key that is not here is a typo (ConfigError).
DEFAULTS: dict[str, Any] = asdict(Config())


class ConfigError(ValueError):
    pass


def builtin_configs() -> list[str]:
    root = resources.files("framescope.training") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def _merge(base: dict, override: dict, where: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(base)})")
        if isinstance(base[key], dict) and isinstance(value, dict):
            out[key] = _merge(base[key], value, f"{where}.{key}")
        else:
            out[key] = value
    return out


def apply_overrides(config: dict, overrides: Iterable[str]) -> dict:
    """``key.sub=value`` pairs; values parse as YAML (``--set training.epochs=2``)."""
    config = copy.deepcopy(config)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:  # e.g. a !!python/object tag: safe_load refuses, the user gets one line
            reason = " ".join(str(getattr(err, "problem", None) or err).split())
            raise ConfigError(f"--set {key}: {raw!r} is not a plain YAML value ({reason})") from None
        node = config
        parts = key.split(".")
        for p in parts[:-1]:
            if p not in node or not isinstance(node[p], dict):
                raise ConfigError(f"--set {key}: unknown section {p!r}")
            node = node[p]
        if parts[-1] not in node:
            raise ConfigError(f"--set {key}: unknown key {parts[-1]!r}")
        node[parts[-1]] = value
    return config


def load_config(name_or_path: str | Path, overrides: Iterable[str] = ()) -> dict:
    """A built-in config by name (``quickstart``) or a YAML file, merged over the defaults."""
    text = str(name_or_path)
    if text in builtin_configs() and not Path(text).exists():
        res = resources.files("framescope.training") / "configs" / f"{text}.yaml"
        raw = yaml.safe_load(res.read_text(encoding="utf-8"))
        where = f"builtin config {text}"
    else:
        path = Path(text)
        if not path.exists():
            raise ConfigError(f"{text}: no such config file, nor a built-in ({', '.join(builtin_configs())})")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: invalid YAML: {err}") from None
        where = str(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a config is a YAML mapping")
    config = apply_overrides(_merge(DEFAULTS, raw, where), overrides)
    _check_stage_vectorizer(config["article_stage"], where)
    config["output_dir"] = str(config["output_dir"]).format(name=config["name"])
    return config


def _check_stage_vectorizer(stage: dict, where: str) -> None:
    """The stage's n-gram settings, checked when the config is read (by the rule that model
    folders are checked with): a typo would otherwise surface only after the tagger has
    trained for an hour."""
    from framescope.model.article_stage import check_vectorizer

    try:
        check_vectorizer(stage["n_features"], stage["ngram_range"])
    except ValueError as err:
        raise ConfigError(f"{where}: article_stage.{err}") from None


def resolve_path(path: str) -> str:
    """Expand ``${VAR}`` and ``builtin:`` in a data path."""
    env = dict(os.environ)
    env.setdefault("FRAMESCOPE_SHARED_DATA", "../shared/data")
    for k, v in env.items():
        path = path.replace("${" + k + "}", v)
    if path.startswith("builtin:"):
        name = path[len("builtin:"):]
        if name != "sample":
            raise ConfigError(f"unknown built-in corpus {name!r} (known: sample)")
        from framescope.labels.sample import sample_path

        return str(sample_path())
    return path


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """Dotted params for MLflow (values as short strings; MLflow caps param length)."""
    out: dict[str, str] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            s = yaml.safe_dump(v, default_flow_style=True).strip() if isinstance(v, (list, tuple)) else str(v)
            out[key] = s if len(s) <= 500 else s[:497] + "..."
    return out
