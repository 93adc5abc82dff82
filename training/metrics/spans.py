"""Span-level evaluation metrics for framing/propaganda technique detection.

Everything here is plain Python (plus ``seqeval`` for the token-level wrapper): no
torch, no ``datasets``, no network, so the functions can be used from a training loop,
from a notebook, from the ``evaluate`` modules that live next to this file, or from a
CI job without a model.

Conventions shared by all functions
-----------------------------------
* A *span* is ``(start, end, technique)`` with character offsets into the document
  text, ``end`` exclusive. A mapping with ``"start"``, ``"end"`` and ``"technique"``
  keys is accepted too (that is what ``datasets``/``evaluate`` hand back), and so is a
  column-oriented mapping ``{"start": [...], "end": [...], "technique": [...]}`` for
  a whole document.
* ``predictions`` and ``references`` are aligned by document: ``predictions[i]`` and
  ``references[i]`` are the spans of document ``i``. Lengths must match; a mismatch
  is an alignment bug in the caller and raises ``ValueError`` rather than being
  silently truncated.
* Spans must be non-empty (``end > start >= 0``): a zero-length span has no
  characters, so the partial-overlap ratio ``|s ∩ t| / |s|`` is undefined for it.
  Rather than guessing (count it as a miss? drop it?), ``ValueError`` is raised so a
  decoder bug surfaces where it happens.
* Duplicate spans are *not* de-duplicated: two identical predicted spans count as two
  predictions. De-duplicate upstream if your decoder can emit duplicates.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

# the input shapes, the paragraph scorer and the token scorer live in their own modules;
# they are importable from here, where the metrics have always been imported from
from framescope.training.metrics.normalize import (
    DocSpans,
    Span,
    SpanLike,
    _normalize_corpus,
    normalize_spans,
    prf,
)
from framescope.training.metrics.paragraphs import paragraph_labels, paragraph_micro_f1, paragraph_offsets
from framescope.training.metrics.tokens import token_seqeval

__all__ = [
    "Span",
    "SpanLike",
    "DocSpans",
    "normalize_spans",
    "span_prf",
    "span_identification_prf",
    "paragraph_micro_f1",
    "paragraph_offsets",
    "token_seqeval",
    "span_lengths",
    "merge_intervals",
    "paragraph_labels",
]

# Label used by the technique-agnostic scorer.
_ANY = "__span__"


# --------------------------------------------------------------------------------------
# SemEval-2020 Task 11 style span scorer
# --------------------------------------------------------------------------------------


def _overlap_credits(
    preds: Sequence[tuple[int, int]], golds: Sequence[tuple[int, int]]
) -> tuple[list[float], list[float]]:
    """Per-span partial-overlap credit, capped at 1.

    Returns ``(pred_credit, gold_credit)`` with ``pred_credit[i] = min(1, sum_j |p_i ∩
    g_j| / |p_i|)`` and ``gold_credit[j] = min(1, sum_i |p_i ∩ g_j| / |g_j|)``.

    Overlapping pairs are enumerated with a sweep line over both lists sorted by start:
    when an interval opens at ``x``, every still-open interval of the *other* side
    (started at or before ``x`` and ending after ``x``) overlaps it, and each pair is
    seen exactly once (when its later-starting member opens). Closed intervals are
    retired lazily through a min-heap on ``end``. Cost: O(n log n + #overlapping
    pairs), so thousands of spans per document take milliseconds; only a pathological
    all-overlap-all input is quadratic, and then the answer itself has that many terms.
    """
    pred_credit = [0.0] * len(preds)
    gold_credit = [0.0] * len(golds)
    if not preds or not golds:
        return pred_credit, gold_credit

    # events: (start, side, index); side 0 = prediction, 1 = gold
    events = [(s, 0, i) for i, (s, _e) in enumerate(preds)]
    events.extend((s, 1, j) for j, (s, _e) in enumerate(golds))
    events.sort()
    spans = (preds, golds)
    # open intervals per side: heap of (end, index) for retiring, set for iterating
    heaps: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
    active: tuple[set[int], set[int]] = (set(), set())

    for start, side, idx in events:
        other = 1 - side
        heap, act = heaps[other], active[other]
        while heap and heap[0][0] <= start:
            act.discard(heapq.heappop(heap)[1])
        if act:
            s_end = spans[side][idx][1]
            for o in act:
                o_start, o_end = spans[other][o]
                inter = min(s_end, o_end) - start  # start >= o_start by sweep order
                if inter <= 0:  # pragma: no cover - guarded by the heap retirement
                    continue
                if side == 0:
                    p, g = idx, o
                else:
                    p, g = o, idx
                pred_credit[p] += inter / (preds[p][1] - preds[p][0])
                gold_credit[g] += inter / (golds[g][1] - golds[g][0])
        heapq.heappush(heaps[side], (spans[side][idx][1], idx))
        active[side].add(idx)

    return [min(1.0, c) for c in pred_credit], [min(1.0, c) for c in gold_credit]


def _score_grouped(pred_docs: list[list[Span]], gold_docs: list[list[Span]]) -> dict[str, dict[str, float]]:
    """Sum capped credits per technique: ``{tech: {p_credit, g_credit, n_pred, n_gold}}``."""
    acc: dict[str, dict[str, float]] = defaultdict(lambda: {"p_credit": 0.0, "g_credit": 0.0, "n_pred": 0, "n_gold": 0})
    for pdoc, gdoc in zip(pred_docs, gold_docs):
        by_tech: dict[str, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = defaultdict(lambda: ([], []))
        for s, e, t in pdoc:
            by_tech[t][0].append((s, e))
        for s, e, t in gdoc:
            by_tech[t][1].append((s, e))
        for tech, (ps, gs) in by_tech.items():
            pc, gc = _overlap_credits(ps, gs)
            a = acc[tech]
            a["p_credit"] += math.fsum(pc)
            a["g_credit"] += math.fsum(gc)
            a["n_pred"] += len(ps)
            a["n_gold"] += len(gs)
    return acc


def span_prf(predictions: Sequence[DocSpans], references: Sequence[DocSpans]) -> dict[str, Any]:
    """SemEval-2020 Task 11 span scorer with partial-overlap credit, per-span capped.

    For predicted spans ``s`` and gold spans ``t`` of the *same document and the same
    technique*::

        precision = sum_s min(1, sum_t |s ∩ t| / |s|) / #predicted spans
        recall    = sum_t min(1, sum_s |s ∩ t| / |t|) / #gold spans
        f1        = 2PR / (P + R)          (0 when P = R = 0)

    Why partial credit: span boundaries of rhetorical techniques are fuzzy even between
    annotators, so an exact-match scorer would punish a prediction that finds the right
    phrase but misses a word. Why the per-span cap: the official SemEval-2020 scorer
    sums over all pairs, so one long prediction covering two gold spans (or two
    overlapping gold spans of one technique) can earn more than 1 and push precision
    above what the prediction deserves; capping keeps each span's contribution in
    [0, 1] and makes P and R true averages. Without overlapping same-technique spans on
    a side the cap never binds and the numbers equal the official formula.

    Edge cases (deliberate, not 0/0 errors): no predictions at all gives precision 0
    (a system that predicts nothing has shown no precision, and "1.0" would reward
    silence); no gold spans gives recall 0. F1 is then 0.

    Returns micro-averaged ``precision``, ``recall``, ``f1``, ``n_pred``, ``n_gold`` and
    ``per_technique: {technique: {precision, recall, f1, n_pred, n_gold}}`` for every
    technique that occurs in the predictions or the references.
    """
    pred_docs, gold_docs = _normalize_corpus(predictions, references)
    acc = _score_grouped(pred_docs, gold_docs)
    per_technique = {
        tech: prf(a["p_credit"], a["g_credit"], int(a["n_pred"]), int(a["n_gold"])) for tech, a in sorted(acc.items())
    }
    total = prf(
        math.fsum(a["p_credit"] for a in acc.values()),
        math.fsum(a["g_credit"] for a in acc.values()),
        sum(int(a["n_pred"]) for a in acc.values()),
        sum(int(a["n_gold"]) for a in acc.values()),
    )
    total["per_technique"] = per_technique
    return total


def merge_intervals(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of half-open intervals as sorted, disjoint ``(start, end)`` pairs.

    Touching intervals (``[0, 5)`` and ``[5, 9)``) are merged, because their union as a
    set of characters is one contiguous run.
    """
    merged: list[list[int]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def span_identification_prf(predictions: Sequence[DocSpans], references: Sequence[DocSpans]) -> dict[str, Any]:
    """Technique-agnostic span identification score (SemEval-2020 Task 11 "SI" style).

    Within each document all spans of all techniques are merged into their union
    intervals, separately for predictions and references, and the merged intervals
    are scored with :func:`span_prf` under one label. This asks "did the model find
    the propagandistic text?" independently of which technique it named, which
    separates localisation errors from classification errors.

    ``n_pred``/``n_gold`` count merged intervals. Since merged intervals on one side
    are disjoint, the per-span cap of :func:`span_prf` never binds here. Returns
    ``precision``, ``recall``, ``f1``, ``n_pred``, ``n_gold``.
    """
    pred_docs, gold_docs = _normalize_corpus(predictions, references)

    def union(doc: list[Span]) -> list[Span]:
        return [(s, e, _ANY) for s, e in merge_intervals((s, e) for s, e, _t in doc)]

    result = span_prf([union(d) for d in pred_docs], [union(d) for d in gold_docs])
    result.pop("per_technique")
    return result


def span_lengths(predictions: Sequence[DocSpans]) -> float:
    """Mean predicted span length in characters over all documents (0.0 if none).

    Why: the paragraph-level score can be gamed by predicting whole paragraphs
    ("paragraph painting"); tracking the mean predicted length next to the gold mean
    makes that failure visible in the run's metrics.
    """
    total = 0
    count = 0
    for doc in predictions:
        for s, e, _t in normalize_spans(doc):
            total += e - s
            count += 1
    return total / count if count else 0.0


def span_record_feature():
    """The ``datasets`` feature of one document's spans, shared by the evaluate modules.

    A list of span records: ``datasets.Sequence(dict)`` would store spans column-wise and,
    since datasets 4, only accept ``{"start": [...], ...}``; a list of structs takes the
    natural list-of-dicts input on every datasets version.
    """
    import datasets

    return [
        {
            "start": datasets.Value("int32"),
            "end": datasets.Value("int32"),
            "technique": datasets.Value("string"),
        }
    ]
