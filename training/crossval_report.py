"""The pooled figures of a cross-validation run: metrics, article tables and intervals.

Every article is scored once, by the fold that held it out; its predictions are pooled in
a :class:`Pooled` and scored here with the same
:func:`~framescope.training.evaluation.score_predictions` as ``framescope evaluate``. Stage
decisions use the thresholds of the fold that made them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from framescope.labels.taxonomy import Taxonomy
from framescope.training.config import Config
from framescope.training.evaluation import gold_tuples, score_predictions
from framescope.training.metrics.articles import best_span_scores, constant_guess, presence_from_spans, shares_by_group
from framescope.training.metrics.intervals import ArticleTable, article_intervals


@dataclass
class Pooled:
    """The out-of-fold predictions of every article (``None`` until its fold is done)."""

    n: int
    variants: list[str]
    preds: list = field(init=False)  # balanced-profile spans, (start, end, technique)
    confs: list = field(init=False)  # their confidences
    precise: list = field(init=False)  # precise-profile spans
    staged: dict[str, list] = field(init=False)  # per variant: StagePrediction
    thresholds: dict[str, list[dict]] = field(init=False)  # per variant: each fold's stage thresholds

    def __post_init__(self) -> None:
        self.preds, self.confs, self.precise = [None] * self.n, [None] * self.n, [None] * self.n
        self.staged = {v: [None] * self.n for v in self.variants}
        self.thresholds = {v: [] for v in self.variants}


def _guess_inputs(docs, taxonomy: Taxonomy, config: Config) -> tuple[dict[str, dict[str, float]], float]:
    """The constant guess's technique shares per language, from all evaluated articles (see
    the module docstring), and the share a technique needs to be guessed."""
    shares = shares_by_group(presence_from_spans([gold_tuples(d, taxonomy) for d in docs]), [d.lang for d in docs])
    return shares, float(config.article_stage.constant_guess_share)


def pooled_reports(docs, done, taxonomy: Taxonomy, config: Config, pooled: Pooled, folds_idx) -> dict:
    """Pooled metrics over the articles scored so far (``done``), per variant."""
    sub = [docs[i] for i in done]
    pick = lambda xs: [xs[i] for i in done]  # noqa: E731
    shares, guess_share = _guess_inputs(docs, taxonomy, config)

    def score(stage) -> dict:
        return score_predictions(sub, pick(pooled.preds), taxonomy, stage, shares, guess_share, pick(pooled.confs))

    precise_report = score_predictions(sub, pick(pooled.precise), taxonomy)
    reports = {}
    for name in pooled.variants:
        if pooled.thresholds[name]:
            # AUC from the probabilities; decisions with the threshold of the fold that made them
            report = score((pick(pooled.staged[name]), {"article": 2.0, "paragraph": 2.0}))
            decided = _decided(pooled.staged[name], folds_idx, pooled.thresholds[name])
            decided_report = score((pick(decided), {"article": 0.5, "paragraph": 0.5}))
            for group, m in report.items():
                for key in (
                    "article_presence_f1",
                    "article_presence_precision",
                    "article_presence_recall",
                    "paragraph_micro_f1",
                ):
                    m[key] = decided_report[group][key]
        else:
            report = score(None)
        for group, m in precise_report.items():
            report[group].update({f"precise_{k}": m[k] for k in ("span_precision", "span_recall", "span_f1", "n_pred")})
        reports[name] = report
    return reports


def pooled_article_tables(docs, done, taxonomy: Taxonomy, config: Config, pooled: Pooled, folds_idx) -> dict:
    """The pooled article scores and presence decisions of each variant, as the reports
    score them: ``{"ids", "langs", "techniques", "tables": {variant: ArticleTable}}``."""
    sub = [docs[i] for i in done]
    shares, guess_share = _guess_inputs(docs, taxonomy, config)
    gold = presence_from_spans([gold_tuples(d, taxonomy) for d in sub])
    guess = [constant_guess(shares.get(str(d.lang), shares["all"]), guess_share) for d in sub]
    tables = {}
    for name in pooled.variants:
        if pooled.thresholds[name]:
            decided = _decided(pooled.staged[name], folds_idx, pooled.thresholds[name])
            scores = [pooled.staged[name][i].article for i in done]
            presence = [{t for t, p in decided[i].article.items() if p >= 0.5} for i in done]
        else:
            picked = [pooled.preds[i] for i in done]
            scores, presence = best_span_scores(picked, [pooled.confs[i] for i in done]), presence_from_spans(picked)
        tables[name] = ArticleTable.build(scores, presence, gold, guess, taxonomy.names)
    return {
        "ids": [d.id for d in sub],
        "langs": [str(d.lang) for d in sub],
        "techniques": list(taxonomy.names),
        "tables": tables,
    }


def add_intervals(result: dict, resamples: int) -> None:
    """Bootstrap intervals of the article metrics in each variant's per-language reports.

    Per language, the guess is that language's (as in the reports); the ``all`` group gets
    none, since its report guesses with the pooled shares and its intervals would mix both.
    """
    langs = np.array(result["articles"]["langs"])
    for name, table in result["articles"]["tables"].items():
        for lang in sorted(set(langs.tolist())):
            part = table.subset(np.flatnonzero(langs == lang))
            result["reports"][name][lang]["intervals"] = article_intervals(part, n_resamples=resamples)


def _decided(staged, held_folds, thresholds):
    """Stage predictions turned into 0/1 with the thresholds of the fold that made them."""
    from framescope.model.article_stage import StagePrediction

    out = list(staged)
    for held, thr in zip(held_folds, thresholds):
        for i in held:
            sp = staged[i]
            out[i] = StagePrediction(
                {t: float(p >= thr["article"]) for t, p in sp.article.items()},
                [
                    (n, a, b, {t: float(p >= thr["paragraph"]) for t, p in probs.items()})
                    for n, a, b, probs in sp.paragraphs
                ],
            )
    return out
