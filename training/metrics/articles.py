"""Article-level metrics: does article *a* use technique *T* at all?

A dashboard asks this question per article, so a recipe is judged on it directly, not only
on spans. Two views, each defined once here:

* ranking: ROC AUC of an article score per technique, averaged over the techniques that
  occur in some but not all articles (AUC is undefined otherwise). 0.5 is chance; a
  technique a model never predicts scores 0 everywhere and ranks nothing.
* decisions: micro-F1 over (article, technique) presence pairs, beside the *constant
  guess* that marks every article with the techniques at least ``share`` of the training
  articles use (those of the article's language, when the report is per language). The guess is a strong floor on SemEval data, where Loaded_Language and
  Name_Calling occur in most articles; a model that cannot beat it adds nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

import numpy as np

from framescope.training.metrics.normalize import f1_of

Presence = Sequence[set[str]]  # per article: the techniques it uses


def presence_from_spans(docs_spans: Sequence[Sequence[tuple[int, int, str]]]) -> list[set[str]]:
    """Per article, the set of techniques with at least one span."""
    return [{t for _, _, t in spans} for spans in docs_spans]


def best_span_scores(
    docs_spans: Sequence[Sequence[tuple[int, int, str]]], confidences: Sequence[Sequence[float]] | None = None
) -> list[dict[str, float]]:
    """Per article, each predicted technique's best span confidence (1.0 per span without
    ``confidences``): the article score read off the spans, as before the article stage."""
    out = []
    for k, spans in enumerate(docs_spans):
        best: dict[str, float] = {}
        for (_, _, t), c in zip(spans, confidences[k] if confidences is not None else [1.0] * len(spans)):
            best[t] = max(best.get(t, 0.0), c)
        out.append(best)
    return out


def technique_shares(presence: Presence) -> dict[str, float]:
    """Share of articles that use each technique (the constant guess's evidence)."""
    n = max(len(presence), 1)
    counts: Counter = Counter(t for techs in presence for t in techs)
    return {t: c / n for t, c in sorted(counts.items())}


def shares_by_group(presence: Presence, langs: Sequence[str | None]) -> dict[str, dict[str, float]]:
    """Technique shares overall (``all``) and per language: the constant guess of each report group."""
    out = {"all": technique_shares(presence)}
    for lang in sorted({str(lg) for lg in langs}):
        out[lang] = technique_shares([p for p, lg in zip(presence, langs) if str(lg) == lang])
    return out


def constant_guess(shares: Mapping[str, float], share: float = 0.3) -> set[str]:
    """The techniques used by at least ``share`` of the training articles."""
    return {t for t, s in shares.items() if s >= share}


def presence_micro_f1(predicted: Presence, gold: Presence) -> dict[str, float]:
    """Micro precision/recall/F1 over (article, technique) pairs."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted articles but {len(gold)} gold articles")
    tp = sum(len(p & g) for p, g in zip(predicted, gold))
    n_pred = sum(len(p) for p in predicted)
    n_gold = sum(len(g) for g in gold)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    return {"precision": precision, "recall": recall, "f1": f1_of(precision, recall)}


def mean_roc_auc(scores: Sequence[Mapping[str, float]], gold: Presence, techniques: Sequence[str]) -> dict[str, object]:
    """Mean over techniques of the ROC AUC of the article score; per-technique values too.

    A technique missing from ``scores`` of an article counts as score 0. Techniques present
    in all or none of the articles are skipped (``n_techniques`` says how many counted);
    when none counts the mean is ``None`` (undefined, and JSON has no NaN).
    """
    from sklearn.metrics import roc_auc_score

    per: dict[str, float] = {}
    for t in techniques:
        y = np.array([t in g for g in gold], dtype=bool)
        if y.all() or not y.any():
            continue
        s = np.array([float(sc.get(t, 0.0) or 0.0) for sc in scores])
        per[t] = float(roc_auc_score(y, s))
    return {"mean": float(np.mean(list(per.values()))) if per else None, "n_techniques": len(per), "per_technique": per}
