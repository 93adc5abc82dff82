"""Every value a model folder holds is checked on load: type, range and finiteness.

A model folder is untrusted input. Its structure (files, shapes, technique names) is checked
in tests/test_model_folders.py; here each kind of bad *value* is written into a copy of a
small trained folder (the quickstart linear tagger with its article stage, or a tiny
transformer) and must be refused with one :class:`~framescope.errors.ModelError` line that
names the file and the key, never loaded to score NaN, zero spans or other spans, and never
a traceback from ``framescope score``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from framescope.errors import ModelError
from framescope.model.tagger import SpanTagger

ARTICLE = "Die feigen Verräter haben uns verkauft. Nur ein Narr glaubt noch den Lügen der Regierung."
SETTINGS, STAGE_SETTINGS, STAGE_WEIGHTS, WEIGHTS = (
    "framescope.json",
    "article_stage.json",
    "article_stage.safetensors",
    "model.safetensors",
)


@pytest.fixture
def tampered(model_dir, tmp_path):
    """``tampered(file, change, source=model_dir)``: a copy of the folder with ``change`` applied
    to one JSON file (the parsed object) or safetensors file (the dict of arrays)."""

    def make(file: str, change, source: Path | None = None) -> Path:
        folder = tmp_path / "model"
        shutil.copytree(source or model_dir, folder)
        path = folder / file
        if file.endswith(".json"):
            data = json.loads(path.read_text(encoding="utf-8"))
            change(data)
            path.write_text(json.dumps(data), encoding="utf-8")  # NaN and Infinity as JSON writes them
        else:
            arrays = load_file(str(path))
            change(arrays)
            save_file(arrays, str(path))
        return folder

    return make


def refused(folder: Path, file: str, key: str, **load) -> str:
    """``SpanTagger.from_pretrained`` refuses the folder with one line naming ``file`` and ``key``."""
    with pytest.raises(ModelError) as info:
        SpanTagger.from_pretrained(folder, **load)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert file in msg and key in msg, msg
    return msg


def _set(path: str, value):
    """A change that sets ``data[a][b]...`` for ``path`` ``"a.b..."`` (list indices as digits)."""

    def change(data):
        *parents, last = path.split(".")
        for p in parents:
            data = data[int(p)] if isinstance(data, list) else data[p]
        data[int(last) if isinstance(data, list) else last] = value

    return change


def _first_key(table: dict) -> str:
    return sorted(table)[0]


# -- the article stage's arrays ----------------------------------------------------------------


def test_a_nan_stacker_weight_is_refused(tampered):
    """The issue's case: it loaded and scored NaN article probabilities with exit 0."""
    folder = tampered(STAGE_WEIGHTS, lambda a: a["article.stacker"].__setitem__(0, np.nan))
    refused(folder, STAGE_WEIGHTS, "article.stacker")


def test_an_infinite_stage_coefficient_is_refused(tampered):
    folder = tampered(STAGE_WEIGHTS, lambda a: a["paragraph.coef"].__setitem__((0, 0), np.inf))
    refused(folder, STAGE_WEIGHTS, "paragraph.coef")


@pytest.mark.parametrize("name", ["intercept", "idf", "idf_unseen"])
def test_non_finite_stage_arrays_are_refused(tampered, name):
    folder = tampered(STAGE_WEIGHTS, lambda a: a[f"article.{name}"].__setitem__(0, -np.inf))
    refused(folder, STAGE_WEIGHTS, f"article.{name}")


def test_stage_flags_other_than_0_and_1_are_refused(tampered):
    folder = tampered(STAGE_WEIGHTS, lambda a: a["paragraph.active"].__setitem__(0, 7))
    refused(folder, STAGE_WEIGHTS, "paragraph.active")


def test_an_infinite_linear_coefficient_is_refused(tampered):
    folder = tampered(WEIGHTS, lambda a: a["coef"].__setitem__((1, 2), np.inf))
    refused(folder, WEIGHTS, "coef")


