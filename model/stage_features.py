"""What the article stage sees of an article: its units, their labels and the stacker's inputs.

A unit is the whole article or one paragraph (a non-empty line). Units come article by
article, so each article's units are one slice of the rows (:func:`article_bounds`). The
stacker weighs, per (unit, technique), the lexical model's logit and, as configured, the
unit's length, the article's paragraph logits and the tagger's token-score aggregates:
:class:`StackFeatures` builds that ``[units, techniques, inputs]`` array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from framescope.labels.paragraphs import paragraph_offsets
from framescope.model.stage_settings import TOKEN_INPUTS, StagePrediction, StageSettings
from framescope.model.tagger import TokenScores


@dataclass
class Units:
    """Articles as the stage sees them: texts, gold spans (for fitting), languages, token scores."""

    texts: Sequence[str]
    gold: Sequence[Sequence[tuple[int, int, str]]] | None = None
    langs: Sequence[str | None] | None = None
    scores: Sequence[TokenScores | None] | None = None


def units(text: str, level: str) -> list[tuple[int, int]]:
    """The character ranges one level scores: the whole text, or its paragraphs (lines)."""
    if level == "article":
        return [(0, len(text))]
    return paragraph_offsets(text)


def unit_rows(data: Units, level: str) -> tuple[list[str], np.ndarray, list[str | None]]:
    """Every unit's text, its article index and its article's language."""
    rows, groups, langs = [], [], []
    for i, text in enumerate(data.texts):
        spans = units(text, level)
        rows.extend(text[a:b] for a, b in spans)
        groups.extend([i] * len(spans))
        langs.extend([data.langs[i] if data.langs is not None else None] * len(spans))
    return rows, np.asarray(groups, dtype=np.int64), langs


def unit_labels(
    texts: Sequence[str], gold: Sequence[Sequence[tuple[int, int, str]]], techniques: Sequence[str], level: str
) -> np.ndarray:
    """``[n_units, K]``: the unit overlaps a gold span of the technique by >= 1 character."""
    col = {t: j for j, t in enumerate(techniques)}
    out = []
    for text, spans in zip(texts, gold):
        us = units(text, level)
        y = np.zeros((len(us), len(techniques)), dtype=np.int8)
        for s, e, t in spans:
            if t not in col:
                continue
            for r, (a, b) in enumerate(us):
                if s < b and e > a:
                    y[r, col[t]] = 1
        out.append(y)
    return np.concatenate(out) if out else np.zeros((0, len(techniques)), np.int8)


def article_bounds(groups: np.ndarray, n_articles: int) -> np.ndarray:
    """``[n_articles + 1]``: article ``i``'s units are rows ``bounds[i]:bounds[i + 1]``.
    Units come article by article (:func:`unit_rows`), so each article's rows are one slice;
    masking ``groups == i`` per article instead is quadratic in a large scoring batch."""
    return np.searchsorted(groups, np.arange(n_articles + 1))


def predictions(
    texts: Sequence[str], art: np.ndarray, par: np.ndarray, groups: np.ndarray, techniques: Sequence[str]
) -> list[StagePrediction]:
    """Per article, its row of ``art`` and its paragraphs' rows of ``par`` (article ``groups``) as predictions."""
    bounds = article_bounds(groups, len(texts))
    out = []
    for i, text in enumerate(texts):
        rows = par[bounds[i] : bounds[i + 1]]
        paragraphs = [
            (n, a, b, {t: float(p) for t, p in zip(techniques, rows[n])})
            for n, (a, b) in enumerate(units(text, "paragraph"))
        ]
        out.append(StagePrediction({t: float(p) for t, p in zip(techniques, art[i])}, paragraphs))
    return out


