"""Training configs: YAML files with defaults, dotted ``--set`` overrides and no silent typos.

A config names its data by path and format, language filters, the model, windowing,
optimisation and seed. Paths may use ``${VAR}`` (``FRAMESCOPE_SHARED_DATA`` defaults
to ``../shared/data``) and ``builtin:sample`` for the corpus shipped with framescope.
"""

from __future__ import annotations

import copy
import os
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from framescope.model.schemes import CONFIG_DEFAULT

DEFAULTS: dict[str, Any] = {
    "name": "framescope",
    "taxonomy": "semeval2023",
    "seed": 0,
    "output_dir": "runs/{name}/model",
    "data": {
        "train": [],  # list of {path, format}
        "dev": [],  # explicit dev corpora; when empty, an article-level split of train
        "langs": None,  # e.g. [de, en]; None keeps all
        "dev_fraction": 0.2,
        "split_seed": 0,
    },
    "model": {
        "type": "linear",  # linear | transformer
        "base": "minilm",  # transformer: "minilm" (the packaged MiniLM), a local folder, or a hub name
        "max_length": 256,
        "stride": 64,
        # multilabel-softmax (soft k-hot targets, softmax) | multilabel (sigmoid per channel)
        # | bio (the textbook single-label reference); see model/schemes.py
        "scheme": CONFIG_DEFAULT,
    },
    "linear": {"n_features": 65536, "alpha": 1.0e-3, "epochs": 15, "pos_weight_max": 10.0},
    "training": {
        "epochs": 3.0,
        "max_steps": -1,
        "batch_size": 16,
        "eval_batch_size": 64,
        "gradient_accumulation_steps": 1,
        "learning_rate": 5.0e-5,
        "head_learning_rate": None,  # a separate rate for the new classifier head
        "weight_decay": 0.01,
        "warmup_ratio": 0.1,
        "loss": "bce",  # bce | focal
        "pos_weight_max": 10.0,
        "focal_gamma": 2.0,
        "early_stopping_patience": 2,
        "eval_every_epochs": 1,
        "threads": None,
        "max_train_windows": None,
        # GPU training: fp32 | bf16 | fp16 (mixed precision; fp16 needs CUDA), TF32 matmuls on
        # Ampere or newer, dataloader worker processes; eval_batch_size scores dev windows
        "precision": "fp32",
        "tf32": False,
        "dataloader_workers": 0,
    },
    # objective: span (span F1), mean or harmonic (of span F1 and paragraph F1); see calibration.py
    "calibration": {
        "min_support": 10, "max_length_ratio": 2.0, "begin_threshold": 0.5, "objective": "mean",
        # the precise profile: per technique the lowest threshold whose dev span precision
        # reaches this (with at least precise_min_predictions dev spans); others switch off
        "precise_min_precision": 0.5, "precise_min_predictions": 3,
    },
    # the article/paragraph stage (training/article_stage.py); token_scores: where the
    # fitting articles' token scores come from: crossfit (out-of-fold taggers, refits the
    # tagger crossfit_folds times), insample (the final tagger's own), none (lexical only),
    # auto (crossfit for the linear tagger, insample for transformers: no 5 extra trainings)
    "article_stage": {
        "enabled": True, "token_scores": "auto", "crossfit_folds": 3, "folds": 5,
        "n_features": 65536, "C": 1.0, "constant_guess_share": 0.3,
    },
    "mlflow": {
        "enabled": True,
        "experiment": "framescope",
        "registered_model": "framescope",
        "alias": "candidate",
    },
}


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
    config["output_dir"] = str(config["output_dir"]).format(name=config["name"])
    return config


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
