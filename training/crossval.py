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

import hashlib
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from framescope.labels.atomic import atomic_write_bytes
from framescope.labels.dataset import split_documents
from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.training.config import Config
from framescope.training.evaluation import gold_tuples, score_predictions
from framescope.training.metrics.articles import best_span_scores, constant_guess, presence_from_spans, shares_by_group
from framescope.training.metrics.intervals import ArticleTable, article_intervals


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
    if not fit_tagger and any(
        v.get("enabled", True) and v.get("token_scores") != "none" for v in (variants or VARIANTS).values()
    ):
        raise ValueError("without a tagger only stage variants with token_scores none can be scored")
    from framescope.training.train import crossfit_token_scores, fit_article_stage, stage_extra_articles

    variants = variants if variants is not None else VARIANTS
    n = len(docs)
    preds: list = [None] * n
    confs: list = [None] * n
    precise: list = [None] * n
    staged: dict[str, list] = {v: [None] * n for v in variants}
    thresholds: dict[str, list[dict]] = {v: [] for v in variants}
    seconds: list[float] = []
    folds_idx = config_folds(docs, folds, config, fold_seed)
    own_langs = {d.lang for d in [*docs, *extra_train]}
    stage_extra: dict[str, list] = {}  # per extra_train setting: its articles, read once
    for k, held in enumerate(folds_idx):
        t0 = time.time()
        fit_docs, dev_docs, test = fold_articles(docs, held, config, extra_train)
        if fit_tagger:
            name = fold_name(k, folds)
            fold_dir = Path(cache_dir) / name if cache_dir is not None else None
            tagger, scores, dev_scores = _fold_tagger(config, taxonomy, fit_docs, dev_docs, test, fold_dir, say)
            if ensemble_caches:
                scores, dev_scores = _ensemble(
                    tagger, scores, dev_scores, ensemble_caches, name, config, dev_docs, test
                )
            for i, sc in zip(held, scores):
                decoded = tagger.decode(sc)
                preds[i] = [p.as_tuple() for p in decoded]
                confs[i] = [p.confidence for p in decoded]
                precise[i] = [p.as_tuple() for p in tagger.decode(sc, profile="precise")]
            say(f"fold {k + 1}/{folds}: tagger fitted and calibrated ({time.time() - t0:.0f}s)")
        else:  # stage on characters only: no spans (span metrics are then meaningless zeros)
            tagger, scores, dev_scores = _NoTagger(taxonomy), None, None
            for i in held:
                preds[i], confs[i], precise[i] = [], [], []
        crossfit = None
        for name, overrides in variants.items():
            cfg = config.with_values({f"article_stage.{k}": v for k, v in overrides.items()})
            if cfg.article_stage.enabled and cfg.article_stage.token_scores == "crossfit" and crossfit is None:
                crossfit = crossfit_token_scores(cfg, taxonomy, fit_docs, cfg.article_stage.crossfit_folds, dev_docs)
            key = json.dumps(cfg.to_dict()["article_stage"]["extra_train"], sort_keys=True, default=str)
            if key not in stage_extra:
                stage_extra[key] = stage_extra_articles(cfg, taxonomy, own_langs)
            stage = fit_article_stage(
                cfg,
                taxonomy,
                fit_docs,
                tagger,
                dev_docs,
                given_scores=crossfit,
                dev_scores=dev_scores,
                extra_docs=stage_extra[key],
            )
            if stage is None:
                continue
            for i, sp in zip(held, stage.predict([d.text for d in test], scores, [d.lang for d in test])):
                staged[name][i] = sp
            thresholds[name].append(dict(stage.settings.thresholds))
            say(f"fold {k + 1}/{folds}: stage {name} ({time.time() - t0:.0f}s)")
        seconds.append(time.time() - t0)
        say(
            f"fold {k + 1}/{folds}: {len(fit_docs)} fit / {len(dev_docs)} dev / {len(test)} test articles, {seconds[-1]:.0f}s"
        )
        done = np.sort(np.concatenate(folds_idx[: k + 1]))
        last = k + 1 == len(folds_idx) or (max_folds is not None and k + 1 >= max_folds)
        result = {
            "folds": folds,
            "folds_done": k + 1,
            "fold_seconds": list(seconds),
            "reports": _reports(
                docs, done, taxonomy, config, variants, preds, confs, precise, staged, folds_idx[: k + 1], thresholds
            ),
        }
        if last and resamples:
            result["articles"] = _article_tables(
                docs, done, taxonomy, config, variants, preds, confs, staged, folds_idx[: k + 1], thresholds
            )
            _add_intervals(result, resamples)
        if on_fold is not None:
            on_fold(result)
        if last:
            break
    return result


