"""k-fold cross-validation over articles: the figures that choose between recipes.

Why: a 20% dev split of SemEval German is 26 articles, too few to rank recipes (one
article moves a metric by several points). Here every article is scored exactly once, by
a model that never saw it; the out-of-fold predictions are pooled and scored with the same
:func:`~framescope.training.evaluation.score_predictions` as ``framescope evaluate``.

Inside each fold the pipeline is the one ``framescope train`` runs: the fold's training
articles are split into fit and dev (``data.dev_fraction``), the tagger is fitted, the
article stage is fitted (with cross-fitted token scores when the config says so), the
thresholds of both profiles are chosen on the fold's dev articles. ``extra_train`` articles
(other languages, say) join every fold's training articles and are never evaluated.

The constant-guess baseline uses the technique shares of all evaluated articles of the
group's language (the folds' training shares differ from them by a few tenths of a
percent); that favours the baseline, never the model.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

from framescope.labels.dataset import split_documents
from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.training.config import Config
from framescope.training.crossval_cache import ensemble_scores, fold_tagger, load_token_scores, save_token_scores
from framescope.training.crossval_report import Pooled, add_intervals, pooled_article_tables, pooled_reports

# the token-score cache lives in crossval_cache.py; benchmarks import it from here
__all__ = [
    "VARIANTS",
    "article_folds",
    "config_folds",
    "cross_validate",
    "fold_articles",
    "fold_name",
    "load_token_scores",
    "save_token_scores",
    "training_only_langs",
]


def article_folds(docs: Sequence[Document], folds: int, seed: int = 0) -> list[np.ndarray]:
    """Held-out article indices per fold, stratified by language (each language spread evenly)."""
    rng = np.random.default_rng(seed)
    out: list[list[int]] = [[] for _ in range(folds)]
    by_lang: dict[str, list[int]] = {}
    for i, d in enumerate(docs):
        by_lang.setdefault(str(d.lang), []).append(i)
    offset = 0
    for lang in sorted(by_lang):
        idx = np.array(by_lang[lang])
        rng.shuffle(idx)
        for n, i in enumerate(idx):
            out[(n + offset) % folds].append(int(i))
        offset += len(idx)
    return [np.array(sorted(f), dtype=np.int64) for f in out]


def training_only_langs(config: Config, evaluated: Sequence[str]) -> list[str]:
    """The config's training languages that are not evaluated: they join every fold's training.

    Why: a config that trains on six languages (``data.langs``) but is cross-validated on two
    must still train each fold's tagger on all six, or the figures describe another recipe.
    """
    skip = set(evaluated)
    return [lang for lang in (config.data.langs or []) if lang not in skip]


def config_folds(
    docs: Sequence[Document], folds: int, config: Config, fold_seed: int | None = None
) -> list[np.ndarray]:
    """The folds of a cross-validation run: dealt by ``fold_seed``, or by the config's seed."""
    return article_folds(docs, folds, config.seed if fold_seed is None else fold_seed)


def fold_articles(
    docs: Sequence[Document],
    held: np.ndarray,
    config: Config,
    extra_train: Sequence[Document] = (),
) -> tuple[list[Document], list[Document], list[Document]]:
    """One fold's fit, dev and test articles: the articles not ``held`` (plus ``extra_train``)
    split into fit and dev by the config's split, as ``framescope train`` splits them."""
    held_set = set(held.tolist())
    train_docs = [d for i, d in enumerate(docs) if i not in held_set] + list(extra_train)
    fit_docs, dev_docs = split_documents(train_docs, config.data.dev_fraction, seed=config.data.split_seed)
    return fit_docs, dev_docs, [docs[i] for i in held]


def fold_name(k: int, folds: int) -> str:
    """The cache folder of fold ``k`` (0-based) of ``folds``."""
    return f"fold-{k + 1}-of-{folds}"


VARIANTS = {
    # the article score read off the spans (the tagger alone, as before the article stage)
    "tagger": {"enabled": False},
    # the article stage on hashed character n-grams only
    "char-ngrams": {"enabled": True, "token_scores": "none"},
    # the article stage on character n-grams stacked with the tagger's token scores on the
    # fold's dev articles (what `framescope train` ships: no extra training)
    "stacked": {"enabled": True, "token_scores": "dev"},
    # the same, stacked on the training articles with cross-fitted token scores instead
    # (retrains the tagger crossfit_folds times per fold: for the linear tagger)
    "stacked-crossfit": {"enabled": True, "token_scores": "crossfit"},
}


