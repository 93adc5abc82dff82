"""Token-level scores: entity F1 on BIO tag sequences, through ``seqeval``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def token_seqeval(
    pred_tags: Sequence[Sequence[str]],
    gold_tags: Sequence[Sequence[str]],
    *,
    mode: str | None = None,
    scheme: str | None = None,
) -> dict[str, float]:
    """Entity-level micro precision/recall/F1 on BIO tag sequences, via ``seqeval``.

    A thin wrapper so the training loop reports the same token-level numbers as the
    rest of the NER ecosystem. ``pred_tags`` and ``gold_tags`` are lists of tag
    sequences (``list[list[str]]``, e.g. ``["O", "B-Loaded_Language", "I-Loaded_Language"]``),
    equally long pairwise.

    Multi-label: techniques may overlap, which one BIO sequence cannot express, so the
    caller passes one sequence *per technique per document* (same order on both sides;
    plain ``B``/``I``/``O`` tags are fine in that layout). Micro scores then pool all
    (document, technique) chunks.

    ``mode``/``scheme`` are passed to seqeval (``mode="strict"`` with e.g.
    ``scheme="IOB2"`` rejects ill-formed chunks; the default is the lenient
    conlleval behaviour). Undefined ratios (nothing predicted / no gold chunk) are 0
    instead of a warning. Returns ``precision``, ``recall``, ``f1``, ``accuracy``
    (token accuracy).
    """
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    if len(pred_tags) != len(gold_tags):
        raise ValueError(
            f"pred_tags and gold_tags must have the same number of sequences: {len(pred_tags)} != {len(gold_tags)}"
        )
    for i, (p, g) in enumerate(zip(pred_tags, gold_tags)):
        if len(p) != len(g):
            raise ValueError(f"sequence {i}: {len(p)} predicted tags but {len(g)} gold tags")
    y_pred = [list(map(str, p)) for p in pred_tags]
    y_true = [list(map(str, g)) for g in gold_tags]
    if not any(y_true) and not any(y_pred):
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "accuracy": 0.0}
    kw: dict[str, Any] = {"zero_division": 0}
    if mode is not None:
        kw["mode"] = mode
    if scheme is not None:
        from seqeval import scheme as seqeval_schemes

        kw["scheme"] = getattr(seqeval_schemes, scheme)
    return {
        "precision": float(precision_score(y_true, y_pred, **kw)),
        "recall": float(recall_score(y_true, y_pred, **kw)),
        "f1": float(f1_score(y_true, y_pred, **kw)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
    }