def _fold_tagger(config: Config, taxonomy: Taxonomy, fit_docs, dev_docs, test, fold_dir: Path | None, say):
    """The fold's tagger, calibrated on the fold's dev articles, with the token scores of its
    test and dev articles; read back from ``fold_dir`` when an earlier run finished the fold."""
    from framescope.model.tagger import SpanTagger
    from framescope.training.fit import build_tagger, fit_tagger
    from framescope.training.train import calibrate_tagger, record_train_shares

    # what the tagger depends on: everything but the stage's section and the bookkeeping
    tagger_config = {
        k: v for k, v in config.to_dict().items() if k not in ("article_stage", "mlflow", "name", "output_dir")
    }
    if not tagger_config["model"]["freeze_embeddings"]:
        del tagger_config["model"]["freeze_embeddings"]  # the caches written before the key existed stay valid
    key = {
        "tagger_config": hashlib.sha256(json.dumps(tagger_config, sort_keys=True, default=str).encode()).hexdigest(),
        "fit": [d.id for d in fit_docs],
        "dev": [d.id for d in dev_docs],
        "test": [d.id for d in test],
    }
    if fold_dir is not None and (fold_dir / "fold.json").exists():
        stored = json.loads((fold_dir / "fold.json").read_text(encoding="utf-8"))
        if stored != key:
            raise ValueError(f"{fold_dir} caches a fold of another config or split; use another cache folder")
        say(f"{fold_dir.name}: tagger and token scores read from the cache")
        tagger = SpanTagger.from_pretrained(fold_dir / "model")
        return tagger, load_token_scores(fold_dir / "test.npz", test), load_token_scores(fold_dir / "dev.npz", dev_docs)
    tagger = build_tagger(config, taxonomy)
    fit_tagger(tagger, fit_docs, dev_docs, config, tracker=None, say=say)
    record_train_shares(tagger, fit_docs, taxonomy, config)
    dev_scores = tagger.token_scores([d.text for d in dev_docs])
    calibrate_tagger(tagger, dev_docs, taxonomy, config.calibration, scores=dev_scores)
    scores = tagger.token_scores([d.text for d in test])
    if fold_dir is not None:
        fold_dir.mkdir(parents=True, exist_ok=True)
        tagger.save_pretrained(fold_dir / "model")
        save_token_scores(fold_dir / "test.npz", test, scores)
        save_token_scores(fold_dir / "dev.npz", dev_docs, dev_scores)
        atomic_write_bytes(fold_dir / "fold.json", json.dumps(key).encode("utf-8"))  # last: marks the fold complete
    return tagger, scores, dev_scores


def _ensemble(tagger, scores, dev_scores, caches: Sequence[str | Path], fold_name: str, config: Config, dev_docs, test):
    """Test and dev token scores averaged with those the other caches hold for this fold;
    the tagger's thresholds (both profiles) chosen again on the averaged dev scores."""
    from framescope.model.tagger import TokenScores
    from framescope.training.calibration import calibrate_on_dev

    members = [(scores, dev_scores)]
    for cache in caches:
        fold_dir = Path(cache) / fold_name
        if not (fold_dir / "fold.json").exists():
            raise ValueError(f"{fold_dir}: no finished fold to ensemble with")
        members.append(
            (load_token_scores(fold_dir / "test.npz", test), load_token_scores(fold_dir / "dev.npz", dev_docs))
        )

    def mean(which: int) -> list:
        out = []
        for parts in zip(*(m[which] for m in members)):
            if any(not np.array_equal(p.offsets, parts[0].offsets) for p in parts):
                raise ValueError(
                    f"{fold_name}: the ensembled taggers tokenize differently; only one tokenizer can be averaged"
                )
            out.append(TokenScores(parts[0].offsets, np.mean([p.probs for p in parts], axis=0), text=parts[0].text))
        return out

    scores, dev_scores = mean(0), mean(1)
    calibrate_on_dev(tagger, dev_docs, config.calibration, scores=dev_scores)
    return scores, dev_scores


