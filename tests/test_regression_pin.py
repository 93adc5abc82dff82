"""Regression pins: the spans and article scores framescope gave before the model-layer refactor.

Pinned on commit df6a31c (2026-11-29) by ``tests/fixtures/make_pins.py``, on a
fixed set of articles (the sample corpus and the bundled examples), for

* the quickstart linear model, trained here from the ``quickstart`` config (deterministic seed);
* "old model folders" written by that commit and committed under
  ``tests/fixtures/model-folders/`` (a linear tagger with 2**10 features, a tiny random
  softmax transformer, and a sigmoid transformer whose settings predate ``model.scheme``);
* the MLflow pyfunc wrapper and the ONNX fp32 backend on those folders.

A refactor that changes any of these numbers changes what users get; it must not pass.
Spans are compared exactly (start, end, technique); confidences and scores are the
6-decimal values the exports carry, compared to within 1e-6 so that a float rounding tie
on another CPU does not fail the suite.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FOLDERS = FIXTURES / "model-folders"
TOL = 1e-6


# -- what is pinned (also used by tests/fixtures/make_pins.py) --------------------------------
def pin_texts() -> list[tuple[str, str, str]]:
    """``(id, lang, text)``: every sample-corpus article, both bundled examples, and two edge cases."""
    from importlib import resources

    from framescope.labels.sample import load_sample

    out = [(d.id, d.lang or "en", d.text) for d in load_sample()]
    root = resources.files("framescope.inference") / "examples"
    for name in sorted(p.name for p in root.iterdir() if p.name.endswith(".txt")):
        out.append((name, name[:2], (root / name).read_text(encoding="utf-8")))
    out += [("empty", "en", ""), ("short", "de", "Kurz.")]
    return out


def _load(folder: Path | str, backend: str = "torch"):
    from framescope.model.tagger import SpanTagger

    return SpanTagger.from_pretrained(folder, backend=backend)


def scorer_outputs(folder: Path | str, backend: str = "torch") -> list[dict]:
    """Spans ``[start, end, technique, confidence]`` and article scores per pinned text."""
    scorer = _load(folder, backend)
    items = pin_texts()
    results = scorer.score([t for _, _, t in items], [i for i, _, _ in items], [lang for _, lang, _ in items])
    return [
        {
            "id": r.id,
            "spans": [[s.start, s.end, s.technique, round(s.confidence, 6)] for s in r.spans],
            "techniques": {t: [round(ts.score, 6), ts.spans, round(ts.coverage, 6)] for t, ts in r.techniques.items()},
            "categories": {c: round(v, 6) for c, v in r.categories.items()},
            "overall": round(r.overall, 6),
        }
        for r in results
    ]


def pyfunc_outputs(folder: Path, tmp: Path) -> list[dict]:
    """The MLflow pyfunc's rows (saved as model-from-code, loaded back), ``scored_at`` left out.

    ``model_version`` is left out too: since the scoring service (commit 2e043bd, 2026-11-29) the pyfunc
    names what it serves (a registry version, else its logged-model id, new for every save)
    instead of the framescope version; tests/test_service.py covers that identity.
    """
    import mlflow.pyfunc
    import pandas as pd

    from framescope.model import mlflow_model

    path = tmp / "pyfunc"
    mlflow.pyfunc.save_model(
        str(path),
        python_model=str(Path(mlflow_model.__file__).resolve()),
        artifacts={"model_dir": str(folder)},
        pip_requirements=["framescope"],
    )
    items = pin_texts()
    frame = pd.DataFrame(
        {"id": [i for i, _, _ in items], "lang": [lang for _, lang, _ in items], "text": [t for _, _, t in items]}
    )
    out = mlflow.pyfunc.load_model(str(path)).predict(frame)
    rows = []
    for row in out.to_dict(orient="records"):
        row.pop("scored_at")
        row.pop("model_version")
        rows.append({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
    return json.loads(json.dumps(rows, default=str))


def onnx_outputs(folder: Path, tmp: Path) -> list[dict]:
    """The ONNX fp32 backend on a copy of ``folder`` exported with today's exporter."""
    from framescope.model.onnx_backend import export_onnx

    copy = tmp / "onnx"
    shutil.copytree(folder, copy)
    export_onnx(copy)
    return scorer_outputs(copy, backend="onnx-fp32")


def train_quickstart(out: Path) -> Path:
    from framescope.training.config import load_config
    from framescope.training.train import train

    cfg = load_config("quickstart").with_values({"mlflow.enabled": False, "output_dir": str(out)})
    train(cfg)
    return out


