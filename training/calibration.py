"""Per-technique decision thresholds chosen on dev, under a guard that keeps spans span-like.

Why a guard: the partial-overlap span metric gives a predicted span credit for the
share of it that covers gold, and recall for the share of gold it covers; one long
prediction over a whole paragraph scores recall cheaply and loses little precision
when the paragraph is dense with techniques. Left alone, a threshold search drifts
towards painting paragraphs. So a threshold is only eligible when the mean length of
the spans it produces stays within a factor ``max_length_ratio`` of the gold mean for
that technique, in both directions: too long is paragraph painting, too short is a cloud
of fragments that the metric also rewards. Techniques with too little dev support share one global threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from framescope.model.decoding import decode_technique
from framescope.model.numeric import THRESHOLD_GRID
from framescope.model.settings import DecodingCalibration
from framescope.model.tagger import TokenScores
from framescope.training.config import CalibrationConfig
from framescope.training.evaluation import gold_tuples
from framescope.training.metrics.normalize import f1_of
from framescope.training.metrics.spans import paragraph_labels, paragraph_offsets, span_prf

GRID = THRESHOLD_GRID
# where a confident "begin" splits a run; above 1 never splits (adjacent spans fuse, but
# a noisy begin channel can no longer shatter one span into fragments)
BEGIN_GRID = (0.5,)
# tokens averaged before thresholding (1: none); see decoding.decode_technique
SMOOTHING_GRID = (1, 5, 9, 15, 25)


@dataclass
class Calibration(DecodingCalibration):
    """The chosen decoding calibration (store it with ``settings.calibration = cal``) and its dev report."""

    report: dict[str, dict] = field(default_factory=dict)
    # the precise profile: thresholds of the techniques that reach the precision target
    precise: dict[str, float] = field(default_factory=dict)


def _decode_one(scores: Sequence[TokenScores], j: int, k: int, thr: float, begin_thr: float, tech: str, width: int = 1):
    return [
        [
            (s, e, tech)
            for s, e, _ in decode_technique(
                ts.probs[:, j], ts.probs[:, k + j], ts.offsets, thr, begin_thr, width, ts.words()
            )
        ]
        for ts in scores
    ]


def _objective(name: str, span_f1: float, para_f1: float | None) -> float:
    if para_f1 is None or name == "span":
        return span_f1
    if name == "mean":
        return (span_f1 + para_f1) / 2
    if name == "harmonic":
        return 2 * span_f1 * para_f1 / (span_f1 + para_f1) if span_f1 + para_f1 else 0.0
    raise ValueError(f"unknown calibration objective {name!r} (span, mean, harmonic)")


def _paragraph_f1(paragraphs, pred, gold) -> float:
    """F1 over (article, paragraph) pairs flagged with the technique by pred versus gold.

    Paragraphs and the overlap rule are the reported metric's (:func:`paragraph_offsets`,
    :func:`paragraph_labels`): lines, blank ones left out, as SemEval-2023 scores them.
    """
    tp = fp = fn = 0
    for paras, p, g in zip(paragraphs, pred, gold):
        pl, gl = paragraph_labels(paras, p), paragraph_labels(paras, g)
        tp += len(pl & gl)
        fp += len(pl - gl)
        fn += len(gl - pl)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


@dataclass
class _Candidate:
    """One (threshold, begin threshold, smoothing) setting of one technique, as measured on dev."""

    threshold: float
    begin_threshold: float
    smoothing: int
    f1: float
    precision: float
    recall: float
    n_pred: int
    mean_length: float
    paragraph_f1: float | None
    value: float  # the objective


@dataclass(frozen=True)
class _Search:
    """What the threshold search tries for every technique, and how it judges a setting."""

    k: int  # techniques: technique j's begin channel is column k + j
    grid: Sequence[float]
    begin_grid: Sequence[float]
    smoothing_grid: Sequence[int]
    begin_threshold: float  # the default begin threshold: its unsmoothed rows feed the global pick
    max_length_ratio: float
    paragraphs: list | None  # each dev article's paragraphs, when paragraph F1 counts
    objective: str


def calibrate(
    scores: Sequence[TokenScores],
    gold: Sequence[Sequence[tuple[int, int, str]]],
    techniques: Sequence[str],
    *,
    min_support: int = CalibrationConfig.min_support,
    max_length_ratio: float = CalibrationConfig.max_length_ratio,
    begin_threshold: float = CalibrationConfig.begin_threshold,
    default: float = 0.5,
    grid: Sequence[float] = GRID,
    begin_grid: Sequence[float] = BEGIN_GRID,
    smoothing_grid: Sequence[int] = SMOOTHING_GRID,
    texts: Sequence[str] | None = None,
    objective: str = CalibrationConfig.objective,
) -> Calibration:
    """Choose per technique (threshold, begin threshold, smoothing) on dev.

    The criterion is the mean of span F1 and, when ``texts`` are given, paragraph F1
    (SemEval-2023 subtask 3). Span F1 alone is maximised by clouds of short, low-threshold
    fragments (dev precision under 0.1 in our runs); paragraph F1 charges for every
    paragraph falsely flagged with a technique, which pulls thresholds back towards
    precision. The length guard still applies.
    """
    search = _Search(
        k=len(techniques),
        grid=grid,
        begin_grid=sorted(set(begin_grid) | {begin_threshold}),
        smoothing_grid=smoothing_grid,
        begin_threshold=begin_threshold,
        max_length_ratio=max_length_ratio,
        paragraphs=[paragraph_offsets(t) for t in texts] if texts is not None else None,
        objective=objective,
    )
    cal = Calibration(global_threshold=default, begin_threshold=begin_threshold)
    # per threshold, per technique: (tp_p, n_pred, tp_r, n_gold, length sum) for the global pick
    table: dict[float, list[tuple[float, int, float, int, int]]] = {t: [] for t in grid}
    gold_len_all = [e - s for doc in gold for s, e, _ in doc]
    for j, tech in enumerate(techniques):
        g = [[sp for sp in doc if sp[2] == tech] for doc in gold]
        n_gold = sum(len(x) for x in g)
        gold_mean = _mean_length(g) if n_gold else _mean_length(gold) if gold_len_all else 50.0
        best = _best_setting(scores, g, j, tech, n_gold, gold_mean, search, table)
        cal.report[tech] = {"support": n_gold, "gold_mean_length": round(gold_mean, 1)}
        if n_gold >= min_support and best is not None and best.f1 > 0:
            _choose(cal, tech, best)
        else:
            cal.report[tech].update(source="global")
    gold_mean_all = float(np.mean(gold_len_all)) if gold_len_all else 50.0
    cal.global_threshold = _global_threshold(table, grid, default, max_length_ratio * gold_mean_all)
    for entry in cal.report.values():
        if entry["source"] == "global":
            entry["threshold"] = cal.global_threshold
            entry["begin_threshold"] = begin_threshold
    return cal


def _mean_length(gold: Sequence[Sequence[tuple[int, int, str]]]) -> float:
    """The mean length of the gold spans (characters)."""
    return float(np.mean([e - s for doc in gold for s, e, _ in doc]))


def _choose(cal: Calibration, tech: str, best: _Candidate) -> None:
    """Store ``best`` as the technique's own setting, and its dev figures in the report."""
    cal.thresholds[tech] = best.threshold
    cal.begin_thresholds[tech] = best.begin_threshold
    cal.smoothing[tech] = best.smoothing
    cal.report[tech].update(
        threshold=best.threshold,
        begin_threshold=best.begin_threshold,
        smoothing=best.smoothing,
        paragraph_f1=best.paragraph_f1,
        f1=best.f1,
        precision=best.precision,
        recall=best.recall,
        n_pred=best.n_pred,
        mean_length=round(best.mean_length, 1),
        source="dev",
    )


