"""Training configs: YAML files with defaults, dotted ``--set`` overrides, typed and checked on load.

A config names its data by path and format, language filters, the model, windowing,
optimisation and seed. :func:`load_config` returns a frozen :class:`Config`, one frozen
dataclass per section (the YAML's layout); every value is checked against its field's type
when the config is read (``Literal`` fields against their choices), so a typo such as
``training.loss: focall`` fails before anything trains, naming the file and the key. The
sections the model layer needs (the linear tagger's and the article stage's settings) are
defined there, next to the objects that use them, and composed here: each default exists
once. The sections themselves (keys, types, choices, defaults) are in
:mod:`framescope.training.config_sections` and importable from here. Paths may use
``${VAR}`` (``FRAMESCOPE_SHARED_DATA`` defaults to ``../shared/data``) and ``builtin:sample``
for the corpus shipped with framescope.
"""

from __future__ import annotations

import copy
import math
import os
import types
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping, Union, get_args, get_origin, get_type_hints

import yaml

from framescope.errors import UsageError
from framescope.labels.yamlsafe import load_yaml
from framescope.model.article_stage import StageOptions
from framescope.training.config_sections import (
    ArticleStageConfig,
    CalibrationConfig,
    Corpus,
    DataConfig,
    LinearConfig,
    Loss,
    MlflowConfig,
    ModelConfig,
    ModelType,
    Objective,
    Precision,
    SchemeName,
    TokenScoreSource,
    TrainingConfig,
)

# the sections (config_sections.py) are imported from here by the rest of framescope
__all__ = [
    "DEFAULTS",
    "ArticleStageConfig",
    "CalibrationConfig",
    "Config",
    "ConfigError",
    "Corpus",
    "DataConfig",
    "LinearConfig",
    "Loss",
    "MlflowConfig",
    "ModelConfig",
    "ModelType",
    "Objective",
    "Precision",
    "SchemeName",
    "TokenScoreSource",
    "TrainingConfig",
    "apply_overrides",
    "builtin_configs",
    "flatten",
    "load_config",
    "resolve_path",
    "show_config",
]


class ConfigError(UsageError, ValueError):
    """A config that does not check out: one line naming the file (or ``--set``) and the key; exit 2."""


@dataclass(frozen=True)
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
    def from_dict(cls, config: Mapping, where: str = "config") -> "Config":
        """A config from its YAML data (missing keys take their defaults), every key and
        value checked; ``where`` names the source in errors."""
        return _build(cls, config, "", lambda key: where)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, dicts, scalars): what the YAML file would hold."""
        return _plain(asdict(self))

    def with_values(self, values: Mapping[str, Any]) -> "Config":
        """A copy with dotted keys set (``{"mlflow.enabled": False}``), checked like a file."""
        data = self.to_dict()
        for key, value in values.items():
            _set_dotted(data, key, value, "config")
        return Config.from_dict(data, "config")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


#: The defaults every config is merged over, as plain data.
DEFAULTS: dict[str, Any] = Config().to_dict()


# -- building the typed config from YAML data, checking each value ------------------------


def _build(cls: type, data: Any, key: str, origin: Callable[[str], str]) -> Any:
    """An instance of the dataclass ``cls`` from the mapping ``data`` found at ``key``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin(key)}: {key or 'the config'}: {_shown(data)} is not a mapping")
    hints = get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    values = {}
    for name, value in data.items():
        dotted = f"{key}.{name}" if key else str(name)
        if name not in known:
            raise ConfigError(f"{origin(dotted)}: {dotted}: unknown key (known: {', '.join(known)})")
        values[name] = _value(value, hints[name], dotted, origin)
    for f in fields(cls):
        if f.name not in values and f.default is MISSING and f.default_factory is MISSING:
            dotted = f"{key}.{f.name}" if key else f.name
            raise ConfigError(f"{origin(dotted)}: {dotted}: missing")
    return cls(**values)


