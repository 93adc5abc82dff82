"""Per-technique decision thresholds chosen on dev, under a guard that keeps spans span-like.

Why a guard: the partial-overlap span metric gives a predicted span credit for the
share of it that covers gold, and recall for the share of gold it covers; one long
prediction over a whole paragraph scores recall cheaply and loses little precision
when the paragraph is dense with techniques. Left alone, a threshold search drifts
towards painting paragraphs. So a threshold is only eligible when the mean length of
the spans it produces stays within ``max_length_ratio`` times the gold mean for that
technique. Techniques with too little dev support share one global threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from framescope.training.decoding import decode_technique
from framescope.training.metrics.spans import span_prf
from framescope.training.tagger import TokenScores

GRID = tuple(round(x, 2) for x in np.arange(0.05, 0.96, 0.05))


@dataclass
class Calibration:
    thresholds: dict[str, float]
    global_threshold: float
    report: dict[str, dict] = field(default_factory=dict)


def _decode_one(scores: Sequence[TokenScores], j: int, k: int, thr: float, begin_thr: float, tech: str):
    return [
        [(s, e, tech) for s, e, _ in decode_technique(ts.probs[:, j], ts.probs[:, k + j], ts.offsets, thr, begin_thr)]
        for ts in scores
    ]


def calibrate(
    scores: Sequence[TokenScores],
    gold: Sequence[Sequence[tuple[int, int, str]]],
    techniques: Sequence[str],
    *,
    min_support: int = 10,
    max_length_ratio: float = 2.0,
    begin_threshold: float = 0.5,
    default: float = 0.5,
    grid: Sequence[float] = GRID,
) -> Calibration:
    k = len(techniques)
    report: dict[str, dict] = {}
    thresholds: dict[str, float] = {}
    # per technique, per threshold: (tp_p, n_pred, tp_r, n_gold, length sum) for the global pick
    table: dict[float, list[tuple[float, int, float, int, int]]] = {t: [] for t in grid}
    gold_len_all = [e - s for doc in gold for s, e, _ in doc]
    for j, tech in enumerate(techniques):
        g = [[sp for sp in doc if sp[2] == tech] for doc in gold]
        n_gold = sum(len(x) for x in g)
        gold_mean = float(np.mean([e - s for doc in g for s, e, _ in doc])) if n_gold else (
            float(np.mean(gold_len_all)) if gold_len_all else 50.0
        )
        best = None
        for thr in grid:
            pred = _decode_one(scores, j, k, thr, begin_threshold, tech)
            m = span_prf(pred, g)
            n_pred = m["n_pred"]
            lengths = [e - s for doc in pred for s, e, _ in doc]
            mean_len = float(np.mean(lengths)) if lengths else 0.0
            table[thr].append((m["precision"] * n_pred, n_pred, m["recall"] * n_gold, n_gold, sum(lengths)))
            ok = mean_len <= max_length_ratio * gold_mean
            if ok and n_pred and (best is None or m["f1"] > best[1]):
                best = (thr, m["f1"], m["precision"], m["recall"], n_pred, mean_len)
        entry = {"support": n_gold, "gold_mean_length": round(gold_mean, 1)}
        if n_gold >= min_support and best is not None and best[1] > 0:
            thresholds[tech] = best[0]
            entry.update(
                threshold=best[0], f1=best[1], precision=best[2], recall=best[3],
                n_pred=best[4], mean_length=round(best[5], 1), source="dev",
            )
        else:
            entry.update(source="global")
        report[tech] = entry
    # global threshold: best micro F1 over all techniques with one shared threshold, guarded
    gold_mean_all = float(np.mean(gold_len_all)) if gold_len_all else 50.0
    best_global, best_f1 = default, -1.0
    for thr in grid:
        rows = table[thr]
        tp_p = sum(r[0] for r in rows)
        n_pred = sum(r[1] for r in rows)
        tp_r = sum(r[2] for r in rows)
        n_gold = sum(r[3] for r in rows)
        mean_len = sum(r[4] for r in rows) / n_pred if n_pred else 0.0
        p = tp_p / n_pred if n_pred else 0.0
        r = tp_r / n_gold if n_gold else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        if n_pred and mean_len <= max_length_ratio * gold_mean_all and f1 > best_f1:
            best_global, best_f1 = thr, f1
    for tech, entry in report.items():
        if entry["source"] == "global":
            entry["threshold"] = best_global
    return Calibration(thresholds=thresholds, global_threshold=best_global, report=report)
