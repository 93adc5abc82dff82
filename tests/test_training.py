"""Training end to end: the linear baseline, tiny transformers, model folders and MLflow runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from framescope.labels.sample import load_sample
from framescope.training.config import Config, ConfigError, load_config
from framescope.model.tagger import SpanTagger
from framescope.training.train import train


def tiny_config(tmp_path: Path, base: str | None = None, **over) -> Config:
    values = {"output_dir": str(tmp_path / "model"), "mlflow.enabled": False}
    if base is not None:
        values.update({"model.type": "transformer", "model.base": base, "model.max_length": 32, "model.stride": 8})
        values.update(
            {
                "training.max_steps": 4,
                "training.batch_size": 8,
                "training.eval_every_epochs": 1.0,
                "training.learning_rate": 1e-3,
            }
        )
    values.update({k.replace("__", "."): v for k, v in over.items()})
    return load_config("quickstart").with_values(values)


def test_config_overrides_and_typos():
    cfg = load_config("quickstart", ["training.epochs=2", "model.stride=16"])
    assert cfg.training.epochs == 2 and cfg.model.stride == 16
    with pytest.raises(ConfigError, match="unknown key"):
        load_config("quickstart", ["training.epoch=2"])


@pytest.mark.parametrize(
    "override",
    [
        "article_stage.ngram_range=[4, 2]",
        "article_stage.ngram_range=3",
        "article_stage.n_features=0",
        "article_stage.n_features=1.5e6",
        "article_stage.n_features=1099511627776",
    ],
)
def test_the_stages_ngram_settings_are_checked_when_the_config_is_read(override):
    with pytest.raises(ConfigError, match=override.split("=")[0].replace(".", r"\.") + "(:| must be)"):
        load_config("quickstart", [override])
    cfg = load_config("quickstart", ["article_stage.ngram_range=[1, 5]"])
    assert cfg.article_stage.ngram_range == (1, 5)


@pytest.mark.slow
def test_linear_baseline_fit_predict_save_load(tmp_path):
    result = train(tiny_config(tmp_path))
    folder = result.output_dir
    assert {p.name for p in folder.iterdir()} >= {"model.safetensors", "framescope.json", "taxonomy.yaml"}
    assert not list(folder.glob("*.pkl")) and not list(folder.glob("*.bin"))
    settings = json.loads((folder / "framescope.json").read_text())
    assert settings["model_type"] == "linear" and settings["taxonomy"]["name"] == "semeval2023"
    assert result.report["all"]["span_f1"] > 0.05  # well above nothing on the sample's dev split
    tagger = SpanTagger.from_pretrained(folder)
    docs = load_sample()[:5]
    spans = tagger.predict(docs)
    for doc, doc_spans in zip(docs, spans):
        for s in doc_spans:
            assert 0 <= s.start < s.end <= len(doc.text)
            assert doc.text[s.start : s.end].strip() == doc.text[s.start : s.end]
            assert 0.0 <= s.confidence <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_xlmr"])
def test_tiny_transformer_trains_saves_and_reloads(fixture, request, tmp_path):
    base = str(request.getfixturevalue(fixture))
    result = train(tiny_config(tmp_path, base))
    folder = result.output_dir
    names = {p.name for p in folder.iterdir()}
    assert "model.safetensors" in names and "tokenizer.json" in names and "framescope.json" in names
    assert not [n for n in names if n.endswith((".bin", ".pkl", ".pt"))]
    settings = json.loads((folder / "framescope.json").read_text())
    assert settings["max_length"] == 32 and settings["stride"] == 8
    assert set(settings["thresholds"]) <= set(settings["techniques"])
    assert result.train_stats["train_tokens_per_second"] > 0
    reloaded = SpanTagger.from_pretrained(folder)
    text = load_sample()[0].text
    a = reloaded.token_scores([text])[0]
    b = SpanTagger.from_pretrained(folder).token_scores([text])[0]
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)


@pytest.mark.slow
def test_long_article_is_windowed_and_mapped_back(tiny_bert, tmp_path):
    from framescope.labels.taxonomy import load_taxonomy
    from framescope.model.transformer import TransformerTagger

    tagger = TransformerTagger.from_base(str(tiny_bert), load_taxonomy(), max_length=32, stride=8, scheme="multilabel")
    docs = load_sample()
    text = "\r\n".join(d.text for d in docs[:12])
    enc = tagger.encode(text)
    assert len(enc.windows) > 20
    scores = tagger.token_scores([text, "", docs[0].text])
    assert scores[0].probs.shape == (len(enc.ids), 2 * len(tagger.techniques))
    assert scores[1].probs.shape[0] == 0
    spans = tagger.decode(scores[0], {t: 0.3 for t in tagger.techniques})
    assert spans, "a random model at threshold 0.3 marks something"
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        piece = text[s.start : s.end]
        assert piece == piece.strip()
    # batching must not change the scores: the long article alone gives the same
    alone = tagger.token_scores([text], batch_size=1)[0]
    np.testing.assert_allclose(alone.probs, scores[0].probs, atol=1e-5)


def test_soft_targets_keep_overlaps_and_decode_back():
    """The softmax scheme's targets share a token among its techniques; decoding them as if
    they were the model's output (inside = p(B)+p(I)) gives back both overlapping spans."""
    import torch

    from framescope.labels.document import Span
    from framescope.model.decoding import decode_spans
    from framescope.model.targets import token_targets, word_offsets
    from framescope.model.schemes import bio_channels, soft_bio_targets

    text = "Die feigen Verräter und ihre Lügen"
    techniques = ["Loaded_Language", "Name_Calling-Labeling"]
    spans = [Span(4, 19, "Loaded_Language"), Span(4, 34, "Name_Calling-Labeling"), Span(24, 34, "Loaded_Language")]
    offsets = word_offsets(text)
    y = token_targets(offsets, spans, techniques)
    soft = soft_bio_targets(y, 2)
    np.testing.assert_allclose(soft.sum(1), 1.0)
    assert soft[0].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]  # "Die": O
    assert soft[1].tolist() == [0.0, 0.5, 0.5, 0.0, 0.0]  # "feigen" begins both
    assert soft[2].tolist() == [0.0, 0.0, 0.0, 0.5, 0.5]  # "Verräter" is inside both
    assert soft[3].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]  # "und": Name_Calling only
    assert soft[4].tolist() == [0.0, 0.5, 0.0, 0.0, 0.5]  # "ihre" begins a second Loaded_Language
    channels = bio_channels(torch.from_numpy(soft), 2).numpy()
    got = decode_spans(channels, offsets, techniques, {t: 0.4 for t in techniques}, {t: 0.4 for t in techniques}, {})
    assert sorted(p.as_tuple() for p in got) == sorted((s.start, s.end, s.technique) for s in spans)