def build_tiny_bert(folder: Path) -> Path:
    """conftest's ``tiny_bert`` recipe with a fixed torch seed (used only to write the fixture folders)."""
    import torch
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from tokenizers.trainers import WordPieceTrainer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from framescope.labels.sample import load_sample

    tok = Tokenizer(WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = WordPieceTrainer(vocab_size=600, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator([d.text for d in load_sample()], trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    ).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


def fingerprints() -> dict[str, str]:
    """The journal's model fingerprints (resume keys): a change would refuse to resume old runs."""
    from framescope.inference.journal import model_fingerprint

    out = {
        name: model_fingerprint(_load(FOLDERS / name))
        for name in ("linear", "transformer-softmax", "transformer-sigmoid-noscheme")
    }
    out["transformer-softmax torch-bf16"] = model_fingerprint(_load(FOLDERS / "transformer-softmax", "torch-bf16"))
    return out


def compute_all() -> dict:
    """Every pin, by name (``pin-<name>.json``)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        out = {
            "quickstart": scorer_outputs(train_quickstart(tmp / "quickstart")),
            "folder-linear": scorer_outputs(FOLDERS / "linear"),
            "folder-transformer-softmax": scorer_outputs(FOLDERS / "transformer-softmax"),
            "folder-transformer-sigmoid-noscheme": scorer_outputs(FOLDERS / "transformer-sigmoid-noscheme"),
            "pyfunc-linear": pyfunc_outputs(FOLDERS / "linear", tmp / "a"),
            "pyfunc-transformer": pyfunc_outputs(FOLDERS / "transformer-softmax", tmp / "b"),
        }
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            pass
        else:
            out["onnx-fp32"] = onnx_outputs(FOLDERS / "transformer-softmax", tmp / "c")
    return out


# -- the tests -----------------------------------------------------------------------------
def _pinned(name: str):
    return json.loads((FIXTURES / f"pin-{name}.json").read_text(encoding="utf-8"))


def _same(got, want, where: str = "") -> None:
    """Equal structures; floats within TOL. Fails naming the first differing path."""
    if isinstance(want, float) or isinstance(got, float):
        assert isinstance(got, (int, float)) and abs(got - want) <= TOL, f"{where}: {got!r} != pinned {want!r}"
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), (
            f"{where}: keys {list(got)[:8]} != pinned {list(want)[:8]}"
        )
        for k in want:
            _same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (
            f"{where}: {len(got)} items != pinned {len(want)}: {got!r:.300}"
        )
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, f"{where}[{i}]")
    else:
        assert got == want, f"{where}: {got!r} != pinned {want!r}"


def _check_nontrivial(pinned: list[dict]) -> None:
    """A pin with no spans at all would pass against a tagger that finds nothing."""
    assert sum(len(a["spans"]) for a in pinned) >= 5


def test_quickstart_model_reproduces_its_pins(model_dir):
    pinned = _pinned("quickstart")
    _check_nontrivial(pinned)
    _same(scorer_outputs(model_dir), pinned, "quickstart")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["linear", "transformer-softmax", "transformer-sigmoid-noscheme"])
def test_old_model_folders_load_and_reproduce_their_pins(name):
    pinned = _pinned(f"folder-{name}")
    _check_nontrivial(pinned)
    _same(scorer_outputs(FOLDERS / name), pinned, name)


def test_model_fingerprints_reproduce_their_pins():
    """Pinned on 358564c, before the fingerprint moved onto the tagger (old journals must still resume)."""
    assert fingerprints() == json.loads((FIXTURES / "pin-fingerprints.json").read_text(encoding="utf-8"))


def test_model_folder_fixtures_stay_small():
    total = sum(f.stat().st_size for f in FOLDERS.rglob("*") if f.is_file())
    assert 0 < total < 2 * 2**20


@pytest.mark.slow
@pytest.mark.parametrize("name,folder", [("pyfunc-linear", "linear"), ("pyfunc-transformer", "transformer-softmax")])
def test_mlflow_pyfunc_reproduces_its_pins(name, folder, tmp_path):
    pinned = _pinned(name)
    assert sum(len(r["spans"]) for r in pinned) >= 5
    _same(pyfunc_outputs(FOLDERS / folder, tmp_path), pinned, name)


@pytest.mark.slow
def test_onnx_fp32_backend_reproduces_its_pins(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    pinned = _pinned("onnx-fp32")
    _check_nontrivial(pinned)
    _same(onnx_outputs(FOLDERS / "transformer-softmax", tmp_path), pinned, "onnx-fp32")