def save_token_scores(path: Path, docs: Sequence[Document], scores) -> None:
    """Token scores of ``docs`` as arrays (``.npz``: no pickles), keyed by article id."""
    arrays = {"ids": np.array([d.id for d in docs], dtype=str)}
    for n, sc in enumerate(scores):
        arrays[f"offsets_{n}"], arrays[f"probs_{n}"] = sc.offsets, sc.probs
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_token_scores(path: Path, docs: Sequence[Document]) -> list:
    """The token scores :func:`save_token_scores` wrote for exactly these articles."""
    from framescope.model.tagger import TokenScores

    with np.load(path, allow_pickle=False) as z:
        ids = [str(i) for i in z["ids"]]
        if ids != [d.id for d in docs]:
            raise ValueError(f"{path} holds token scores of other articles")
        return [TokenScores(z[f"offsets_{n}"], z[f"probs_{n}"], text=d.text) for n, d in enumerate(docs)]


class _NoTagger:
    """Stands in for the tagger when only the character stage is cross-validated."""

    def __init__(self, taxonomy: Taxonomy):
        self.techniques = taxonomy.names


def _guess_inputs(docs, taxonomy: Taxonomy, config: Config) -> tuple[dict[str, dict[str, float]], float]:
    """The constant guess's technique shares per language, from all evaluated articles (see
    the module docstring), and the share a technique needs to be guessed."""
    shares = shares_by_group(presence_from_spans([gold_tuples(d, taxonomy) for d in docs]), [d.lang for d in docs])
    return shares, float(config.article_stage.constant_guess_share)


def _reports(docs, done, taxonomy, config, variants, preds, confs, precise, staged, folds_idx, thresholds) -> dict:
    """Pooled metrics over the articles scored so far (``done``), per variant."""
    sub = [docs[i] for i in done]
    pick = lambda xs: [xs[i] for i in done]  # noqa: E731
    shares, guess_share = _guess_inputs(docs, taxonomy, config)
    precise_report = score_predictions(sub, pick(precise), taxonomy)
    reports = {}
    for name in variants:
        if thresholds[name]:
            # AUC from the probabilities; decisions with the threshold of the fold that made them
            report = score_predictions(
                sub,
                pick(preds),
                taxonomy,
                (pick(staged[name]), {"article": 2.0, "paragraph": 2.0}),
                shares,
                guess_share,
                pick(confs),
            )
            decided = _decided(staged[name], folds_idx, thresholds[name])
            decided_report = score_predictions(
                sub,
                pick(preds),
                taxonomy,
                (pick(decided), {"article": 0.5, "paragraph": 0.5}),
                shares,
                guess_share,
                pick(confs),
            )
            for group, m in report.items():
                for key in (
                    "article_presence_f1",
                    "article_presence_precision",
                    "article_presence_recall",
                    "paragraph_micro_f1",
                ):
                    m[key] = decided_report[group][key]
        else:
            report = score_predictions(sub, pick(preds), taxonomy, None, shares, guess_share, pick(confs))
        for group, m in precise_report.items():
            report[group].update({f"precise_{k}": m[k] for k in ("span_precision", "span_recall", "span_f1", "n_pred")})
        reports[name] = report
    return reports


def _article_tables(docs, done, taxonomy, config, variants, preds, confs, staged, folds_idx, thresholds) -> dict:
    """The pooled article scores and presence decisions of each variant, as the reports
    score them: ``{"ids", "langs", "techniques", "tables": {variant: ArticleTable}}``."""
    sub = [docs[i] for i in done]
    shares, guess_share = _guess_inputs(docs, taxonomy, config)
    gold = presence_from_spans([gold_tuples(d, taxonomy) for d in sub])
    guess = [constant_guess(shares.get(str(d.lang), shares["all"]), guess_share) for d in sub]
    tables = {}
    for name in variants:
        if thresholds[name]:
            decided = _decided(staged[name], folds_idx, thresholds[name])
            scores = [staged[name][i].article for i in done]
            presence = [{t for t, p in decided[i].article.items() if p >= 0.5} for i in done]
        else:
            picked = [preds[i] for i in done]
            scores, presence = best_span_scores(picked, [confs[i] for i in done]), presence_from_spans(picked)
        tables[name] = ArticleTable.build(scores, presence, gold, guess, taxonomy.names)
    return {
        "ids": [d.id for d in sub],
        "langs": [str(d.lang) for d in sub],
        "techniques": list(taxonomy.names),
        "tables": tables,
    }


def _add_intervals(result: dict, resamples: int) -> None:
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
