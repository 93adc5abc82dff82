"""The ``torch-bf16`` backend, and ``framescope score --backend``: one flag, no mixed resumes."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from framescope.cli import _register, app
from framescope.errors import ModelError
from framescope.labels.sample import load_sample

_register()
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_model(random_tagger_folder):
    return random_tagger_folder("bf16-model", 20.0)


def test_bf16_backend_stays_close_to_fp32(tiny_model):
    from framescope.model.tagger import SpanTagger

    texts = [d.text for d in load_sample()[:4]] + [""]
    fp32 = SpanTagger.from_pretrained(tiny_model)
    bf16 = SpanTagger.from_pretrained(tiny_model, backend="torch-bf16")
    assert (fp32.backend, bf16.backend) == ("torch", "torch-bf16")
    a, b = fp32.token_scores(texts), bf16.token_scores(texts)
    for x, y in zip(a, b):
        assert y.probs.dtype == np.float32 and x.probs.shape == y.probs.shape
        np.testing.assert_array_equal(x.offsets, y.offsets)
        if len(x.probs):
            diff = np.abs(x.probs - y.probs).max()
            assert 0 < diff < 0.05  # bf16 really ran (not bit-identical), and stayed close
    with pytest.raises(ModelError, match="backend must be one of"):
        SpanTagger.from_pretrained(tiny_model, backend="cuda-fp8")


def test_score_backend_flag_and_no_mixed_resume(tiny_model, model_dir, tmp_path):
    out = tmp_path / "out"
    feed = '{"id": "a", "text": "Die feigen Verräter lügen."}\n{"id": "b", "text": "A calm report."}\n'
    args = ["score", "-q", "-", "--model", str(tiny_model), "--out", str(out), "--lang", "de"]
    res = runner.invoke(app, [*args, "--backend", "torch-bf16"], input=feed)
    assert res.exit_code == 0, res.output
    assert len((out / "results.jsonl").read_text().splitlines()) == 2
    # the journal was written by bf16: resuming with fp32 would mix numbers, so it is refused
    res = runner.invoke(app, [*args, "--backend", "torch"], input=feed)
    assert res.exit_code == 2 and "another model" in " ".join(res.output.split())
    # the linear baseline has no ONNX backend: a clear usage error, not a traceback
    res = runner.invoke(
        app,
        ["score", "-q", "-", "--model", str(model_dir), "--out", str(tmp_path / "o2"), "--backend", "onnx-int8"],
        input=feed,
    )
    assert res.exit_code == 2 and "onnx-int8" in res.output


def test_loading_a_model_prints_no_progress_bar(tiny_model, capfd):
    """`framescope score -q` must stay quiet: transformers' "Loading weights" bar is hidden, then restored."""
    from transformers.utils import logging as hf_logging

    from framescope.model.tagger import SpanTagger

    hf_logging.enable_progress_bar()  # as on a terminal, whatever the environment says
    SpanTagger.from_pretrained(tiny_model)
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()
