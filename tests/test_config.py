"""Training configs are typed and validated on load; YAML files never expand anchors or aliases.

A config or taxonomy is read before anything trains or scores, so a typo, a value of the
wrong type or a hostile file must be refused there, with the file and the key in one line.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli_checks import one_error_line
from framescope.cli import _register, app
from framescope.errors import EXIT_USAGE, FramescopeError
from framescope.labels.taxonomy import Taxonomy, load_taxonomy
from framescope.training.config import Config, ConfigError, load_config

_register()
runner = CliRunner()

# (section, YAML text of the config, the key the error must name, a fragment of the message)
BAD_CONFIGS = [
    ("data", "data: {trian: []}", "data.trian", "unknown key"),
    ("data", "data: {dev_fraction: abc}", "data.dev_fraction", "'abc' is not a number"),
    ("data", "data: {train: [{path: x.jsonl, fromat: jsonl}]}", "data.train[0].fromat", "unknown key"),
    ("data", "data: {langs: de}", "data.langs", "a list"),
    ("model", "model: {bsae: minilm}", "model.bsae", "unknown key"),
    ("model", "model: {type: lineer}", "model.type", "'lineer' is not one of linear, transformer"),
    ("model", "model: {scheme: softmax}", "model.scheme", "'softmax' is not one of"),
    ("model", "model: {max_length: abc}", "model.max_length", "'abc' is not a whole number"),
    ("model", "model: {freeze_embeddings: maybe}", "model.freeze_embeddings", "'maybe' is not true or false"),
    ("linear", "linear: {epoch: 3}", "linear.epoch", "unknown key"),
    ("linear", "linear: {epochs: abc}", "linear.epochs", "'abc' is not a whole number"),
    ("training", "training: {loss: focall}", "training.loss", "'focall' is not one of bce, focal"),
    ("training", "training: {precision: fp8}", "training.precision", "'fp8' is not one of fp32, bf16, fp16"),
    ("training", "training: {batch_size: 1.5}", "training.batch_size", "1.5 is not a whole number"),
    ("training", "training: {epoch: 2}", "training.epoch", "unknown key"),
    (
        "calibration",
        "calibration: {objective: median}",
        "calibration.objective",
        "'median' is not one of span, mean, harmonic",
    ),
    ("calibration", "calibration: {min_support: abc}", "calibration.min_support", "'abc' is not a whole number"),
    ("calibration", "calibration: {min_suport: 3}", "calibration.min_suport", "unknown key"),
    (
        "article_stage",
        "article_stage: {token_scores: devv}",
        "article_stage.token_scores",
        "'devv' is not one of auto, dev, crossfit, none",
    ),
    ("article_stage", "article_stage: {folds: abc}", "article_stage.folds", "'abc' is not a whole number"),
    ("article_stage", "article_stage: {n_feature: 5}", "article_stage.n_feature", "unknown key"),
    ("mlflow", "mlflow: {enabled: maybe}", "mlflow.enabled", "'maybe' is not true or false"),
    ("mlflow", "mlflow: {experiment: [a, b]}", "mlflow.experiment", "is not a string"),
    ("mlflow", "mlflow: {uri: x}", "mlflow.uri", "unknown key"),
    ("top level", "seed: abc", "seed", "'abc' is not a whole number"),
    ("top level", "nmae: x", "nmae", "unknown key"),
]


def _write(tmp_path: Path, text: str, name: str = "training.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("section,text,key,message", BAD_CONFIGS, ids=[f"{c[0]}:{c[2]}" for c in BAD_CONFIGS])
def test_a_bad_key_or_value_is_refused_naming_file_and_key(tmp_path, section, text, key, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: {key}: "), str(info.value)
    assert message in str(info.value)


def test_the_message_reads_file_key_value_and_the_choices(tmp_path):
    path = _write(tmp_path, "training: {loss: focall}")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: training.loss: 'focall' is not one of bce, focal"


@pytest.mark.parametrize("section,text,key,message", BAD_CONFIGS[::3], ids=[f"{c[0]}:{c[2]}" for c in BAD_CONFIGS[::3]])
def test_train_refuses_a_bad_config_before_training_with_exit_2(tmp_path, monkeypatch, section, text, key, message):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, "name: bad\noutput_dir: out\n" + text)
    res = runner.invoke(app, ["train", str(path), "--no-mlflow"])
    assert res.exit_code == EXIT_USAGE, res.output
    line = one_error_line(res)
    assert str(path) in line and key in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlruns").exists()


def test_set_overrides_are_checked_and_named_as_such():
    cfg = load_config("quickstart", ["training.epochs=2", "model.stride=16", "article_stage.ngram_range=[1, 5]"])
    assert cfg.training.epochs == 2 and cfg.model.stride == 16 and cfg.article_stage.ngram_range == (1, 5)
    with pytest.raises(ConfigError, match=r"^--set: training\.loss: 'focall' is not one of bce, focal$"):
        load_config("quickstart", ["training.loss=focall"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_config("quickstart", ["training.epoch=2"])


def test_load_config_returns_a_frozen_typed_config():
    cfg = load_config("quickstart")
    assert isinstance(cfg, Config)
    assert cfg.name == "quickstart" and cfg.model.type == "linear" and cfg.linear.epochs == 15
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.training.loss = "focal"
    changed = cfg.with_values({"mlflow.enabled": False, "training.loss": "focal"})
    assert (changed.mlflow.enabled, changed.training.loss) == (False, "focal")
    assert (cfg.mlflow.enabled, cfg.training.loss) == (True, "bce")  # the original is untouched
    with pytest.raises(ConfigError, match="training.loss: 'focall'"):
        cfg.with_values({"training.loss": "focall"})


def test_a_yaml_float_in_exponent_notation_is_a_number():
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; a float field takes it as the number."""
    cfg = load_config("quickstart", ["training.learning_rate=1e-4"])
    assert cfg.training.learning_rate == pytest.approx(1e-4)


