"""The one tagger object: loading by registry, typed results, fingerprint, typed calibration, typed configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framescope.errors import ModelError

FOLDERS = Path(__file__).resolve().parent / "fixtures" / "model-folders"


def test_from_pretrained_picks_the_class_and_reads_the_settings_once(monkeypatch):
    from framescope.model import settings as settings_mod
    from framescope.model.linear import LinearTagger
    from framescope.model.tagger import SpanTagger

    calls = []
    real = settings_mod.TaggerSettings.load.__func__

    def counting(cls, folder):
        calls.append(folder)
        return real(cls, folder)

    monkeypatch.setattr(settings_mod.TaggerSettings, "load", classmethod(counting))
    tagger = SpanTagger.from_pretrained(FOLDERS / "linear")
    assert type(tagger) is LinearTagger and len(calls) == 1
    assert tagger.name == "framescope" and tagger.backend == "torch"  # the registered name


def test_from_pretrained_refuses_the_wrong_kind_backend_and_taxonomy():
    from framescope.model.linear import LinearTagger
    from framescope.model.tagger import SpanTagger
    from framescope.model.transformer import TransformerTagger

    with pytest.raises(ModelError, match="not a LinearTagger"):
        LinearTagger.from_pretrained(FOLDERS / "transformer-softmax")
    assert type(TransformerTagger.from_pretrained(FOLDERS / "transformer-softmax")) is TransformerTagger
    with pytest.raises(ModelError, match="no onnx-int8 backend"):
        SpanTagger.from_pretrained(FOLDERS / "linear", backend="onnx-int8")
    with pytest.raises(ModelError, match="is not the expected"):
        SpanTagger.from_pretrained(FOLDERS / "linear", expected_taxonomy="ptc2020")
    assert SpanTagger.from_pretrained(FOLDERS / "linear", expected_taxonomy="semeval2023").techniques


def test_score_is_deterministic_and_fingerprint_tracks_the_backend_and_profile():
    from framescope.inference.journal import model_fingerprint
    from framescope.model.tagger import SpanTagger

    texts = ["Die feigen Verräter lügen uns an.", "A calm report about the weather."]
    tagger = SpanTagger.from_pretrained(FOLDERS / "transformer-softmax")
    again = SpanTagger.from_pretrained(FOLDERS / "transformer-softmax")
    mine = tagger.score(texts, ids=["a", "b"], langs=["de", "en"])
    theirs = again.score(texts, ids=["a", "b"], langs=["de", "en"])
    for x, y in zip(mine, theirs):
        assert (x.id, x.spans, x.techniques, x.categories, x.overall) == (
            y.id,
            y.spans,
            y.techniques,
            y.categories,
            y.overall,
        )
    assert model_fingerprint(again) == tagger.fingerprint() == model_fingerprint(tagger)
    assert model_fingerprint(tagger, "precise") != tagger.fingerprint()
    bf16 = SpanTagger.from_pretrained(FOLDERS / "transformer-softmax", backend="torch-bf16")
    assert bf16.backend == "torch-bf16" and bf16.fingerprint() != tagger.fingerprint()


def test_typed_calibration_is_stored_flat_as_before(tmp_path):
    from framescope.model.settings import DecodingCalibration, TaggerSettings

    settings = TaggerSettings.load(FOLDERS / "transformer-softmax")
    before = json.loads((FOLDERS / "transformer-softmax" / "framescope.json").read_text(encoding="utf-8"))
    cal = settings.calibration
    assert isinstance(cal, DecodingCalibration) and cal.global_threshold == before["global_threshold"]
    assert cal.threshold("Doubt") == before["thresholds"]["Doubt"]
    assert cal.threshold("Name_Calling-Labeling") == before["global_threshold"]  # the one fallback
    settings.calibration = DecodingCalibration({"Doubt": 0.25}, 0.7, 0.6, {"Doubt": 0.9}, {"Doubt": 5})
    settings.save(tmp_path)
    after = json.loads((tmp_path / "framescope.json").read_text(encoding="utf-8"))
    # the old keys, in the old order (old readers ignore keys they do not know); the one
    # addition since is the precise profile's thresholds
    assert [k for k in after if k in before] == list(before)
    assert set(after) - set(before) == {"precise_thresholds"}
    assert (after["thresholds"], after["global_threshold"], after["begin_threshold"]) == ({"Doubt": 0.25}, 0.7, 0.6)
    assert (after["begin_thresholds"], after["smoothing"]) == ({"Doubt": 0.9}, {"Doubt": 5})


def test_typed_config_sections_and_the_unknown_key_check(tmp_path):
    from framescope.training.config import DEFAULTS, Config, ConfigError, load_config

    cfg = load_config("minilm-semeval", ["training.eval_batch_size=8"])
    assert isinstance(cfg, Config)
    assert cfg.training.eval_batch_size == 8 and cfg.model.type == "transformer"
    assert cfg.calibration.begin_threshold == DEFAULTS["calibration"]["begin_threshold"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  eval_batch_sise: 8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"training\.eval_batch_sise: unknown key"):
        load_config(bad)


def test_dev_scoring_during_training_uses_eval_batch_size(tiny_bert, monkeypatch):
    """training.eval_batch_size sizes the per-evaluation dev scoring (it used to be read by nobody)."""
    from framescope.labels.sample import load_sample
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.model.transformer import TransformerTagger
    from framescope.training.config import load_config
    from framescope.training.hf_trainer import run_trainer

    tagger = TransformerTagger.from_base(str(tiny_bert), load_taxonomy(), max_length=32, stride=8)
    seen = []
    real = tagger.token_scores

    def spy(texts, batch_size=None, max_batch_tokens=None):
        seen.append(batch_size)
        return real(texts, batch_size=batch_size, max_batch_tokens=max_batch_tokens)

    monkeypatch.setattr(tagger, "token_scores", spy)
    cfg = load_config("minilm-semeval", ["training.max_steps=1", "training.eval_batch_size=3", "training.batch_size=4"])
    docs = load_sample()
    run_trainer(tagger, docs[:4], docs[4:6], cfg, say=lambda m: None)
    assert seen and set(seen) == {3}
