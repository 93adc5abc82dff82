"""SemEval-2023 Task 3 subtask 3 paragraph-level scorer, from character spans.

Why beside the span scorer: SemEval-2023 ranks systems on paragraphs, and calibration
optimises the same paragraph rule (:func:`paragraph_labels`), so the rule lives once, here.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from framescope.labels.paragraphs import paragraph_offsets
from framescope.training.metrics.normalize import DocSpans, Span, _normalize_corpus, prf

__all__ = ["paragraph_labels", "paragraph_micro_f1", "paragraph_offsets"]


def paragraph_labels(
    paragraphs: list[tuple[int, int]], spans: list[Span], keep: set[str] | None = None
) -> set[tuple[int, str]]:
    """``{(paragraph index, technique)}`` for every paragraph (of :func:`paragraph_offsets`) a span overlaps.

    The one paragraph rule: :func:`paragraph_micro_f1` reports it and calibration optimises it.
    """
    starts = [s for s, _e in paragraphs]
    labels: set[tuple[int, str]] = set()
    for s, e, t in spans:
        if keep is not None and t not in keep:
            continue
        # paragraphs are sorted and disjoint: candidates start before the span ends
        k = bisect.bisect_left(starts, e)
        i = k - 1
        while i >= 0 and paragraphs[i][1] > s:  # overlaps by >= 1 character
            labels.add((i, t))
            i -= 1
    return labels


def paragraph_micro_f1(
    texts: Sequence[str],
    predictions: Sequence[DocSpans],
    references: Sequence[DocSpans],
    techniques: Sequence[str] | None = None,
) -> dict[str, Any]:
    """SemEval-2023 Task 3 subtask 3 (paragraph level) micro-F1 from character spans.

    Each document text is cut into paragraphs with :func:`paragraph_offsets` (lines;
    empty/whitespace-only lines dropped). A paragraph carries a technique when at least
    one span of that technique overlaps it by at least one character; this turns both
    span sets into sets of ``(document, paragraph, technique)`` pairs, which are
    compared exactly. Scoring at this granularity is what SemEval-2023 ranks on, and
    it is robust to boundary noise that the character-level scorer punishes -- but it
    rewards "painting" whole paragraphs, so read it together with :func:`span_prf`
    and :func:`span_lengths`.

    ``techniques``: the label set. When given, spans with other techniques are ignored
    and ``macro_f1`` averages over *all* listed techniques, a technique with neither
    gold nor predicted pairs counting as F1 0 (the behaviour of the official scorer,
    which uses scikit-learn's macro F1 over the full class list). When ``None``, the
    label set is every technique seen in predictions or references.

    Returns micro ``precision``, ``recall``, ``f1``, ``macro_f1``, ``n_pred``/``n_gold``
    (number of predicted/gold pairs), ``n_paragraphs`` (non-empty lines scored) and
    ``per_technique: {technique: {precision, recall, f1, n_pred, n_gold}}``.
    Micro precision is 0 when nothing is predicted, recall 0 when there is no gold.
    """
    if not (len(texts) == len(predictions) == len(references)):
        raise ValueError(
            f"texts, predictions and references must be aligned by document: got "
            f"{len(texts)}, {len(predictions)} and {len(references)}"
        )
    pred_docs, gold_docs = _normalize_corpus(predictions, references)
    keep = set(techniques) if techniques is not None else None
    tp, n_pred, n_gold, n_paragraphs = _count_pairs(texts, pred_docs, gold_docs, keep)
    label_set = list(techniques) if techniques is not None else sorted(set(n_pred) | set(n_gold))
    per_technique = {t: prf(tp[t], tp[t], n_pred[t], n_gold[t]) for t in label_set}
    n_tp = sum(tp.values())
    total = prf(n_tp, n_tp, sum(n_pred.values()), sum(n_gold.values()))
    macro = math.fsum(v["f1"] for v in per_technique.values()) / len(per_technique) if per_technique else 0.0
    return {
        "precision": total["precision"],
        "recall": total["recall"],
        "f1": total["f1"],
        "macro_f1": macro,
        "n_pred": total["n_pred"],
        "n_gold": total["n_gold"],
        "n_paragraphs": n_paragraphs,
        "per_technique": per_technique,
    }


def _count_pairs(
    texts: Sequence[str], pred_docs: list[list[Span]], gold_docs: list[list[Span]], keep: set[str] | None
) -> tuple[dict[str, int], dict[str, int], dict[str, int], int]:
    """Per technique the (paragraph, technique) pairs both sides flag, the predicted and the
    gold ones; and how many paragraphs were scored."""
    tp: dict[str, int] = defaultdict(int)
    n_pred: dict[str, int] = defaultdict(int)
    n_gold: dict[str, int] = defaultdict(int)
    n_paragraphs = 0
    for text, pdoc, gdoc in zip(texts, pred_docs, gold_docs):
        if not isinstance(text, str):
            raise TypeError(f"document texts must be str, got {type(text).__name__}")
        paras = paragraph_offsets(text)
        n_paragraphs += len(paras)
        pl = paragraph_labels(paras, pdoc, keep)
        gl = paragraph_labels(paras, gdoc, keep)
        for _i, t in pl:
            n_pred[t] += 1
        for _i, t in gl:
            n_gold[t] += 1
        for _i, t in pl & gl:
            tp[t] += 1
    return tp, n_pred, n_gold, n_paragraphs