def test_the_config_round_trips_through_its_dict():
    cfg = load_config("minilm-semeval")
    again = Config.from_dict(cfg.to_dict(), "again")
    assert again == cfg
    assert yaml.safe_load(yaml.safe_dump(cfg.to_dict())) == cfg.to_dict()


def test_each_default_exists_once():
    """The linear tagger, the article stage and calibration read their defaults from the
    config's sections: they disagreed (linear epochs 10 in the model, 15 in the config)."""
    from framescope.model.article_stage import StageSettings
    from framescope.model.linear import LinearTagger
    from framescope.training.calibration import calibrate, precise_thresholds
    from framescope.training.config import ArticleStageConfig, CalibrationConfig, LinearConfig

    linear = LinearTagger(load_taxonomy())
    assert {k: getattr(linear, k) for k in ("n_features", "alpha", "epochs", "pos_weight_max")} == dataclasses.asdict(
        LinearConfig()
    )
    stage, section = StageSettings(techniques=["A"]), ArticleStageConfig()
    for name in ("n_features", "ngram_range", "C", "folds", "length_feature", "paragraph_evidence", "refit"):
        assert getattr(stage, name) == getattr(section, name), name
    cal, keywords = CalibrationConfig(), inspect.signature(calibrate).parameters
    for name in ("min_support", "max_length_ratio", "begin_threshold", "objective"):
        assert keywords[name].default == getattr(cal, name), name
    precise = inspect.signature(precise_thresholds).parameters
    assert precise["min_precision"].default == cal.precise_min_precision
    assert precise["min_predictions"].default == cal.precise_min_predictions


def test_the_scheme_choices_are_the_model_layers_schemes():
    from typing import get_args

    from framescope.model.schemes import SCHEMES
    from framescope.training.config import SchemeName

    assert set(get_args(SchemeName)) == set(SCHEMES)


def test_config_errors_are_usage_errors():
    assert issubclass(ConfigError, FramescopeError) and ConfigError("x").exit_code == EXIT_USAGE


def test_show_config_prints_the_resolved_config_and_trains_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["train", "quickstart", "--show-config", "--set", "training.epochs=2", "-o", "elsewhere"])
    assert res.exit_code == 0, res.output
    shown = yaml.safe_load(res.stdout)
    expected = load_config("quickstart", ["training.epochs=2"]).with_values({"output_dir": "elsewhere"})
    assert Config.from_dict(shown, "shown") == expected
    assert list(tmp_path.iterdir()) == []