# -- the article stage's settings --------------------------------------------------------------


def test_a_nan_share_threshold_is_refused(tampered):
    folder = tampered(STAGE_SETTINGS, _set("share_threshold", math.nan))
    refused(folder, STAGE_SETTINGS, "share_threshold")


def test_a_nan_prior_share_is_refused(tampered):
    folder = tampered(STAGE_SETTINGS, _set("priors.article.de.0", math.nan))
    refused(folder, STAGE_SETTINGS, "priors.article")


def test_a_nan_centre_is_refused(tampered):
    folder = tampered(STAGE_SETTINGS, _set("centers.paragraph.*.0.0", math.nan))
    refused(folder, STAGE_SETTINGS, "centers.paragraph")


@pytest.mark.parametrize("value", [0, -3])
def test_top_k_below_one_is_refused(tampered, value):
    folder = tampered(STAGE_SETTINGS, _set("top_k", value))
    refused(folder, STAGE_SETTINGS, "top_k")


def test_paragraph_top_k_zero_is_refused(tampered):
    folder = tampered(STAGE_SETTINGS, _set("paragraph_top_k", 0))
    refused(folder, STAGE_SETTINGS, "paragraph_top_k")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("C", "10"),
        ("stacker_C", 0.0),
        ("top_k", 2.5),
        ("top_k", True),
        ("token_features", "yes"),
        ("length_feature", 1),
        ("folds", "5"),
        ("min_positives", -1),
        ("prior_strength", math.inf),
        ("thresholds.article", "0.5"),
        ("thresholds.paragraph", 1.5),
        ("thresholds", [0.5, 0.5]),
        ("fit_info", "none"),
    ],
)
def test_stage_hyper_parameters_of_the_wrong_type_or_range_are_refused(tampered, key, value):
    folder = tampered(STAGE_SETTINGS, _set(key, value))
    refused(folder, STAGE_SETTINGS, key)


# -- framescope.json: thresholds -----------------------------------------------------------------

BAD_THRESHOLDS = {"nan": math.nan, "negative": -0.1, "above one": 1.5, "string": "0.5", "bool": True}


@pytest.mark.parametrize("case", sorted(BAD_THRESHOLDS))
def test_bad_precise_thresholds_are_refused(tampered, model_dir, case):
    """Today NaN gives zero spans, negative ones other spans, a string an AttributeError traceback."""
    tech = _first_key(json.loads((model_dir / SETTINGS).read_text())["precise_thresholds"])
    folder = tampered(SETTINGS, _set(f"precise_thresholds.{tech}", BAD_THRESHOLDS[case]))
    refused(folder, SETTINGS, f"precise_thresholds.{tech}")


def test_precise_thresholds_of_unknown_techniques_are_refused(tampered):
    folder = tampered(SETTINGS, _set("precise_thresholds.Nonsense", 0.5))
    msg = refused(folder, SETTINGS, "precise_thresholds")
    assert "Nonsense" in msg


def test_precise_thresholds_that_are_not_an_object_are_refused(tampered):
    folder = tampered(SETTINGS, _set("precise_thresholds", [0.5]))
    refused(folder, SETTINGS, "precise_thresholds")


@pytest.mark.parametrize("case", sorted(BAD_THRESHOLDS))
def test_bad_balanced_thresholds_are_refused(tampered, model_dir, case):
    tech = _first_key(json.loads((model_dir / SETTINGS).read_text())["thresholds"])
    folder = tampered(SETTINGS, _set(f"thresholds.{tech}", BAD_THRESHOLDS[case]))
    refused(folder, SETTINGS, f"thresholds.{tech}")


def test_balanced_thresholds_of_unknown_techniques_are_refused(tampered):
    folder = tampered(SETTINGS, _set("thresholds.Nonsense", 0.5))
    msg = refused(folder, SETTINGS, "thresholds")
    assert "Nonsense" in msg


