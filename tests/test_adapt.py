"""``framescope adapt``: continued MLM pretraining of an encoder (docs/adapt.md).

A tiny random BERT (conftest ``tiny_bert``) stands in for the base; two optimizer steps
show that training ran, that the folder loads as ``model.base`` does, and that the output
folder is written whole or not at all.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_checks import one_error_line
from framescope.cli import _register, app
from framescope.errors import InputError

SAMPLE = Path(str(resources.files("framescope.labels.sample") / "sample.jsonl"))
TEXTS = [
    "Die Regierung verschweigt die Wahrheit über die Krise, sagen Kritiker.",
    "Officials warned that the heroic defenders would never surrender the city.",
    "Ein kurzer Artikel.\nMit zwei Zeilen über das Wetter und die Wahlen im Herbst.",
]

_register()
runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["adapt", *map(str, args)])


def _leftovers(folder: Path) -> list[str]:
    """Hidden staging or backup folders that adapt left beside its output."""
    return sorted(p.name for p in folder.iterdir() if ".adapt-" in p.name)


@pytest.fixture
def articles(tmp_path) -> Path:
    folder = tmp_path / "articles"
    (folder / "more").mkdir(parents=True)
    for i, text in enumerate(TEXTS):
        (folder / ("more" if i else ".") / f"a{i}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.slow
def test_adapt_trains_the_encoder_and_writes_a_model_base(tiny_bert, articles, tmp_path):
    import torch
    from transformers import AutoModelForTokenClassification, BertModel

    out = tmp_path / "runs" / "adapted"
    res = run(
        articles,
        SAMPLE,
        "--lang",
        "en",
        "--base",
        tiny_bert,
        "--out",
        out,
        "--max-steps",
        2,
        "--max-length",
        32,
        "--batch-size",
        4,
        "--learning-rate",
        1e-3,
    )
    assert res.exit_code == 0, res.output
    assert "model folder" in res.output

    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "adapt.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "adapt.json").read_text(encoding="utf-8"))
    n_en = sum(
        json.loads(line)["lang"] == "en" for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()
    )
    assert summary["articles"] == len(TEXTS) + n_en  # plain .txt (recursively) + the English sample articles
    assert summary["windows"] > summary["articles"]  # the sample articles are longer than one window
    assert summary["tokens"] > 0 and summary["steps"] == 2 and summary["base"] == str(tiny_bert)
    assert math.isfinite(summary["final_loss"]) and summary["seconds"] > 0
    assert _leftovers(out.parent) == []

    # loads as `framescope train` loads model.base, and the encoder really moved
    tagger = AutoModelForTokenClassification.from_pretrained(out, num_labels=5, trust_remote_code=False)
    before = BertModel.from_pretrained(tiny_bert).state_dict()
    after = tagger.bert.state_dict()
    assert set(after) <= set(before)  # the encoder (MLM and tagging models have no pooler)
    changed = [k for k in after if not torch.equal(before[k], after[k])]
    assert any("encoder.layer" in k for k in changed), changed


@pytest.mark.slow
def test_adapt_function_returns_the_figures_and_windows_fit(tiny_bert, tmp_path):
    from transformers import AutoTokenizer

    from framescope.training.adapt import adapt, make_windows

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    rows, tokens = make_windows(tok, TEXTS, 16)
    assert all(len(r["input_ids"]) <= 16 and len(r["input_ids"]) == len(r["special_tokens_mask"]) for r in rows)
    assert sum(r["special_tokens_mask"].count(0) for r in rows) == tokens  # every token once, no padding

    messages: list[str] = []
    summary = adapt(
        str(tiny_bert), TEXTS, tmp_path / "out", max_steps=1, max_length=16, batch_size=2, progress=messages.append
    )
    assert summary["articles"] == 3 and summary["windows"] == len(rows) and summary["tokens"] == tokens
    assert summary == json.loads((tmp_path / "out" / "adapt.json").read_text(encoding="utf-8"))
    assert any("MLM head" in m for m in messages)  # a BertModel base: the head starts fresh


@pytest.mark.slow
def test_a_non_empty_out_is_refused_and_a_failed_run_leaves_it_whole(tiny_bert, articles, tmp_path, monkeypatch):
    out = tmp_path / "adapted"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")

    res = run(articles, "--base", tiny_bert, "--out", out, "--max-steps", 1, "--max-length", 32)
    assert res.exit_code == 2
    assert "--overwrite" in one_error_line(res)
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and _leftovers(tmp_path) == []

    # --overwrite, but training fails: the old folder stays as it was, no staging folder remains
    import transformers

    def boom(self, *a, **kw):
        raise RuntimeError("training failed")

    with monkeypatch.context() as m:
        m.setattr(transformers.Trainer, "train", boom)
        from framescope.training.adapt import adapt

        with pytest.raises(RuntimeError):
            adapt(str(tiny_bert), TEXTS, out, max_steps=1, max_length=32, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and _leftovers(tmp_path) == []

    res = run(articles, "--base", tiny_bert, "--out", out, "--max-steps", 1, "--max-length", 32, "--overwrite")
    assert res.exit_code == 0, res.output
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()
    assert _leftovers(tmp_path) == []


def test_a_missing_data_path_exits_2_naming_it(tiny_bert, articles, tmp_path):
    missing = tmp_path / "no-such-corpus"
    res = run(articles, missing, "--base", tiny_bert, "--out", tmp_path / "out")
    assert res.exit_code == 2
    assert str(missing) in one_error_line(res)
    assert not (tmp_path / "out").exists()


def test_inputs_without_text_are_input_errors(tmp_path):
    from framescope.training.adapt import read_texts

    empty = tmp_path / "empty"
    empty.mkdir()
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n", encoding="utf-8")
    for path in (empty, blank):
        with pytest.raises(InputError, match=str(path)):
            read_texts([path])
    with pytest.raises(InputError, match="sample.jsonl"):
        read_texts([SAMPLE], langs=["xx"])
    res = run(empty, "--out", tmp_path / "out")
    assert res.exit_code == 2 and str(empty) in one_error_line(res)
    assert len(read_texts([SAMPLE], langs=["de"])) == sum(
        '"lang": "de"' in line for line in SAMPLE.read_text(encoding="utf-8").splitlines()
    )
