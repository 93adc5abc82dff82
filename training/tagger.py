"""The interface every framescope tagger implements, whatever its weights.

A tagger turns texts into per-token probabilities over the ``[inside, begin]`` channels
(:mod:`framescope.training.targets`) with the tokens' character offsets; decoding and
calibration are shared, so the linear baseline and the transformer are compared on
exactly the same footing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.training.decoding import PredictedSpan, decode_spans, word_bounds
from framescope.training.settings import TaggerSettings


@dataclass
class TokenScores:
    """One article's tokens: trimmed character offsets ``[n, 2]`` and probabilities ``[n, 2K]``.

    ``text`` is the article itself: with it, decoding snaps spans to whole words
    (:func:`~framescope.training.decoding.snap_to_words`); every tagger passes it.
    """

    offsets: np.ndarray
    probs: np.ndarray
    text: str | None = None
    _words: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def words(self) -> np.ndarray | None:
        """The article's word boundaries (computed once: calibration decodes many times)."""
        if self._words is None and self.text is not None:
            self._words = word_bounds(self.text)
        return self._words


class SpanTagger:
    settings: TaggerSettings
    taxonomy: Taxonomy

    @property
    def techniques(self) -> list[str]:
        return list(self.settings.techniques)

    def token_scores(self, texts: Sequence[str], progress: bool = False) -> list[TokenScores]:
        raise NotImplementedError

    def set_threads(self, threads: int | None) -> None:
        """Cap the BLAS/OpenMP pools numpy and scikit-learn use (``threadpoolctl``).

        Backends with a pool of their own (torch, ONNX Runtime) extend this.
        """
        if threads:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=int(threads))

    def decode(
        self,
        scores: TokenScores,
        thresholds: dict[str, float] | None = None,
        begin_thresholds: dict[str, float] | float | None = None,
        smoothing: dict[str, int] | int | None = None,
        profile: str = "balanced",
    ) -> list[PredictedSpan]:
        """Spans of one article; explicit ``thresholds`` override the ``profile``'s."""
        return decode_spans(
            scores.probs,
            scores.offsets,
            self.techniques,
            thresholds or self.settings.all_thresholds(profile),
            begin_thresholds if begin_thresholds is not None else self.settings.all_begin_thresholds(),
            smoothing if smoothing is not None else self.settings.smoothing,
            text=scores.text,
        )

    def predict(self, texts: Sequence[str] | Iterable[Document], profile: str = "balanced") -> list[list[PredictedSpan]]:
        """Spans per text, with the model's calibrated thresholds of ``profile``."""
        texts = [t.text if isinstance(t, Document) else t for t in texts]
        return [self.decode(s, profile=profile) for s in self.token_scores(texts)]

    def save_pretrained(self, folder: str | Path) -> None:
        raise NotImplementedError


BACKENDS = ("torch", "torch-bf16", "onnx-fp32", "onnx-int8")


def load_tagger(folder: str | Path, backend: str = "torch") -> SpanTagger:
    """Open a model folder written by any framescope tagger's ``save_pretrained``.

    ``backend`` picks the transformer's forward pass: ``torch`` (the safetensors weights, fp32),
    ``torch-bf16`` (the same weights under bfloat16 autocast: fast where the CPU has AVX-512 BF16
    or AMX), ``onnx-fp32`` or ``onnx-int8`` (``model.onnx`` / ``model.int8.onnx`` written by
    ``framescope export-onnx``; needs the ``onnx`` extra). The linear baseline has only ``torch``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    settings = TaggerSettings.load(folder)
    if settings.model_type == "linear":
        if backend != "torch":
            raise ValueError(f"{folder}: the linear baseline has no {backend} backend")
        from framescope.training.linear import LinearTagger

        return LinearTagger.from_pretrained(folder)
    if settings.model_type == "transformer":
        if backend.startswith("onnx"):
            from framescope.inference.onnx_backend import OnnxTagger

            return OnnxTagger.from_pretrained(folder, quantized=backend == "onnx-int8")
        import torch

        from framescope.training.transformer import TransformerTagger

        tagger = TransformerTagger.from_pretrained(folder)
        if backend == "torch-bf16":
            tagger.compute_dtype = torch.bfloat16
        return tagger
    raise ValueError(f"{folder}: unknown model_type {settings.model_type!r}")