def _shown(value: Any) -> str:
    """``repr(value)``, cut to one short line (a value may be a 1 MB string)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _value(value: Any, tp: Any, key: str, origin: Callable[[str], str]) -> Any:
    """``value`` checked against the type ``tp`` (lists become tuples, dicts dataclasses)."""

    def bad(what: str) -> ConfigError:
        return ConfigError(f"{origin(key)}: {key}: {_shown(value)} is not {what}")

    kind = get_origin(tp)
    if kind is Literal:
        if isinstance(value, str) and value in get_args(tp):
            return value
        raise bad("one of " + ", ".join(get_args(tp)))
    if kind in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if value is None and len(options) < len(get_args(tp)):
            return None
        return _value(value, options[0], key, origin)
    if is_dataclass(tp):
        return tp(value) if tp is Corpus and isinstance(value, str) else _build(tp, value, key, origin)
    if kind is tuple:
        return _sequence(value, get_args(tp), key, origin, bad)
    return _scalar(value, tp, bad)


def _sequence(value: Any, args: tuple, key: str, origin: Callable[[str], str], bad) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise bad("a list")
    if len(args) == 2 and args[1] is Ellipsis:
        args = (args[0],) * len(value)
    elif len(value) != len(args):
        raise bad(f"a list of {len(args)}")
    return tuple(_value(v, a, f"{key}[{i}]", origin) for i, (v, a) in enumerate(zip(value, args)))


def _scalar(value: Any, tp: Any, bad) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad("true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad("a whole number")
    if tp is float:
        number = value
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                raise bad("a number") from None
        if isinstance(number, (int, float)) and not isinstance(number, bool) and math.isfinite(number):
            return number
        raise bad("a finite number" if isinstance(number, float) else "a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad("a string")
    raise TypeError(f"config: no check for fields of type {tp!r}")  # a bug in the dataclasses above


def builtin_configs() -> list[str]:
    root = resources.files("framescope.training") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def _merge(base: dict, override: Mapping) -> dict:
    """``override`` over ``base``, section by section (unknown keys are caught by :func:`_build`)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None and isinstance(out.get(key), dict):
            continue  # a section whose keys are all commented out
        if isinstance(out.get(key), dict) and isinstance(value, Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_dotted(config: dict, key: str, value: Any, label: str) -> None:
    """Set ``section.key`` in config data; ``label`` (``--set``) leads the error for an unknown one."""
    node = config
    parts = key.split(".")
    for p in parts[:-1]:
        if p not in node or not isinstance(node[p], dict):
            raise ConfigError(f"{label} {key}: unknown section {p!r}")
        node = node[p]
    if parts[-1] not in node:
        raise ConfigError(f"{label} {key}: unknown key {parts[-1]!r}")
    node[parts[-1]] = value


def apply_overrides(config: dict, overrides: Iterable[str]) -> dict:
    """``key.sub=value`` pairs on config data; values parse as YAML (``--set training.epochs=2``)."""
    config = copy.deepcopy(config)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            value = load_yaml(raw, f"--set {key}")
        except ValueError as err:  # e.g. a !!python/object tag: one line for the user
            raise ConfigError(f"--set {key}: {raw!r} is not a plain YAML value ({err})") from None
        _set_dotted(config, key, value, "--set")
    return config


def _read_config(name_or_path: str | Path) -> tuple[Any, str]:
    """The YAML data of a built-in config or a config file, and how errors name it."""
    text = str(name_or_path)
    if text in builtin_configs() and not Path(text).exists():
        res = resources.files("framescope.training") / "configs" / f"{text}.yaml"
        where = f"builtin config {text}"
        source = res.read_text(encoding="utf-8")
    else:
        path = Path(text)
        if not path.exists():
            raise ConfigError(f"{text}: no such config file, nor a built-in ({', '.join(builtin_configs())})")
        where = str(path)
        source = path.read_text(encoding="utf-8")
    try:
        return load_yaml(source, where), where
    except ValueError as err:
        raise ConfigError(str(err)) from None


def load_config(name_or_path: str | Path, overrides: Iterable[str] = ()) -> Config:
    """A built-in config by name (``quickstart``) or a YAML file, merged over the defaults,
    with ``--set`` overrides; every key and value checked (:class:`ConfigError`)."""
    raw, where = _read_config(name_or_path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a config is a YAML mapping")
    overrides = list(overrides)
    data = apply_overrides(_merge(DEFAULTS, raw), overrides)
    changed = [item.split("=", 1)[0] for item in overrides]

    def origin(key: str) -> str:  # a value set by --set is named as such, the rest by the file
        return "--set" if any(key == k or key.startswith((k + ".", k + "[")) for k in changed) else where

    config = _build(Config, data, "", origin)
    stage_where = {origin("article_stage.n_features"), origin("article_stage.ngram_range")}
    _check_stage_vectorizer(config.article_stage, "--set" if "--set" in stage_where else where)
    _check_head_only_epochs(config.training, origin("training.head_only_epochs"))
    return replace(config, output_dir=config.output_dir.replace("{name}", config.name))


def _check_stage_vectorizer(stage: StageOptions, where: str) -> None:
    """The stage's n-gram settings, checked when the config is read (by the rule that model
    folders are checked with): a typo would otherwise surface only after the tagger has
    trained for an hour."""
    from framescope.model.article_stage import check_vectorizer

    try:
        check_vectorizer(stage.n_features, stage.ngram_range)
    except ValueError as err:
        raise ConfigError(f"{where}: article_stage.{err}") from None


def _check_head_only_epochs(training: TrainingConfig, where: str) -> None:
    """Head-only epochs must leave the encoder some of the run (checked before any training)."""
    head_only, epochs = float(training.head_only_epochs), float(training.epochs)
    if head_only < 0 or (int(training.max_steps) <= 0 and head_only >= epochs):
        raise ConfigError(
            f"{where}: training.head_only_epochs: {head_only:g} must be at least 0 and below training.epochs ({epochs:g})"
        )


def show_config(config: Config) -> str:
    """The resolved config as YAML (``framescope train CONFIG --show-config``)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)


def resolve_path(path: str) -> str:
    """Expand ``${VAR}`` and ``builtin:`` in a data path."""
    env = dict(os.environ)
    env.setdefault("FRAMESCOPE_SHARED_DATA", "../shared/data")
    for k, v in env.items():
        path = path.replace("${" + k + "}", v)
    if path.startswith("builtin:"):
        name = path[len("builtin:") :]
        if name != "sample":
            raise ConfigError(f"unknown built-in corpus {name!r} (known: sample)")
        from framescope.labels.sample import sample_path

        return str(sample_path())
    return path


def flatten(config: Config | Mapping, prefix: str = "") -> dict[str, str]:
    """Dotted params for MLflow (values as short strings; MLflow caps param length)."""
    data = config.to_dict() if isinstance(config, Config) else config
    out: dict[str, str] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            s = yaml.safe_dump(v, default_flow_style=True).strip() if isinstance(v, (list, tuple)) else str(v)
            out[key] = s if len(s) <= 500 else s[:497] + "..."
    return out
