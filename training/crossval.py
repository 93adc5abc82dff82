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

import time
from typing import Callable, Sequence

import numpy as np

from framescope.labels.dataset import split_documents
from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.training.evaluation import gold_tuples, score_predictions
from framescope.training.metrics.articles import presence_from_spans, shares_by_group


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


VARIANTS = {
    # the article score read off the spans (the tagger alone, as before issue 12)
    "tagger": {"enabled": False},
    # the article stage on hashed character n-grams only
    "char-ngrams": {"enabled": True, "token_scores": "none"},
    # the article stage on character n-grams stacked with cross-fitted token scores
    "stacked": {"enabled": True, "token_scores": "crossfit"},
}


def cross_validate(
    config: dict,
    docs: Sequence[Document],
    taxonomy: Taxonomy,
    folds: int = 5,
    extra_train: Sequence[Document] = (),
    say: Callable[[str], None] = lambda m: None,
    variants: dict[str, dict] | None = None,
    on_fold: Callable[[dict], None] | None = None,
    max_folds: int | None = None,
    fit_tagger: bool = True,
) -> dict:
    """Pooled out-of-fold metrics per stage variant (both profiles) and per-fold timings.

    ``variants`` maps a name to ``article_stage`` overrides (default :data:`VARIANTS`); they
    share each fold's tagger, thresholds and cross-fitted token scores, so comparing them
    costs one tagger training per fold (plus the cross-fitting ones), not one per variant.
    ``on_fold`` receives the result over the folds done so far after each fold (a long run
    leaves usable partial figures); ``max_folds`` stops early (exploring on one split).
    ``fit_tagger=False`` scores only stage variants on characters (``token_scores: none``),
    without spans: the cheap way to compare training sets for the lexical stage.
    """
    if not fit_tagger and any(v.get("enabled", True) and v.get("token_scores") != "none" for v in (variants or VARIANTS).values()):
        raise ValueError("without a tagger only stage variants with token_scores none can be scored")
    import copy

    from framescope.training.fit import fit_tagger as fit
    from framescope.training.train import (
        build_tagger, calibrate_tagger, crossfit_token_scores, fit_article_stage, record_train_shares,
    )

    variants = variants if variants is not None else VARIANTS
    n = len(docs)
    preds: list = [None] * n
    confs: list = [None] * n
    precise: list = [None] * n
    staged: dict[str, list] = {v: [None] * n for v in variants}
    thresholds: dict[str, list[dict]] = {v: [] for v in variants}
    seconds: list[float] = []
    folds_idx = article_folds(docs, folds, config["seed"])
    for k, held in enumerate(folds_idx):
        t0 = time.time()
        held_set = set(held.tolist())
        train_docs = [d for i, d in enumerate(docs) if i not in held_set] + list(extra_train)
        fit_docs, dev_docs = split_documents(train_docs, config["data"]["dev_fraction"], seed=config["data"]["split_seed"])
        test = [docs[i] for i in held]
        if fit_tagger:
            tagger = build_tagger(config, taxonomy)
            fit(tagger, fit_docs, dev_docs, config, tracker=None, say=say)
            record_train_shares(tagger, fit_docs, taxonomy, config)
            calibrate_tagger(tagger, dev_docs, taxonomy, config["calibration"])
            scores = tagger.token_scores([d.text for d in test])
            for i, sc in zip(held, scores):
                decoded = tagger.decode(sc)
                preds[i] = [p.as_tuple() for p in decoded]
                confs[i] = [p.confidence for p in decoded]
                precise[i] = [p.as_tuple() for p in tagger.decode(sc, profile="precise")]
            say(f"fold {k + 1}/{folds}: tagger fitted and calibrated ({time.time() - t0:.0f}s)")
        else:  # stage on characters only: no spans (span metrics are then meaningless zeros)
            tagger, scores = _NoTagger(taxonomy), None
            for i in held:
                preds[i], confs[i], precise[i] = [], [], []
        crossfit = None
        for name, overrides in variants.items():
            cfg = copy.deepcopy(config)
            cfg["article_stage"].update(overrides)
            if cfg["article_stage"]["enabled"] and cfg["article_stage"]["token_scores"] == "crossfit" and crossfit is None:
                crossfit = crossfit_token_scores(cfg, taxonomy, fit_docs, cfg["article_stage"]["crossfit_folds"], dev_docs)
            if cfg["article_stage"]["enabled"] and cfg["article_stage"]["token_scores"] == "crossfit":
                cfg["article_stage"]["token_scores"] = "given"
            stage = fit_article_stage(cfg, taxonomy, fit_docs, tagger, dev_docs, given_scores=crossfit)
            if stage is None:
                continue
            for i, sp in zip(held, stage.predict([d.text for d in test], scores)):
                staged[name][i] = sp
            thresholds[name].append(dict(stage.settings.thresholds))
            say(f"fold {k + 1}/{folds}: stage {name} ({time.time() - t0:.0f}s)")
        seconds.append(time.time() - t0)
        say(f"fold {k + 1}/{folds}: {len(fit_docs)} fit / {len(dev_docs)} dev / {len(test)} test articles, {seconds[-1]:.0f}s")
        done = np.sort(np.concatenate(folds_idx[: k + 1]))
        result = {
            "folds": folds, "folds_done": k + 1, "fold_seconds": list(seconds),
            "reports": _reports(docs, done, taxonomy, config, variants, preds, confs, precise, staged, folds_idx[: k + 1], thresholds),
        }
        if on_fold is not None:
            on_fold(result)
        if max_folds is not None and k + 1 >= max_folds:
            break
    return result


