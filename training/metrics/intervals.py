"""Bootstrap intervals for the article-level metrics, and paired differences between recipes.

Why: German cross-validation has 132 articles, and most techniques occur in a few dozen of
them, so one article can move a technique's AUC by a point. A figure such as "article AUC
0.699 against the target 0.70", or "+0.004 from training on six languages", means little
without its spread. Articles are the unit that was sampled, so they are what is resampled
(with replacement, ``scipy.stats.bootstrap``, percentile intervals); every resample is scored
with the definitions of :mod:`~framescope.training.metrics.articles`:

* ``article_mean_auc``: mean over techniques of the ROC AUC of the article score (techniques
  present in all or none of the resampled articles are skipped, as in the point figure);
* ``article_presence_f1``: micro-F1 of the presence decisions;
* ``presence_f1_over_guess``: that F1 minus the constant guess's on the same resample (what
  the issue-12 target "beat the guess by 0.03" is about).

A paired comparison of two recipes scored on the same articles (the same folds) resamples
the articles once for both, so that what the two recipes share (hard articles, rare
techniques) cancels: the interval of the *difference* is much narrower than the two
intervals side by side suggest.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from scipy.stats import DegenerateDataWarning, bootstrap
from sklearn.metrics import roc_auc_score

from framescope.labels.atomic import atomic_write_bytes
from framescope.model.numeric import micro_f1

ARTICLE_METRICS = ("article_mean_auc", "article_presence_f1", "presence_f1_over_guess")


@dataclass(frozen=True)
class ArticleTable:
    """Articles × techniques: the scores, the presence decisions and the gold presence.

    ``guess``: per article, the techniques the constant guess marks (it depends on the
    article's language).
    """

    scores: np.ndarray  # float, (articles, techniques)
    decided: np.ndarray  # bool
    gold: np.ndarray  # bool
    guess: np.ndarray  # bool

    @classmethod
    def build(
        cls,
        scores: Sequence[Mapping[str, float]],
        decided: Sequence[set[str]],
        gold: Sequence[set[str]],
        guess: Sequence[set[str]],
        techniques: Sequence[str],
    ) -> "ArticleTable":
        """From per-article dicts and sets (a technique missing from ``scores`` scores 0)."""
        if not len(scores) == len(decided) == len(gold) == len(guess):
            raise ValueError(
                f"{len(scores)} scored, {len(decided)} decided, {len(gold)} gold and {len(guess)} guessed articles"
            )
        s = np.array([[float(sc.get(t, 0.0) or 0.0) for t in techniques] for sc in scores], dtype=float).reshape(
            len(scores), len(techniques)
        )

        def member(sets):
            return np.array([[t in x for t in techniques] for x in sets], dtype=bool).reshape(
                len(sets), len(techniques)
            )

        return cls(s, member(decided), member(gold), member(guess))

    def subset(self, rows: np.ndarray) -> "ArticleTable":
        """The articles ``rows`` only (one language's, say)."""
        return ArticleTable(self.scores[rows], self.decided[rows], self.gold[rows], self.guess[rows])

    def metrics(self, rows: np.ndarray | None = None) -> np.ndarray:
        """``ARTICLE_METRICS`` on the articles ``rows`` (with repeats; default all)."""
        rows = np.arange(len(self.gold)) if rows is None else np.asarray(rows, dtype=int)
        gold, scores = self.gold[rows], self.scores[rows]
        counted = (gold.sum(axis=0) > 0) & (gold.sum(axis=0) < len(rows))  # AUC is undefined for the others
        # one multilabel call (one input check) instead of one per technique: 2.4x faster
        auc = (
            float(np.mean(roc_auc_score(gold[:, counted], scores[:, counted], average=None)))
            if counted.any()
            else np.nan
        )
        f1 = micro_f1(self.decided[rows], gold)
        return np.array([auc, f1, f1 - micro_f1(self.guess[rows], gold)])


def _bootstrap(statistic, n: int, n_resamples: int, level: float, seed: int):
    with warnings.catch_warnings():  # a metric that no resample moves (F1 of perfect decisions) is no news
        warnings.simplefilter("ignore", DegenerateDataWarning)
        return bootstrap(
            (np.arange(n),),
            statistic,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=level,
            method="percentile",
            rng=seed,
        )


def article_intervals(
    table: ArticleTable,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, list[float] | None]:
    """Per metric of ``ARTICLE_METRICS``: ``[low, high]``, the percentile bootstrap interval;
    ``None`` where there is none (fewer than two articles, or an AUC that is undefined on
    some resamples: no technique both present and absent), never NaN (JSON has none)."""
    if len(table.gold) < 2:
        return dict.fromkeys(ARTICLE_METRICS)
    res = _bootstrap(table.metrics, len(table.gold), n_resamples, level, seed)
    return {
        m: None if np.isnan(lo) or np.isnan(hi) else [float(lo), float(hi)]
        for m, lo, hi in zip(ARTICLE_METRICS, res.confidence_interval.low, res.confidence_interval.high)
    }


def paired_differences(
    a: ArticleTable,
    b: ArticleTable,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Per metric: recipe ``b`` minus recipe ``a`` on the same articles, with the interval of
    the difference and the share of resamples in which ``b`` is not better (a one-sided
    bootstrap p-value: small means ``b``'s gain is unlikely to be the articles' luck)."""
    if a.gold.shape != b.gold.shape or not np.array_equal(a.gold, b.gold):
        raise ValueError("the two recipes were not scored on the same articles (or with the same gold labels)")
    if len(a.gold) < 2:
        raise ValueError("a paired comparison needs at least two articles")
    diff = lambda rows: b.metrics(rows) - a.metrics(rows)  # noqa: E731
    res = _bootstrap(diff, len(a.gold), n_resamples, level, seed)
    point = diff(None)
    dist = res.bootstrap_distribution
    return {
        m: {
            "difference": float(point[j]),
            "low": float(res.confidence_interval.low[j]),
            "high": float(res.confidence_interval.high[j]),
            "share_not_better": float(np.mean(dist[j] <= 0)),
        }
        for j, m in enumerate(ARTICLE_METRICS)
    }


def save_article_tables(path: str | Path, articles: dict, meta: Mapping[str, object]) -> None:
    """Write ``cross_validate``'s ``articles`` (ids, languages, techniques, a table per
    variant) to one ``.npz`` of plain arrays (no pickles), atomically."""
    arrays: dict[str, np.ndarray] = {
        "ids": np.array(articles["ids"], dtype=str),
        "langs": np.array(articles["langs"], dtype=str),
        "techniques": np.array(articles["techniques"], dtype=str),
        "meta": np.array(json.dumps(dict(meta), default=str)),
    }
    for name, table in articles["tables"].items():
        for field_name in ("scores", "decided", "gold", "guess"):
            arrays[f"{name}/{field_name}"] = getattr(table, field_name)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_article_tables(path: str | Path) -> dict:
    """Read what :func:`save_article_tables` wrote: the same dict, plus ``meta``."""
    with np.load(path, allow_pickle=False) as z:
        names = sorted({k.split("/", 1)[0] for k in z.files if "/" in k})
        return {
            "ids": z["ids"].tolist(),
            "langs": z["langs"].tolist(),
            "techniques": z["techniques"].tolist(),
            "meta": json.loads(str(z["meta"])),
            "tables": {
                n: ArticleTable(*(z[f"{n}/{f}"] for f in ("scores", "decided", "gold", "guess"))) for n in names
            },
        }