def _best_setting(scores, g, j, tech, n_gold, gold_mean, search: _Search, table) -> _Candidate | None:
    """Technique ``j``'s best guarded setting on dev; also fills its row of the global ``table``."""
    best = None
    for bthr, width in [(b, w) for b in search.begin_grid for w in search.smoothing_grid]:
        for thr in search.grid:
            cand, lengths = _measure(scores, g, j, tech, thr, bthr, width, search)
            if bthr == search.begin_threshold and width == 1:
                table[thr].append(
                    (cand.precision * cand.n_pred, cand.n_pred, cand.recall * n_gold, n_gold, sum(lengths))
                )
            # span-like both ways: neither paragraphs nor shards of the technique's spans
            ratio = search.max_length_ratio
            ok = gold_mean / ratio <= cand.mean_length <= ratio * gold_mean
            if ok and cand.n_pred and (best is None or cand.value > best.value):
                best = cand
    return best


def _measure(scores, g, j, tech, thr, bthr, width, search: _Search) -> tuple[_Candidate, list[int]]:
    """Decode technique ``j`` at one setting and score it against its gold spans ``g``."""
    pred = _decode_one(scores, j, search.k, thr, bthr, tech, width)
    m = span_prf(pred, g)
    lengths = [e - s for doc in pred for s, e, _ in doc]
    mean_len = float(np.mean(lengths)) if lengths else 0.0
    para = _paragraph_f1(search.paragraphs, pred, g) if search.paragraphs is not None else None
    value = _objective(search.objective, m["f1"], para)
    cand = _Candidate(thr, bthr, width, m["f1"], m["precision"], m["recall"], m["n_pred"], mean_len, para, value)
    return cand, lengths