class _NoTagger:
    """Stands in for the tagger when only the character stage is cross-validated."""

    def __init__(self, taxonomy: Taxonomy):
        self.techniques = taxonomy.names


def _reports(docs, done, taxonomy, config, variants, preds, confs, precise, staged, folds_idx, thresholds) -> dict:
    """Pooled metrics over the articles scored so far (``done``), per variant."""
    sub = [docs[i] for i in done]
    pick = lambda xs: [xs[i] for i in done]  # noqa: E731
    # the guess uses all articles' shares per language (see the module docstring)
    shares = shares_by_group(presence_from_spans([gold_tuples(d, taxonomy) for d in docs]), [d.lang for d in docs])
    guess_share = float(config["article_stage"]["constant_guess_share"])
    precise_report = score_predictions(sub, pick(precise), taxonomy)
    reports = {}
    for name in variants:
        if thresholds[name]:
            # AUC from the probabilities; decisions with the threshold of the fold that made them
            report = score_predictions(
                sub, pick(preds), taxonomy, (pick(staged[name]), {"article": 2.0, "paragraph": 2.0}), shares, guess_share, pick(confs),
            )
            decided = _decided(staged[name], folds_idx, thresholds[name])
            decided_report = score_predictions(
                sub, pick(preds), taxonomy, (pick(decided), {"article": 0.5, "paragraph": 0.5}), shares, guess_share, pick(confs),
            )
            for group, m in report.items():
                for key in ("article_presence_f1", "article_presence_precision", "article_presence_recall", "paragraph_micro_f1"):
                    m[key] = decided_report[group][key]
        else:
            report = score_predictions(sub, pick(preds), taxonomy, None, shares, guess_share, pick(confs))
        for group, m in precise_report.items():
            report[group].update({f"precise_{k}": m[k] for k in ("span_precision", "span_recall", "span_f1", "n_pred")})
        reports[name] = report
    return reports


def _decided(staged, held_folds, thresholds):
    """Stage predictions turned into 0/1 with the thresholds of the fold that made them."""
    from framescope.model.article_stage import StagePrediction

    out = list(staged)
    for held, thr in zip(held_folds, thresholds):
        for i in held:
            sp = staged[i]
            out[i] = StagePrediction(
                {t: float(p >= thr["article"]) for t, p in sp.article.items()},
                [(n, a, b, {t: float(p >= thr["paragraph"]) for t, p in probs.items()}) for n, a, b, probs in sp.paragraphs],
            )
    return out
