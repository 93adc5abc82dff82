"""The ONNX Runtime backend gives the PyTorch tagger's spans (fp32) and runs quantized (int8)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from framescope.errors import ModelError

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

THRESHOLD = 0.3


def _gap(values: np.ndarray, near: float, width: float = 1e-4) -> float:
    """A threshold near ``near`` with no probability within ``width``: float noise cannot flip it."""
    v = np.unique(values.ravel())
    mids = (v[1:] + v[:-1]) / 2
    ok = (v[1:] - v[:-1]) > 2 * width
    return float(mids[ok][np.argmin(np.abs(mids[ok] - near))])


@pytest.fixture(scope="module")
def onnx_model(random_tagger_folder):
    """A tiny random tagger (classifier scaled so probabilities spread around the threshold), exported."""
    from framescope.model.onnx_backend import export_onnx

    folder = random_tagger_folder("onnx-model", 40.0)
    written = export_onnx(folder, quantize=True)
    assert written == folder / "model.int8.onnx"
    return folder


@pytest.fixture(scope="module")
def texts():
    from framescope.labels.sample import load_sample

    docs = load_sample()
    return [docs[0].text, docs[1].text + "\n\n" + docs[2].text, "", "Kurz."]


def _spans(tagger, scores, threshold=THRESHOLD):
    thresholds = {t: threshold for t in tagger.techniques}
    return [[s.as_tuple() for s in tagger.decode(ts, thresholds)] for ts in scores]


def test_fp32_matches_torch(onnx_model, texts):
    from framescope.model.tagger import SpanTagger

    ref = SpanTagger.from_pretrained(onnx_model)
    onnx = SpanTagger.from_pretrained(onnx_model, backend="onnx-fp32")
    assert type(onnx).__name__ == "TransformerTagger" and onnx.backend == "onnx-fp32" and onnx.model is None
    with pytest.raises(ValueError, match="export-onnx"):
        onnx.save_pretrained(onnx_model / "copy")
    onnx.set_threads(1)
    a, b = ref.token_scores(texts), onnx.token_scores(texts)
    for x, y in zip(a, b):
        assert np.array_equal(x.offsets, y.offsets)
        assert x.probs.shape == y.probs.shape
        if len(x.probs):
            assert float(np.abs(x.probs - y.probs).max()) < 1e-4
    # thresholds (inside ~0.3, begin ~0.5) placed where no torch probability is within 1e-4
    k = len(ref.techniques)
    probs = np.concatenate([x.probs for x in a if len(x.probs)])
    inside, begin = _gap(probs[:, :k], THRESHOLD), _gap(probs[:, k:], 0.5)
    for tagger in (ref, onnx):
        tagger.settings.begin_threshold = begin
    spans = _spans(ref, a, inside)
    assert sum(map(len, spans)) > 0, "the scaled random head marks something at 0.3"
    assert sum(map(len, spans)) < sum(len(x.probs) for x in a) * k, "and not everything"
    assert spans == _spans(onnx, b, inside)


def test_int8_runs_and_scorer_backend(onnx_model, texts):
    from framescope.model.tagger import SpanTagger

    int8 = SpanTagger.from_pretrained(onnx_model, backend="onnx-int8")
    assert int8.backend == "onnx-int8"
    scores = int8.token_scores(texts)
    for ts, text in zip(scores, texts):
        assert ts.probs.shape[1] == 2 * len(int8.techniques)
        assert np.isfinite(ts.probs).all() and ((ts.probs >= 0) & (ts.probs <= 1)).all()
        for s in int8.decode(ts, {t: THRESHOLD for t in int8.techniques}):
            assert 0 <= s.start < s.end <= len(text)
    result = int8.score([texts[0]])[0]
    assert result.techniques and 0.0 <= result.overall <= 1.0
    assert (onnx_model / "model.int8.onnx").stat().st_size < (onnx_model / "model.onnx").stat().st_size


def test_export_to_out_folder_loads_alone(onnx_model, tmp_path, texts):
    """``framescope export-onnx MODEL --out DIR``: a folder that scores without the safetensors."""
    from typer.testing import CliRunner

    from framescope.cli import _register, app
    from framescope.model.tagger import SpanTagger

    _register()
    out = tmp_path / "exported"
    result = CliRunner().invoke(app, ["export-onnx", str(onnx_model), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'model.onnx'}" in result.output and "model.int8.onnx" not in result.output
    assert not list(out.glob("*.safetensors"))
    assert json.loads((out / "framescope.json").read_text())["model_type"] == "transformer"
    tagger = SpanTagger.from_pretrained(out, backend="onnx-fp32")
    assert tagger.token_scores(texts[:1])[0].probs.shape[0] > 0
    with pytest.raises(ModelError, match="export-onnx"):
        SpanTagger.from_pretrained(out, backend="onnx-int8")
    with pytest.raises(ModelError, match="backend"):
        SpanTagger.from_pretrained(out, backend="tensorrt")
