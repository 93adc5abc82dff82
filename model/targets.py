"""From character spans to per-token multi-label targets, and windows over whole articles.

Encoding (why): each technique k gets two channels, *inside_k* (the token has at
least one character inside a span of k) and *begin_k* (the token is the first token of a
span of k). A single BIO tag per token cannot say "Loaded_Language and Name_Calling at
once", which real data says constantly; independent inside channels can. The begin
channel keeps two adjacent spans of the same technique apart, which inside alone would
fuse. Channels are laid out as ``[inside_0 .. inside_{K-1}, begin_0 .. begin_{K-1}]``; the
heads that learn them (a softmax over soft targets by default, or sigmoids) are the
schemes of :mod:`framescope.model.schemes`.

Tokens are whatever a tokenizer yields with character offsets: a Hugging Face fast
tokenizer for the transformer tagger, a regex word splitter for the linear baseline.
Offsets are trimmed of whitespace so that SentencePiece's "▁" pieces (XLM-R), which
may cover the space before a word or nothing but a space, never reach into a span.
A token left with no characters gets no target and never starts or ends a span.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from framescope.labels.document import Span

IGNORE = -100.0
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def trim_offsets(text: str, offsets: Sequence[tuple[int, int]]) -> np.ndarray:
    """Shrink each (start, end) to exclude surrounding whitespace; empty tokens become (s, s)."""
    out = np.asarray(offsets, dtype=np.int64).reshape(-1, 2).copy()
    for i in range(len(out)):
        s, e = int(out[i, 0]), int(out[i, 1])
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        out[i] = (s, e) if s < e else (s, s)
    return out


def word_offsets(text: str) -> np.ndarray:
    """Words and punctuation marks with their character offsets (the baseline's tokens)."""
    return np.array([m.span() for m in _WORD.finditer(text)], dtype=np.int64).reshape(-1, 2)


def token_targets(offsets: np.ndarray, spans: Sequence[Span], techniques: Sequence[str]) -> np.ndarray:
    """``[n_tokens, 2K]`` float targets; rows of empty tokens are IGNORE.

    A token is inside a span when any of its characters overlaps it: this absorbs the
    SemEval annotations that end one character early before a full stop.
    """
    k = len(techniques)
    index = {t: i for i, t in enumerate(techniques)}
    n = len(offsets)
    y = np.zeros((n, 2 * k), dtype=np.float32)
    empty = offsets[:, 0] >= offsets[:, 1]
    starts = offsets[:, 0]
    ends = offsets[:, 1]
    for span in spans:
        col = index.get(span.technique)
        if col is None:
            continue
        hit = np.nonzero((starts < span.end) & (ends > span.start) & ~empty)[0]
        if len(hit) == 0:
            continue
        y[hit, col] = 1.0
        y[hit[0], k + col] = 1.0
    y[empty] = IGNORE
    return y


def plan_windows(n_tokens: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Token ranges of ``size`` tokens overlapping by ``stride``; the last one ends flush.

    An empty article still gets one (empty) window so that every document has output.
    """
    if size <= 0:
        raise ValueError("window size must be positive")
    if not 0 <= stride < size:
        raise ValueError("stride (overlap) must be in [0, window size)")
    if n_tokens <= size:
        return [(0, n_tokens)]
    step = size - stride
    ranges = []
    start = 0
    while True:
        end = min(start + size, n_tokens)
        ranges.append((start, end))
        if end == n_tokens:
            break
        start += step
        if start + size > n_tokens:  # last window flush with the end: full context at the edge
            start = n_tokens - size
    return ranges


def merge_window_scores(
    n_tokens: int, windows: Sequence[tuple[int, int]], scores: Sequence[np.ndarray], channels: int
) -> np.ndarray:
    """Average the windows' per-token scores back onto the article's tokens."""
    total = np.zeros((n_tokens, channels), dtype=np.float64)
    count = np.zeros((n_tokens, 1), dtype=np.float64)
    for (a, b), s in zip(windows, scores):
        if b - a != len(s):
            raise ValueError(f"window {a}:{b} has {len(s)} scores")
        total[a:b] += s
        count[a:b] += 1
    count[count == 0] = 1
    return (total / count).astype(np.float32)
