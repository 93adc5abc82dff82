"""From per-token probabilities back to character spans with confidences.

Shared by every tagger (transformer and linear baseline) and by calibration, so that
what is calibrated is exactly what is shipped.

Whole words: tokenizers cut words into pieces (WordPiece splits a German compound into
many), so a run of confident pieces can start or end in the middle of a word ("Käm",
"ch militäris"). Gold annotations never do, and an analyst cannot read a fragment. When
the article text is known, every span is snapped outwards to the word boundaries of ONE
segmentation that does not depend on the tokenizer (:func:`word_bounds`: maximal runs of
letters, combining marks, digits and underscores, so a German compound is one word), and
spans of one technique that snapping made overlap are merged.

No span without a letter or digit: a run of confident tokens over punctuation alone
("!", "–", "...") is no technique an analyst can read, and gold spans never are. With
the article text known, :func:`drop_wordless` removes spans that touch no word of the
same segmentation; calibration decodes through the same path, so thresholds are
chosen with the rule in force.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import regex

# letters, combining marks (Devanagari vowel signs, decomposed accents), digits, underscore
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}_]+")


@dataclass(frozen=True, order=True)
class PredictedSpan:
    start: int
    end: int
    technique: str
    confidence: float

    def as_tuple(self) -> tuple[int, int, str]:
        return (self.start, self.end, self.technique)


def decode_technique(
    inside: np.ndarray,
    begin: np.ndarray,
    offsets: np.ndarray,
    threshold: float,
    begin_threshold: float = 0.5,
    smoothing: int = 1,
    words: np.ndarray | None = None,
) -> list[tuple[int, int, float]]:
    """Runs of tokens with ``inside >= threshold`` become spans; a confident begin splits a run.

    ``smoothing`` > 1 first averages the inside probabilities over that many neighbouring
    tokens: a weak model's probabilities flicker around the threshold inside one span and
    would shatter it into fragments; the average keeps a span whole (and the calibration
    guard keeps it from growing into a paragraph).

    Tokens without characters (special or whitespace pieces) neither break nor extend a
    run. Confidence is the mean inside probability over the span's tokens. Vectorised,
    because calibration decodes every technique at every candidate threshold.

    ``words`` (:func:`word_bounds` of the article text) snaps the spans to whole words.
    """
    real = np.nonzero(offsets[:, 1] > offsets[:, 0])[0]
    if len(real) == 0:
        return []
    ins = inside[real]
    if smoothing > 1 and len(ins) > 1:
        ins = _moving_average(ins.astype(np.float64), smoothing)
    on = ins >= threshold
    if not on.any():
        return []
    prev_on = np.concatenate(([False], on[:-1]))
    starts_run = on & (~prev_on | (begin[real] >= begin_threshold))
    run_id = np.cumsum(starts_run) - 1
    first = np.nonzero(starts_run)[0]
    idx_on = np.nonzero(on)[0]
    ids = run_id[idx_on]
    last = np.zeros(len(first), dtype=np.int64)
    np.maximum.at(last, ids, idx_on)
    sums = np.bincount(ids, weights=ins[idx_on], minlength=len(first))
    counts = np.bincount(ids, minlength=len(first))
    s_char = offsets[real[first], 0]
    e_char = offsets[real[last], 1]
    conf = sums / np.maximum(counts, 1)
    spans = [(int(a), int(b), float(c)) for a, b, c in zip(s_char, e_char, conf)]
    return drop_wordless(snap_to_words(spans, words), words) if words is not None else spans


def drop_wordless(spans: Sequence[tuple[int, int, float]], words: np.ndarray) -> list[tuple[int, int, float]]:
    """Keep the ``(start, end, confidence)`` spans that overlap at least one word of ``words``.

    ``words`` is :func:`word_bounds` of the text: runs of letters, digits (and the combining
    marks and underscores joined to them), so a span left out here has no letter or digit.
    """
    if not spans:
        return []
    if len(words) == 0:
        return []
    starts = np.array([s for s, _, _ in spans], dtype=np.int64)
    ends = np.array([e for _, e, _ in spans], dtype=np.int64)
    i = np.searchsorted(words[:, 1], starts, side="right")  # the first word ending after the start
    ok = (i < len(words)) & (words[np.minimum(i, len(words) - 1), 0] < ends)
    return [span for span, keep in zip(spans, ok.tolist()) if keep]


def word_bounds(text: str) -> np.ndarray:
    """``[n_words, 2]`` character offsets of the words of ``text`` (the snapping segmentation)."""
    return np.array([m.span() for m in _WORD.finditer(text)], dtype=np.int64).reshape(-1, 2)


def snap_to_words(spans: Sequence[tuple[int, int, float]], words: np.ndarray) -> list[tuple[int, int, float]]:
    """Widen each ``(start, end, confidence)`` to whole words; merge spans that then overlap.

    A start inside a word moves back to the word's start, an end inside a word moves
    forward to its end; boundaries already between words (or at punctuation) stay. Widening,
    not shrinking: a fragment ("Unterstü") is evidence for its word, and shrinking could
    leave nothing. Spans of one technique that now overlap (two pieces of one compound)
    become one span with the higher confidence.
    """
    if not spans or len(words) == 0:
        return list(spans)
    w_start, w_end = words[:, 0], words[:, 1]
    starts = np.array([s for s, _, _ in spans], dtype=np.int64)
    ends = np.array([e for _, e, _ in spans], dtype=np.int64)
    # the first word ending after the position contains it when it starts before it
    i = np.minimum(np.searchsorted(w_end, starts, side="right"), len(words) - 1)
    starts = np.where((w_start[i] < starts) & (starts < w_end[i]), w_start[i], starts)
    i = np.minimum(np.searchsorted(w_end, ends, side="right"), len(words) - 1)
    ends = np.where((w_start[i] < ends) & (ends < w_end[i]), w_end[i], ends)
    out: list[tuple[int, int, float]] = []
    for a, b, (_, _, c) in sorted(zip(starts.tolist(), ends.tolist(), spans)):
        if out and a < out[-1][1]:
            pa, pb, pc = out[-1]
            out[-1] = (pa, max(pb, b), max(pc, c))
        else:
            out.append((a, b, c))
    return out


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    half = width // 2
    padded = np.concatenate(([0.0], np.cumsum(x)))
    idx = np.arange(len(x))
    lo = np.maximum(idx - half, 0)
    hi = np.minimum(idx + half + 1, len(x))
    return (padded[hi] - padded[lo]) / (hi - lo)


def decode_spans(
    probs: np.ndarray,
    offsets: np.ndarray,
    techniques: Sequence[str],
    thresholds: Mapping[str, float] | float,
    begin_threshold: Mapping[str, float] | float = 0.5,
    smoothing: Mapping[str, int] | int = 1,
    text: str | None = None,
) -> list[PredictedSpan]:
    """All techniques' spans for one article, sorted by start.

    ``begin_threshold`` may be one value or one per technique; above 1 a technique's runs
    are never split at begin tokens. With the article's ``text`` spans are whole words.
    """
    words = word_bounds(text) if text is not None else None
    k = len(techniques)
    if probs.shape[1] != 2 * k:
        raise ValueError(f"expected {2 * k} channels, got {probs.shape[1]}")
    out: list[PredictedSpan] = []
    for j, tech in enumerate(techniques):
        thr = thresholds if isinstance(thresholds, (int, float)) else thresholds[tech]
        bthr = begin_threshold if isinstance(begin_threshold, (int, float)) else begin_threshold[tech]
        width = smoothing if isinstance(smoothing, int) else int(smoothing.get(tech, 1))
        for s, e, c in decode_technique(probs[:, j], probs[:, k + j], offsets, thr, bthr, width, words):
            out.append(PredictedSpan(s, e, tech, round(c, 6)))
    out.sort()
    return out
