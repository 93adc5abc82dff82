"""Shared fixtures: the research corpora (skipped where absent) and tiny random models.

Tiny models are built from a config and a tokenizer trained on the fly on the sample
corpus, so the transformer code path is tested without downloading anything: one
WordPiece/BERT pair (the MiniLM family) and one SentencePiece-style Unigram/XLM-R pair
(whose "▁" offsets are the known trap).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("FRAMESCOPE_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "semeval2023").is_dir():
        pytest.skip(f"shared corpora not found at {SHARED_DATA}")
    return SHARED_DATA


def _sample_texts() -> list[str]:
    from framescope.labels.sample import load_sample

    return [d.text for d in load_sample()]


def _save_tokenizer(tok, folder: Path, **special) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **special)
    fast.save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A 2-layer BERT with a WordPiece vocabulary learned from the sample corpus."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from tokenizers.trainers import WordPieceTrainer
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tok = Tokenizer(WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = WordPieceTrainer(vocab_size=600, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(_sample_texts(), trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    _save_tokenizer(
        tok, folder, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]"
    )
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


@pytest.fixture(scope="session")
def tiny_xlmr(tmp_path_factory) -> Path:
    """A 2-layer XLM-R with a Unigram (SentencePiece-style, Metaspace "▁") vocabulary."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from tokenizers.trainers import UnigramTrainer
    from transformers import XLMRobertaConfig, XLMRobertaModel

    folder = tmp_path_factory.mktemp("tiny-xlmr")
    tok = Tokenizer(Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = UnigramTrainer(
        vocab_size=800, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], unk_token="<unk>"
    )
    tok.train_from_iterator(_sample_texts(), trainer)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    _save_tokenizer(
        tok,
        folder,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
    )
    config = XLMRobertaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=140,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    XLMRobertaModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="session")
def random_tagger_folder(tiny_bert, tmp_path_factory):
    """Save an untrained tiny tagger; ``scale`` stretches the classifier so probabilities spread out.

    A factory, so the ONNX and bf16 tests each get their own folder (exports are written into it).
    """

    def make(name: str, scale: float) -> Path:
        import torch

        from framescope.labels.taxonomy import load_taxonomy
        from framescope.model.transformer import TransformerTagger

        torch.manual_seed(0)
        tagger = TransformerTagger.from_base(str(tiny_bert), load_taxonomy(), max_length=48, stride=12)
        with torch.no_grad():
            tagger.model.classifier.weight.mul_(scale)
        folder = tmp_path_factory.mktemp(name)
        tagger.save_pretrained(folder)
        return folder

    return make


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """The quickstart baseline (no MLflow), trained once per session for the inference tests."""
    out = tmp_path_factory.getbasetemp() / "quickstart-model"
    if not (out / "framescope.json").exists():
        from framescope.training.config import load_config
        from framescope.training.train import train

        cfg = load_config("quickstart").with_values({"mlflow.enabled": False, "output_dir": str(out)})
        train(cfg)
    return out


@pytest.fixture(scope="session")
def tracked_quickstart(tmp_path_factory) -> Path:
    """A folder holding a quickstart model trained by the CLI (``model/``) and its MLflow store."""
    import subprocess
    import sys

    tmp = tmp_path_factory.mktemp("tracked-quickstart")
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}")
    proc = subprocess.run(
        [sys.executable, "-m", "framescope", "train", "quickstart", "-o", str(tmp / "model")],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp


@pytest.fixture
def chromium(tmp_path_factory):
    """``chromium(url, *flags, timeout=60)`` runs headless Chromium on a page (the report's and
    the dashboard's browser tests); skips where Chromium is not installed."""
    import shutil
    import subprocess

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed")
    profile = tmp_path_factory.mktemp("chromium-profile")

    def run(url: str, *extra: str, timeout: int = 60) -> subprocess.CompletedProcess:
        cmd = [
            exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", *extra, url,
        ]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    return run