# -- YAML safety: anchors and aliases are refused before they are expanded ----------------


def _bomb(levels: int = 9, width: int = 9, size: int = 16 * 1024) -> str:
    """A "billion laughs" document: ``width ** levels`` strings once its aliases are expanded,
    padded with a comment to ``size`` bytes."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    text = "\n".join(lines) + "\n"
    return text + "# " + "x" * max(0, size - len(text) - 3) + "\n"


def _refused_cheaply(load) -> str:
    """The message of the ``ValueError`` that ``load`` raises, after checking that the refusal
    took well under a second (timed alone) and a few MB (traced in a second call)."""
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as info:
        load()
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    try:
        with pytest.raises(ValueError):
            load()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 0.5, seconds  # about 2 ms; expanding the aliases took 23 s and 1.5 GB
    assert peak < 8 * 2**20, peak
    return str(info.value)


def test_a_billion_laughs_taxonomy_is_refused_at_once(tmp_path):
    # a valid taxonomy whose extra key expands to 9**10 strings (hashing its identity would)
    bomb = _bomb() + "name: bomb\nversion: '1'\ntechniques: [{name: Doubt}]\nnotes: *l9\n"
    path = _write(tmp_path, bomb, "taxonomy.yaml")
    assert 15 * 1024 <= path.stat().st_size <= 17 * 1024
    message = _refused_cheaply(lambda: load_taxonomy(path))
    assert message.startswith(f"{path}: line 1: ") and "anchors and aliases are not allowed (&l0)" in message


def test_a_billion_laughs_config_is_refused_at_once(tmp_path):
    path = _write(tmp_path, _bomb() + "data:\n  train: *l9\n")
    message = _refused_cheaply(lambda: load_config(path))
    assert message.startswith(f"{path}: line 1: ") and "anchors and aliases are not allowed (&l0)" in message


def test_a_model_folder_taxonomy_with_an_alias_is_refused(tmp_path):
    text = load_taxonomy().to_dict()
    text = yaml.safe_dump(text, sort_keys=False).replace("name: semeval2023", "name: &n semeval2023", 1)
    path = _write(tmp_path, text + "again: *n\n", "taxonomy.yaml")
    with pytest.raises(ValueError, match=r"line 1: YAML anchors and aliases are not allowed \(&n\)"):
        Taxonomy.from_file(path)


def test_plain_yaml_still_loads():
    from framescope.labels.yamlsafe import load_yaml

    assert load_yaml("a: [1, 2]\nb: {c: x}\n", "t.yaml") == {"a": [1, 2], "b": {"c": "x"}}
    assert load_yaml("", "t.yaml") is None
    with pytest.raises(ValueError, match=r"^t\.yaml: line 2: "):
        load_yaml("a: 1\nb: x: y\n", "t.yaml")
    with pytest.raises(ValueError, match=r"^t\.yaml: line 1: .*python/object"):
        load_yaml("!!python/object:os.system {}\n", "t.yaml")


# -- taxonomy ids are unique ---------------------------------------------------------------

TAXONOMY = """\
name: dup
version: "1"
categories:
  - {id: Attack, name: Attack}
  - {id: Call, name: Call}
  - {id: %s, name: Again}
techniques:
  - {name: Doubt, category: Attack}
  - {name: %s, category: Call}
"""


def test_a_duplicate_category_id_is_refused_not_merged(tmp_path):
    path = _write(tmp_path, TAXONOMY % ("Attack", "Slogans"), "taxonomy.yaml")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: duplicate category id 'Attack'"):
        load_taxonomy(path)


def test_a_duplicate_technique_name_is_refused_naming_it(tmp_path):
    path = _write(tmp_path, TAXONOMY % ("Other", "Doubt"), "taxonomy.yaml")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: duplicate technique name 'Doubt'"):
        load_taxonomy(path)
    assert load_taxonomy(_write(tmp_path, TAXONOMY % ("Other", "Slogans"), "ok.yaml")).names == ["Doubt", "Slogans"]