def token_aggregates(
    scores: TokenScores | None, spans: Sequence[tuple[int, int]], k: int, top_k: int, share_thr: float
) -> np.ndarray:
    """``[len(spans), K, 4]``: per technique max, mean, top-k mean, share >= threshold of *inside*."""
    out = np.zeros((len(spans), k, len(TOKEN_INPUTS)), dtype=np.float64)
    if scores is None or len(scores.offsets) == 0:
        return out
    starts = scores.offsets[:, 0]
    inside = scores.probs[:, :k]
    real = scores.offsets[:, 1] > scores.offsets[:, 0]
    # Find each unit's tokens by binary search in the sorted starts, not by a scan of the
    # whole article per unit: that scan made a long article quadratic (paragraphs x tokens).
    order = np.argsort(starts, kind="stable")
    sorted_starts = starts[order]
    for r, (a, b) in enumerate(spans):
        lo, hi = np.searchsorted(sorted_starts, [a, b], side="left")
        rows = np.sort(order[lo:hi])  # the article's token order, as the means were summed before
        x = inside[rows[real[rows]]]
        if len(x) == 0:
            continue
        top = np.sort(x, axis=0)[-top_k:]
        out[r] = np.stack([x.max(0), x.mean(0), top.mean(0), (x >= share_thr).mean(0)], axis=1)
    return out


class StackFeatures:
    """The stacker's evidence per (unit, technique), in the order of :meth:`StageSettings.inputs`.

    Stateless (``fit`` learns nothing): the evidence of a unit depends on that unit and its
    article alone, so training and scoring build it the same way. Logits are clipped to
    +-20: beyond that a lexical model is sure either way, and one extreme unit must not
    dominate the shared stacker's weights."""

    def __init__(
        self,
        length_feature: bool = True,
        paragraph_evidence: bool = True,
        token_features: bool = True,
        top_k: int = 5,
        share_threshold: float = 0.5,
        paragraph_top_k: int = 3,
    ):
        self.length_feature = length_feature
        self.paragraph_evidence = paragraph_evidence
        self.token_features = token_features
        self.top_k = top_k
        self.share_threshold = share_threshold
        self.paragraph_top_k = paragraph_top_k

    @classmethod
    def from_settings(cls, s: StageSettings) -> "StackFeatures":
        return cls(
            s.length_feature, s.paragraph_evidence, s.token_features, s.top_k, s.share_threshold, s.paragraph_top_k
        )

    def fit(self, *_args, **_kwargs) -> "StackFeatures":
        return self

    def uses_paragraphs(self, level: str) -> bool:
        """Whether ``level``'s inputs include the article's paragraph logits."""
        return self.paragraph_evidence and level == "article"

    def token_inputs(self, data: Units, level: str, k: int) -> np.ndarray | None:
        """``[n_units, K, 4]``: the token-score aggregates of every unit (``None`` when not used)."""
        if not self.token_features:
            return None
        blocks = [
            token_aggregates(
                data.scores[i] if data.scores is not None else None,
                units(text, level),
                k,
                self.top_k,
                self.share_threshold,
            )
            for i, text in enumerate(data.texts)
        ]
        return np.concatenate(blocks) if blocks else np.zeros((0, k, len(TOKEN_INPUTS)))

    def paragraph_summary(
        self, paragraph_lexical: np.ndarray, groups: np.ndarray, n_articles: int, intercept: np.ndarray
    ) -> np.ndarray:
        """``[n_articles, K, 3]``: max, mean and top-k mean of each article's paragraph logits
        (an article without paragraphs gets the paragraph models' ``intercept``: an empty text)."""
        out = np.repeat(np.repeat(intercept.astype(np.float64)[None, :, None], 3, axis=2), n_articles, axis=0)
        z = np.clip(paragraph_lexical, -20, 20)
        bounds = article_bounds(groups, n_articles)
        for i in range(n_articles):
            x = z[bounds[i] : bounds[i + 1]]
            if len(x):
                top = np.sort(x, axis=0)[-self.paragraph_top_k :]
                out[i] = np.stack([x.max(0), x.mean(0), top.mean(0)], axis=1)
        return out

    def transform(
        self,
        level: str,
        lexical: np.ndarray,
        tokens: np.ndarray | None,
        rows: Sequence[str],
        paragraphs: np.ndarray | None = None,
    ) -> np.ndarray:
        """``[n, K, n_inputs]``: the evidence for each (unit, technique); ``paragraphs``: the
        article level's :meth:`paragraph_summary`."""
        parts = [np.clip(lexical, -20, 20)[..., None]]
        if self.length_feature:
            size = np.log1p(np.array([len(r) for r in rows], dtype=np.float64))
            parts.append(np.repeat(size[:, None, None], lexical.shape[1], axis=1))
        if self.uses_paragraphs(level):
            parts.append(paragraphs)
        if self.token_features:
            parts.append(tokens)
        return np.concatenate(parts, axis=2)