def cross_validate(
    config: Config,
    docs: Sequence[Document],
    taxonomy: Taxonomy,
    folds: int = 5,
    extra_train: Sequence[Document] = (),
    say: Callable[[str], None] = lambda m: None,
    variants: dict[str, dict] | None = None,
    on_fold: Callable[[dict], None] | None = None,
    max_folds: int | None = None,
    fit_tagger: bool = True,
    cache_dir: str | Path | None = None,
    fold_seed: int | None = None,
    ensemble_caches: Sequence[str | Path] = (),
    resamples: int = 1000,
) -> dict:
    """Pooled out-of-fold metrics per stage variant (both profiles) and per-fold timings.

    ``variants`` maps a name to ``article_stage`` overrides (default :data:`VARIANTS`); they
    share each fold's tagger, thresholds and cross-fitted token scores, so comparing them
    costs one tagger training per fold (plus the cross-fitting ones), not one per variant.
    ``on_fold`` receives the result over the folds done so far after each fold (a long run
    leaves usable partial figures); ``max_folds`` stops early (exploring on one split).
    ``fit_tagger=False`` scores only stage variants on characters (``token_scores: none``),
    without spans: the cheap way to compare training sets for the lexical stage.
    ``cache_dir`` keeps each fold's calibrated tagger and its dev and test token scores: a
    rerun reads finished folds back instead of training them again (an interrupted run
    resumes; new stage variants are scored on the same taggers at no training cost).
    ``fold_seed`` deals the folds (default: the config's ``seed``). Fixing it while the
    config's seed changes trains other draws of the taggers on the same folds: the way to
    measure seed variance and seed ensembles. ``ensemble_caches``: finished caches of the
    same folds (other seeds, say) whose token scores are averaged with this run's before
    anything is decoded or stacked, and the thresholds chosen again on the averaged dev
    scores: the figures of a seed ensemble of those taggers, with no retraining.
    ``resamples``: the last result's article metrics get percentile bootstrap intervals over
    articles (``intervals`` in each group's report; 0: none), and the result carries the
    pooled article scores and decisions (``articles``: per variant an
    :class:`~framescope.training.metrics.intervals.ArticleTable`), from which
    ``benchmarks/compare_cv.py`` draws paired differences between two recipes.
    """
    variants = _checked_variants(variants, fit_tagger)
    own_langs = {d.lang for d in [*docs, *extra_train]}
    pooled = Pooled(len(docs), list(variants))
    run = _Run(config, taxonomy, folds, variants, pooled, own_langs, say, (fit_tagger, cache_dir, ensemble_caches))
    folds_idx = config_folds(docs, folds, config, fold_seed)
    seconds: list[float] = []
    for k, held in enumerate(folds_idx):
        fold = _Fold(k, folds, held, *fold_articles(docs, held, config, extra_train), time.time())
        tagger, scores, dev_scores = _fold_spans(run, fold)
        _fit_stage_variants(run, fold, tagger, scores, dev_scores)
        seconds.append(time.time() - fold.started)
        say(f"fold {k + 1}/{folds}: {fold.sizes}, {seconds[-1]:.0f}s")
        last = k + 1 == len(folds_idx) or (max_folds is not None and k + 1 >= max_folds)
        result = _result_so_far(run, docs, folds_idx[: k + 1], seconds, resamples if last else 0)
        if on_fold is not None:
            on_fold(result)
        if last:
            break
    return result


def _checked_variants(variants: dict[str, dict] | None, fit_tagger: bool) -> dict[str, dict]:
    """The stage variants to score (default :data:`VARIANTS`); without a tagger only those
    that need no token scores can be."""
    if not fit_tagger and any(
        v.get("enabled", True) and v.get("token_scores") != "none" for v in (variants or VARIANTS).values()
    ):
        raise ValueError("without a tagger only stage variants with token_scores none can be scored")
    return variants if variants is not None else VARIANTS


@dataclass
class _Run:
    """What every fold of one cross-validation run shares."""

    config: Config
    taxonomy: Taxonomy
    folds: int
    variants: dict[str, dict]
    pooled: Pooled
    own_langs: set
    say: Callable[[str], None]
    # (fit_tagger, cache_dir, ensemble_caches): where each fold's tagger comes from
    tagger_source: tuple = (True, None, ())
    stage_extra: dict[str, list] = field(default_factory=dict)  # per extra_train setting: its articles, read once


class _Fold(NamedTuple):
    """One fold of the run: its number, its held-out articles and its three article sets."""

    k: int
    folds: int
    held: np.ndarray
    fit_docs: list[Document]
    dev_docs: list[Document]
    test: list[Document]
    started: float

    @property
    def sizes(self) -> str:
        return f"{len(self.fit_docs)} fit / {len(self.dev_docs)} dev / {len(self.test)} test articles"


