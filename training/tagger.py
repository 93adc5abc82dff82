"""The interface every framescope tagger implements, whatever its weights.

A tagger turns texts into per-token probabilities over the ``[inside, begin]`` channels
(:mod:`framescope.training.targets`) with the tokens' character offsets; decoding and
calibration are shared, so the linear baseline and the transformer are compared on
exactly the same footing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.training.decoding import PredictedSpan, decode_spans
from framescope.training.settings import TaggerSettings


@dataclass
class TokenScores:
    """One article's tokens: trimmed character offsets ``[n, 2]`` and probabilities ``[n, 2K]``."""

    offsets: np.ndarray
    probs: np.ndarray


class SpanTagger:
    settings: TaggerSettings
    taxonomy: Taxonomy

    @property
    def techniques(self) -> list[str]:
        return list(self.settings.techniques)

    def token_scores(self, texts: Sequence[str], progress: bool = False) -> list[TokenScores]:
        raise NotImplementedError

    def decode(self, scores: TokenScores, thresholds: dict[str, float] | None = None) -> list[PredictedSpan]:
        return decode_spans(
            scores.probs,
            scores.offsets,
            self.techniques,
            thresholds or self.settings.all_thresholds(),
            self.settings.begin_threshold,
        )

    def predict(self, texts: Sequence[str] | Iterable[Document]) -> list[list[PredictedSpan]]:
        """Spans per text, with the model's calibrated thresholds."""
        texts = [t.text if isinstance(t, Document) else t for t in texts]
        return [self.decode(s) for s in self.token_scores(texts)]

    def save_pretrained(self, folder: str | Path) -> None:
        raise NotImplementedError


def load_tagger(folder: str | Path) -> SpanTagger:
    """Open a model folder written by any framescope tagger's ``save_pretrained``."""
    settings = TaggerSettings.load(folder)
    if settings.model_type == "linear":
        from framescope.training.linear import LinearTagger

        return LinearTagger.from_pretrained(folder)
    if settings.model_type == "transformer":
        from framescope.training.transformer import TransformerTagger

        return TransformerTagger.from_pretrained(folder)
    raise ValueError(f"{folder}: unknown model_type {settings.model_type!r}")