def _global_threshold(table, grid: Sequence[float], default: float, max_mean_length: float) -> float:
    """The best micro F1 over all techniques with one shared threshold, under the length guard."""
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
        f1 = f1_of(p, r)
        if n_pred and mean_len <= max_mean_length and f1 > best_f1:
            best_global, best_f1 = thr, f1
    return best_global


PRECISE_GRID = tuple(round(x, 2) for x in np.arange(0.05, 1.0, 0.01))


def precise_thresholds(
    scores: Sequence[TokenScores],
    gold: Sequence[Sequence[tuple[int, int, str]]],
    techniques: Sequence[str],
    cal: Calibration,
    begin_threshold: float,
    min_precision: float = CalibrationConfig.precise_min_precision,
    min_predictions: int = CalibrationConfig.precise_min_predictions,
) -> tuple[dict[str, float], dict[str, dict]]:
    """The precise profile: per technique the lowest threshold with dev span precision >= ``min_precision``.

    Lowest, because among the thresholds precise enough it keeps the most recall. Begin
    threshold and smoothing stay the balanced profile's, so the two profiles differ only in
    how sure a span must be. A technique whose spans never reach the target on dev (with
    at least ``min_predictions`` spans, so one lucky span does not count) is switched off:
    an analyst is better served by silence than by a technique that is wrong most of the time.
    """
    k = len(techniques)
    chosen: dict[str, float] = {}
    report: dict[str, dict] = {}
    for j, tech in enumerate(techniques):
        g = [[sp for sp in doc if sp[2] == tech] for doc in gold]
        bthr = cal.begin_thresholds.get(tech, begin_threshold)
        width = cal.smoothing.get(tech, 1)
        start = cal.thresholds.get(tech, cal.global_threshold)
        for thr in (t for t in PRECISE_GRID if t >= start):
            m = span_prf(_decode_one(scores, j, k, thr, bthr, tech, width), g)
            if m["n_pred"] < min_predictions:
                break  # higher thresholds only predict fewer spans
            if m["precision"] >= min_precision:
                chosen[tech] = thr
                report[tech] = {
                    "threshold": thr,
                    "precision": m["precision"],
                    "recall": m["recall"],
                    "n_pred": m["n_pred"],
                }
                break
        if tech not in chosen:
            report[tech] = {"threshold": None, "switched_off": True}
    return chosen, report


def calibrate_from_config(
    scores: Sequence[TokenScores],
    gold: Sequence[Sequence[tuple[int, int, str]]],
    techniques: Sequence[str],
    texts: Sequence[str],
    cal_cfg: CalibrationConfig,
) -> Calibration:
    """:func:`calibrate` with a training config's ``calibration`` section.

    Training, its per-epoch evaluation and the benchmarks all calibrate through this, so
    they cannot drift apart in which settings they pass.
    """
    cal = calibrate(
        scores,
        gold,
        techniques,
        min_support=cal_cfg.min_support,
        max_length_ratio=cal_cfg.max_length_ratio,
        begin_threshold=cal_cfg.begin_threshold,
        texts=texts,
        objective=cal_cfg.objective,
    )
    cal.precise, precise_report = precise_thresholds(
        scores,
        gold,
        techniques,
        cal,
        cal_cfg.begin_threshold,
        min_precision=cal_cfg.precise_min_precision,
        min_predictions=cal_cfg.precise_min_predictions,
    )
    for tech, entry in precise_report.items():
        cal.report.setdefault(tech, {})["precise"] = entry
    return cal


def calibrate_on_dev(tagger, dev_docs, cal_cfg: CalibrationConfig, scores=None, apply: bool = True):
    """Score dev (unless ``scores`` are given), calibrate, and decode dev with the result.

    The one score -> calibrate -> decode sequence, for the final calibration of a run and
    for its per-epoch evaluation. ``apply`` stores the calibration in the tagger's settings.
    Returns the :class:`Calibration` and the dev predictions as ``(start, end, technique)``.
    """
    texts = [d.text for d in dev_docs]
    if scores is None:
        scores = tagger.token_scores(texts)
    gold = [gold_tuples(d, tagger.taxonomy) for d in dev_docs]
    cal = calibrate_from_config(scores, gold, tagger.techniques, texts, cal_cfg)
    if apply:
        tagger.settings.calibration = cal
        tagger.settings.precise_thresholds = cal.precise
    techniques = tagger.techniques
    thresholds, begins = cal.all_thresholds(techniques), cal.all_begin_thresholds(techniques)
    preds = [[p.as_tuple() for p in tagger.decode(s, thresholds, begins, cal.smoothing)] for s in scores]
    return cal, preds