@pytest.mark.parametrize("key", ["global_threshold", "begin_threshold"])
def test_bad_fallback_thresholds_are_refused(tampered, key):
    folder = tampered(SETTINGS, _set(key, math.nan))
    refused(folder, SETTINGS, key)


@pytest.mark.parametrize(
    ("table", "value"), [("begin_thresholds", -1), ("begin_thresholds", "x"), ("smoothing", 0), ("smoothing", 1.5)]
)
def test_bad_begin_thresholds_and_smoothing_are_refused(tampered, model_dir, table, value):
    tech = _first_key(json.loads((model_dir / SETTINGS).read_text())[table])
    folder = tampered(SETTINGS, _set(f"{table}.{tech}", value))
    refused(folder, SETTINGS, f"{table}.{tech}")


# -- framescope.json: hyper-parameters and recorded figures --------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model_type", 3),
        ("max_length", "256"),
        ("max_length", 0),
        ("stride", -1),
        ("stride", 1.5),
        ("name", ["framescope"]),
        ("encoding", None),
        ("framescope_version", 1),
        ("format_version", "1"),
        ("extra.n_features", 1.5),
        ("extra.alpha", "0.001"),
        ("extra.constant_guess_share", math.nan),
        ("extra.train_technique_shares_by_lang.de", "all"),
    ],
)
def test_settings_of_the_wrong_type_or_range_are_refused(tampered, key, value):
    folder = tampered(SETTINGS, _set(key, value))
    refused(folder, SETTINGS, key)


def test_a_nan_training_share_is_refused(tampered, model_dir):
    shares = json.loads((model_dir / SETTINGS).read_text())["extra"]["train_technique_shares_by_lang"]["de"]
    tech = _first_key(shares)
    folder = tampered(SETTINGS, _set(f"extra.train_technique_shares_by_lang.de.{tech}", math.nan))
    refused(folder, SETTINGS, f"extra.train_technique_shares_by_lang.de.{tech}")


# -- transformer folders --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def transformer_folder(random_tagger_folder) -> Path:
    return random_tagger_folder("folder-values", 1.0)


def test_nan_transformer_weights_are_refused(tampered, transformer_folder):
    folder = tampered(WEIGHTS, lambda a: a["classifier.weight"].__setitem__((0, 0), np.nan), source=transformer_folder)
    refused(folder, WEIGHTS, "classifier.weight")


def test_a_window_too_small_for_the_special_tokens_is_refused(tampered, transformer_folder):
    folder = tampered(SETTINGS, _set("max_length", 2), source=transformer_folder)
    refused(folder, SETTINGS, "max_length")


# -- through the CLI: exit 2, one line, nothing written --------------------------------------------


CLI_CASES = {
    "nan stacker weight": (STAGE_WEIGHTS, "article.stacker", lambda a: a["article.stacker"].__setitem__(0, np.nan)),
    "string precise threshold": (
        SETTINGS,
        "precise_thresholds.Name_Calling-Labeling",
        _set("precise_thresholds.Name_Calling-Labeling", "0.5"),
    ),
    "top_k 0": (STAGE_SETTINGS, "top_k", _set("top_k", 0)),
    "nan balanced threshold": (SETTINGS, "thresholds.Slogans", _set("thresholds.Slogans", math.nan)),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_score_refuses_a_bad_value_with_exit_2_and_one_line(tampered, tmp_path, case):
    from framescope.cli import _register, app

    _register()
    file, key, change = CLI_CASES[case]
    folder = tampered(file, change)
    article = tmp_path / "a.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["score", str(article), "--model", str(folder), "--out", str(out), "-q", "--lang", "de"]
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and file in errors[0] and key in errors[0], result.output
    assert "Traceback" not in result.output
    assert not out.exists() or not (out / "results.jsonl").exists()
