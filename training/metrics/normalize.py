"""The span shapes the metrics accept, checked and brought to ``(start, end, technique)``.

Why a module of its own: every scorer (:mod:`.spans`, :mod:`.paragraphs`) takes the same
three input shapes and applies the same rules (aligned documents, non-empty spans), so
they are written once, here. The conventions are spelled out in :mod:`.spans`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

Span = tuple[int, int, str]
"""``(start, end, technique)``; character offsets, ``end`` exclusive."""

SpanLike = Union[Sequence[Any], Mapping[str, Any]]
"""A :data:`Span` tuple/list or a ``{"start", "end", "technique"}`` mapping."""

DocSpans = Union[Iterable[SpanLike], Mapping[str, Sequence[Any]]]
"""The spans of one document: an iterable of :data:`SpanLike`, or one column-oriented
mapping ``{"start": [...], "end": [...], "technique": [...]}``."""


def _as_span(item: SpanLike) -> Span:
    if isinstance(item, Mapping):
        start, end, tech = item["start"], item["end"], item["technique"]
    else:
        if len(item) != 3:
            raise ValueError(f"a span must be (start, end, technique), got {item!r}")
        start, end, tech = item
    start_i, end_i = int(start), int(end)
    if start_i != start or end_i != end:
        raise ValueError(f"span offsets must be integers, got {item!r}")
    if start_i < 0 or end_i <= start_i:
        raise ValueError(
            f"span {item!r} is empty or has negative offsets: spans need end > start >= 0 "
            "(a zero-length span has no characters, so its overlap ratio is undefined)"
        )
    return (start_i, end_i, str(tech))


def normalize_spans(doc: DocSpans | None) -> list[Span]:
    """Return one document's spans as a list of validated ``(start, end, technique)``.

    Accepts the three shapes described in the module docstring (``None`` means no
    spans), because the same scorer is fed by hand-written tuples in tests, by
    row-oriented dicts from ``datasets`` ``List(struct)`` features and by
    column-oriented dicts from ``datasets`` ``Sequence(dict)`` features.
    """
    if doc is None:
        return []
    if isinstance(doc, Mapping):
        starts, ends, techs = doc["start"], doc["end"], doc["technique"]
        if not (len(starts) == len(ends) == len(techs)):
            raise ValueError("column-oriented spans need equally long start/end/technique")
        return [_as_span((s, e, t)) for s, e, t in zip(starts, ends, techs)]
    return [_as_span(item) for item in doc]


def _normalize_corpus(
    predictions: Sequence[DocSpans], references: Sequence[DocSpans]
) -> tuple[list[list[Span]], list[list[Span]]]:
    if len(predictions) != len(references):
        raise ValueError(
            f"predictions and references must be aligned by document: got "
            f"{len(predictions)} prediction documents and {len(references)} reference documents"
        )
    return [normalize_spans(d) for d in predictions], [normalize_spans(d) for d in references]


def f1_of(precision: float, recall: float) -> float:
    """F1, the harmonic mean of precision and recall; 0 when both are 0 (instead of 0/0).

    The one F1 of the metrics and of calibration's global threshold search."""
    total = precision + recall
    return 0.0 if total == 0 else 2.0 * precision * recall / total


def prf(p_credit: float, g_credit: float, n_pred: int, n_gold: int) -> dict[str, Any]:
    """Precision, recall and F1 from the credit given to predictions and to gold items (their
    counts of exact matches, or the partial-overlap credit of the span scorer); 0, not 0/0,
    on an empty side."""
    precision = p_credit / n_pred if n_pred else 0.0
    recall = g_credit / n_gold if n_gold else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1_of(precision, recall),
        "n_pred": int(n_pred),
        "n_gold": int(n_gold),
    }