def _fold_spans(run: _Run, fold: _Fold):
    """The fold's tagger with its test and dev token scores (fitted, or read from the
    cache, averaged with the ensemble's), its held-out spans pooled; without a tagger a
    stand-in and no scores."""
    fit_tagger, cache_dir, ensemble_caches = run.tagger_source
    if not fit_tagger:  # stage on characters only: no spans (span metrics are then meaningless zeros)
        _pool_spans(run.pooled, fold.held, None, None)
        return _NoTagger(run.taxonomy), None, None
    name = fold_name(fold.k, fold.folds)
    fold_dir = Path(cache_dir) / name if cache_dir is not None else None
    tagger, scores, dev_scores = fold_tagger(
        run.config, run.taxonomy, fold.fit_docs, fold.dev_docs, fold.test, fold_dir, run.say
    )
    if ensemble_caches:
        scores, dev_scores = ensemble_scores(
            tagger, scores, dev_scores, ensemble_caches, name, run.config, fold.dev_docs, fold.test
        )
    _pool_spans(run.pooled, fold.held, tagger, scores)
    run.say(f"fold {fold.k + 1}/{fold.folds}: tagger fitted and calibrated ({time.time() - fold.started:.0f}s)")
    return tagger, scores, dev_scores


def _pool_spans(pooled: Pooled, held: np.ndarray, tagger, scores) -> None:
    """The held-out articles' spans of both profiles (none without a tagger)."""
    if tagger is None:
        for i in held:
            pooled.preds[i], pooled.confs[i], pooled.precise[i] = [], [], []
        return
    for i, sc in zip(held, scores):
        decoded = tagger.decode(sc)
        pooled.preds[i] = [p.as_tuple() for p in decoded]
        pooled.confs[i] = [p.confidence for p in decoded]
        pooled.precise[i] = [p.as_tuple() for p in tagger.decode(sc, profile="precise")]


def _fit_stage_variants(run: _Run, fold: _Fold, tagger, scores, dev_scores) -> None:
    """Fit each stage variant on the fold's articles (sharing its tagger, thresholds and
    cross-fitted token scores) and pool its predictions for the held-out articles."""
    # looked up here, at call time, so that tests can stand in for them
    from framescope.training.train import crossfit_token_scores, fit_article_stage, stage_extra_articles

    crossfit = None
    for name, overrides in run.variants.items():
        cfg = run.config.with_values({f"article_stage.{k}": v for k, v in overrides.items()})
        if cfg.article_stage.enabled and cfg.article_stage.token_scores == "crossfit" and crossfit is None:
            crossfit = crossfit_token_scores(
                cfg, run.taxonomy, fold.fit_docs, cfg.article_stage.crossfit_folds, fold.dev_docs
            )
        key = json.dumps(cfg.to_dict()["article_stage"]["extra_train"], sort_keys=True, default=str)
        if key not in run.stage_extra:
            run.stage_extra[key] = stage_extra_articles(cfg, run.taxonomy, run.own_langs)
        stage = fit_article_stage(
            cfg,
            run.taxonomy,
            fold.fit_docs,
            tagger,
            fold.dev_docs,
            given_scores=crossfit,
            dev_scores=dev_scores,
            extra_docs=run.stage_extra[key],
        )
        if stage is None:
            continue
        test = fold.test
        for i, sp in zip(fold.held, stage.predict([d.text for d in test], scores, [d.lang for d in test])):
            run.pooled.staged[name][i] = sp
        run.pooled.thresholds[name].append(dict(stage.settings.thresholds))
        run.say(f"fold {fold.k + 1}/{fold.folds}: stage {name} ({time.time() - fold.started:.0f}s)")


def _result_so_far(run: _Run, docs, folds_done, seconds: list[float], resamples: int) -> dict:
    """The run's result over the folds done: reports, and on the last fold (``resamples``
    > 0) the pooled article tables and their bootstrap intervals."""
    done = np.sort(np.concatenate(folds_done))
    scored = (docs, done, run.taxonomy, run.config, run.pooled, folds_done)
    result = {
        "folds": run.folds,
        "folds_done": len(folds_done),
        "fold_seconds": list(seconds),
        "reports": pooled_reports(*scored),
    }
    if resamples:
        result["articles"] = pooled_article_tables(*scored)
        add_intervals(result, resamples)
    return result


class _NoTagger:
    """Stands in for the tagger when only the character stage is cross-validated."""

    def __init__(self, taxonomy: Taxonomy):
        self.techniques = taxonomy.names