@pytest.mark.slow
def test_softmax_scheme_is_the_default_and_trains(tiny_bert, tmp_path):
    cfg = tiny_config(tmp_path, str(tiny_bert))
    assert cfg.model.scheme == "multilabel-softmax"
    result = train(cfg)
    settings = json.loads((result.output_dir / "framescope.json").read_text())
    assert settings["extra"]["scheme"] == "multilabel-softmax"
    tagger = SpanTagger.from_pretrained(result.output_dir)
    k = len(tagger.techniques)
    assert tagger.model.config.num_labels == 2 * k + 1
    probs = tagger.token_scores([load_sample()[0].text])[0].probs
    assert probs.shape[1] == 2 * k
    inside, begin = probs[:, :k], probs[:, k:]
    assert (begin <= inside + 1e-6).all() and inside.sum(1).max() <= 1 + 1e-5


@pytest.mark.slow
def test_bio_reference_scheme_trains(tiny_bert, tmp_path):
    cfg = tiny_config(tmp_path, str(tiny_bert), model__scheme="bio")
    result = train(cfg)
    assert json.loads((result.output_dir / "framescope.json").read_text())["extra"]["scheme"] == "bio"


@pytest.mark.slow
def test_mlflow_run_contents(tmp_path, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    cfg = tiny_config(
        tmp_path,
        mlflow__enabled=True,
        mlflow__experiment="test-exp",
        mlflow__registered_model="fs-test",
        mlflow__alias="candidate",
    )
    result = train(cfg)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(result.run_id)
    assert run.data.params["model.type"] == "linear"
    assert run.data.params["seed"] == "0" and run.data.params["training.batch_size"] == "16"
    assert "dev.all.span_f1" in run.data.metrics and "dev.de.span_f1" in run.data.metrics
    assert "dev.technique.Loaded_Language.f1" in run.data.metrics
    for tag in ("train_fingerprint", "taxonomy", "taxonomy_sha256"):
        assert run.data.tags[tag]
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert "config.yaml" in artifacts and "results" in artifacts
    results = {a.path for a in client.list_artifacts(result.run_id, "results")}
    assert {"results/per_technique.csv", "results/precision_recall.png"} <= results
    version = client.get_model_version_by_alias("fs-test", "candidate")
    assert str(version.version) == result.registered_version and version.run_id == result.run_id
    # the registered model serves predictions through the pyfunc flavour
    model = mlflow.pyfunc.load_model("models:/fs-test@candidate")
    import pandas as pd

    out = model.predict(pd.DataFrame({"id": ["a"], "text": ["Diese feigen Verräter lügen uns an."]}))
    assert list(out["id"]) == ["a"]


@pytest.mark.slow
def test_linear_scores_in_bounded_chunks_match_one_pass(tmp_path):
    from framescope.model.linear import LinearTagger

    result = train(tiny_config(tmp_path))
    tagger = LinearTagger.from_pretrained(result.output_dir)
    text = "\n".join(d.text for d in load_sample()[:10])
    chunked = tagger.token_scores([text], chunk=37)[0].probs
    whole = tagger.token_scores([text], chunk=10**9)[0].probs
    np.testing.assert_array_equal(chunked, whole)


@pytest.mark.slow
def test_recalibrate_rewrites_thresholds_and_is_deterministic(tmp_path):
    from framescope.training.train import recalibrate

    cfg = tiny_config(tmp_path)
    result = train(cfg)
    before = json.loads((result.output_dir / "framescope.json").read_text())
    report, cal = recalibrate(result.output_dir, cfg)
    after = json.loads((result.output_dir / "framescope.json").read_text())
    assert after["thresholds"] == before["thresholds"] and after["begin_thresholds"] == before["begin_thresholds"]
    assert report["all"]["span_f1"] == pytest.approx(result.report["all"]["span_f1"])
    assert all(0.5 <= v <= 1.01 for v in after["begin_thresholds"].values())


def test_precision_options_map_to_trainer_flags():
    from framescope.training.config import TrainingConfig
    from framescope.training.hf_trainer import _precision_args

    assert _precision_args(TrainingConfig(precision="fp32")) == {}
    assert _precision_args(TrainingConfig(precision="bf16")) == {"bf16": True}
    with pytest.raises(ConfigError, match="fp32, bf16 or fp16"):
        _precision_args(TrainingConfig(precision="fp8"))
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs a CUDA GPU"):
            _precision_args(TrainingConfig(precision="fp16"))


def test_dataloader_pins_memory_only_for_an_accelerator(tmp_path):
    """Pinned host memory only speeds copies to a GPU; on a CPU the Trainer warned about it on
    every run."""
    from framescope.training.config import TrainingConfig
    from framescope.training.distributed import has_accelerator
    from framescope.training.hf_trainer import _training_arguments

    args = _training_arguments(TrainingConfig(eval_batch_size=7, dataloader_workers=0), 0, 64, True, str(tmp_path))
    assert args.dataloader_pin_memory == has_accelerator()
    assert args.per_device_eval_batch_size == 7


def test_one_config_builds_the_same_transformer_head_every_time(tiny_bert, tmp_path):
    """The new head's random initialisation was not seeded (the Trainer seeds only later),
    so two trainings of one config started from different heads and ended with different
    models; now the config's seed fixes it."""
    import torch

    from framescope.labels.taxonomy import load_taxonomy
    from framescope.training.fit import build_tagger

    cfg = tiny_config(tmp_path, str(tiny_bert))
    taxonomy = load_taxonomy(cfg.taxonomy)

    def head():
        model = build_tagger(cfg, taxonomy).model
        return {n: p.detach().clone() for n, p in model.named_parameters() if "classifier" in n or "head" in n}

    first, second = head(), head()
    assert first and first.keys() == second.keys()
    assert all(torch.equal(first[n], second[n]) for n in first)
    other = tiny_config(tmp_path, str(tiny_bert)).with_values({"seed": cfg.seed + 1})
    changed = {n: p for n, p in build_tagger(other, taxonomy).model.named_parameters() if n in first}
    assert any(not torch.equal(first[n], changed[n].detach()) for n in first)


@pytest.mark.slow
def test_two_trainings_of_one_config_give_the_same_model(tiny_bert, tmp_path):
    """Reproducible experiments, end to end: same config, same data, same weights."""
    from safetensors.numpy import load_file

    weights = []
    for run in ("a", "b"):
        cfg = tiny_config(tmp_path / run, str(tiny_bert))
        train(cfg)
        weights.append(load_file(str(tmp_path / run / "model" / "model.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])
