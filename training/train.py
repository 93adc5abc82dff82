"""One training run, end to end: data → tagger → calibration → evaluation → folder → MLflow.

This is what ``framescope train CONFIG`` runs; the steps read in the order the data flows.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from framescope.labels.dataset import fingerprint, split_documents
from framescope.labels.document import Document
from framescope.labels.formats.labelstudio import counts_of_inputs
from framescope.labels.io import read_documents
from framescope.labels.stats import is_labeled
from framescope.labels.taxonomy import Taxonomy, load_taxonomy
from framescope.model.tagger import SpanTagger
from framescope.training.calibration import calibrate_on_dev
from framescope.training.config import ArticleStageConfig, CalibrationConfig, Config, ConfigError, Corpus, resolve_path
from framescope.training.distributed import is_main_process
from framescope.training.evaluation import gold_tuples, score_predictions
from framescope.training.fit import build_tagger, fit_tagger
from framescope.training.model_card import write_model_card
from framescope.training.tracking import Tracker

log = logging.getLogger("framescope.train")


@dataclass
class TrainResult:
    output_dir: Path
    report: dict
    calibration: dict
    run_id: str | None
    model_uri: str | None
    registered_version: str | None
    seconds: float
    train_stats: dict


def load_corpora(
    entries: Sequence[Corpus], taxonomy: Taxonomy, langs, say: Callable[[str], None] | None = None
) -> list[Document]:
    """The annotated articles of the config's corpora; ``say`` hears what was left out and why."""
    say = say or log.info
    docs: list[Document] = []
    for entry in entries:
        path = resolve_path(entry.path)
        found = read_documents(path, entry.format, taxonomy=taxonomy, langs=langs)
        for counts in counts_of_inputs([path], entry.format):
            say("data: Label Studio " + "; ".join(counts.lines()))
        # articles without annotations (e.g. SemEval test articles) would teach "no technique"
        labeled = [d for d in found if is_labeled(d)]
        if len(labeled) < len(found):
            say(f"data: {path}: {len(found) - len(labeled)} unlabeled document(s) left out (no annotation)")
        docs.extend(labeled)
    return docs


def prepare_data(
    config: Config, taxonomy: Taxonomy, say: Callable[[str], None] | None = None
) -> tuple[list[Document], list[Document]]:
    d = config.data
    langs = list(d.langs) if d.langs is not None else None
    train = load_corpora(d.train, taxonomy, langs, say)
    if not train:
        raise ValueError("the config's data.train selects no articles")
    if d.dev:
        dev = load_corpora(d.dev, taxonomy, langs, say)
    else:
        train, dev = split_documents(train, d.dev_fraction, seed=d.split_seed)
    return train, dev


def train(config: Config, progress: Callable[[str], None] | None = None) -> TrainResult:
    say = progress or (lambda msg: log.info(msg))
    t0 = time.time()
    taxonomy = load_taxonomy(config.taxonomy)
    train_docs, dev_docs = prepare_data(config, taxonomy, say)
    say(f"data: {len(train_docs)} train / {len(dev_docs)} dev articles")
    with Tracker(config) as tracker:
        tracker.set_tags(
            {
                "taxonomy": str(taxonomy.identity),
                "taxonomy_sha256": taxonomy.identity.sha256,
                "train_fingerprint": fingerprint(train_docs),
                "dev_fingerprint": fingerprint(dev_docs),
                "model_type": config.model.type,
            }
        )
        tracker.log_params({"data.train_articles": len(train_docs), "data.dev_articles": len(dev_docs)})
        tracker.log_datasets(train_docs, dev_docs)
        tagger = build_tagger(config, taxonomy)
        train_stats = fit_tagger(tagger, train_docs, dev_docs, config, tracker=tracker, say=say)
        out = Path(config.output_dir)
        if not is_main_process():
            # distributed training: the weights are the same on every rank; only the main
            # process calibrates, evaluates, writes the folder and logs to MLflow
            return TrainResult(out, {}, {}, None, None, None, time.time() - t0, train_stats)
        say(f"trained in {time.time() - t0:.1f}s; fitting the article/paragraph stage")
        dev_scores = tagger.token_scores([d.text for d in dev_docs])
        tagger.stage = fit_article_stage(config, taxonomy, train_docs, tagger, dev_docs, say, dev_scores=dev_scores)
        record_train_shares(tagger, train_docs, taxonomy, config)
        say("calibrating on dev")
        staged_dev = tagger.stage.stack_predictions if tagger.stage is not None else None
        cal, report = calibrate_tagger(
            tagger, dev_docs, taxonomy, config.calibration, scores=dev_scores, staged_dev=staged_dev
        )
        tagger.settings.name = config.mlflow.registered_model or config.name
        tagger.settings.extra.update({"config_name": config.name, "train_fingerprint": fingerprint(train_docs)})
        tagger.save_pretrained(out)  # the stage too: the tagger owns it
        (out / "dev_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        card = write_model_card(out, config, report, cal.report, train_docs, dev_docs, taxonomy, train_stats)
        seconds = time.time() - t0
        tracker.log_report(report, "dev")
        tracker.log_metrics(
            {"train_seconds": seconds, **{k: float(v) for k, v in train_stats.items() if isinstance(v, (int, float))}}
        )
        tracker.log_results(report, cal.report)
        tracker.log_artifact(card)
        tracker.log_model(out)
        say(f"saved {out}" + (f"; MLflow run {tracker.run_id}" if tracker.run_id else ""))
        return TrainResult(
            out, report, cal.report, tracker.run_id, tracker.model_uri, tracker.registered_version, seconds, train_stats
        )


def calibrate_tagger(
    tagger, dev_docs: list[Document], taxonomy: Taxonomy, cal_cfg: CalibrationConfig, scores=None, staged_dev=None
):
    """Choose the tagger's thresholds (both profiles) on dev, in place, and score dev with them.

    The report holds the balanced profile's metrics, plus the precise profile's span
    precision/recall/F1 under ``precise_*`` keys so the two can be compared. ``scores``: the
    dev articles' token scores when the caller has them already (cross-validation caches them).
    ``staged_dev``: the stage's out-of-fold predictions of the dev articles when it was just
    stacked on them (:attr:`ArticleStage.stack_predictions`). Its article and paragraph
    figures then come from those: the stage's own predictions of articles its stacker and
    (refitted) lexical models learned from would report an article AUC near 1.
    """
    texts = [d.text for d in dev_docs]
    if scores is None:
        scores = tagger.token_scores(texts)
    cal, _ = calibrate_on_dev(tagger, dev_docs, cal_cfg, scores=scores)  # stores both profiles
    decoded = [tagger.decode(s) for s in scores]
    preds = [[p.as_tuple() for p in doc] for doc in decoded]
    stage = tagger.stage
    source = None
    if stage is not None and staged_dev is not None:
        staged, source = (staged_dev, stage.settings.thresholds), "stage, out of fold on dev"
    elif stage is not None:
        staged = (stage.predict(texts, scores, [d.lang for d in dev_docs]), stage.settings.thresholds)
        if stage.settings.fit_info.get("stacked_on") == "held-out articles":
            # a trained folder's stage, stacked on (and refitted with) the config's dev split
            source = "stage, fitted on these dev articles (optimistic)"
    else:
        staged = None
    report = score_predictions(
        dev_docs,
        preds,
        taxonomy,
        staged,
        tagger.settings.extra.get("train_technique_shares_by_lang"),
        float(tagger.settings.extra.get("constant_guess_share", 0.3)),
        [[p.confidence for p in doc] for doc in decoded],
        article_source=source,
    )
    precise = score_predictions(
        dev_docs, [[p.as_tuple() for p in tagger.decode(s, profile="precise")] for s in scores], taxonomy
    )
    for group, m in precise.items():
        report[group].update({f"precise_{k}": m[k] for k in ("span_precision", "span_recall", "span_f1", "n_pred")})
    return cal, report


def record_train_shares(tagger, train_docs: list[Document], taxonomy: Taxonomy, config: Config) -> None:
    """Keep the training articles' technique shares in the folder: the constant-guess baseline needs them."""
    from framescope.training.metrics.articles import presence_from_spans, shares_by_group

    groups = shares_by_group(
        presence_from_spans([gold_tuples(d, taxonomy) for d in train_docs]), [d.lang for d in train_docs]
    )
    tagger.settings.extra["train_technique_shares_by_lang"] = {
        g: {t: round(v, 6) for t, v in shares.items()} for g, shares in groups.items()
    }
    tagger.settings.extra["constant_guess_share"] = float(config.article_stage.constant_guess_share)


def crossfit_token_scores(
    config: Config, taxonomy: Taxonomy, docs: list[Document], folds: int, dev_docs: list[Document] | None = None
):
    """Token scores of every article from a tagger trained without it (``folds`` article folds).

    Cross-fitting: the second stage learns how much to trust the tagger's scores, so it
    must see scores like those of unseen articles, not the overconfident in-sample ones.
    Costs ``folds`` extra tagger trainings (seconds for the linear tagger).
    """
    from sklearn.model_selection import KFold

    out = [None] * len(docs)
    for train_idx, held in KFold(n_splits=folds, shuffle=True, random_state=config.seed).split(docs):
        fold_tagger = build_tagger(config, taxonomy)
        fold_docs = [docs[i] for i in train_idx]
        fit_tagger(fold_tagger, fold_docs, dev_docs or [], config, tracker=None, say=lambda m: None)
        for i, sc in zip(held, fold_tagger.token_scores([docs[i].text for i in held])):
            out[i] = sc
    return out


def stage_extra_articles(config: Config, taxonomy: Taxonomy, own_langs: set) -> list[Document]:
    """The ``article_stage.extra_train`` articles, without any of the tagger's languages
    (``own_langs`` and ``data.langs``): those could be dev or cross-validation test articles."""
    entries = config.article_stage.extra_train
    if not entries:
        return []
    own = set(own_langs) | set(config.data.langs or [])
    return [d for d in load_corpora(entries, taxonomy, None) if d.lang not in own]


def fit_article_stage(
    config: Config,
    taxonomy: Taxonomy,
    train_docs: list[Document],
    tagger,
    dev_docs=None,
    say=lambda m: None,
    given_scores=None,
    dev_scores=None,
    extra_docs: list[Document] | None = None,
):
    """The article/paragraph stage, or ``None`` when the config disables it.

    ``article_stage.token_scores`` says which token scores the stage's stacker learns to
    trust, and on which articles it is fitted (see :mod:`framescope.model.article_stage`):

    * ``dev`` (``auto``): the tagger's scores on the dev articles, which it never trained on;
      the lexical models learn from the training articles, the stacker from dev. No extra
      training, honest for every tagger.
    * ``crossfit``: the stacker on the training articles, with token scores from taggers
      retrained on ``crossfit_folds`` article folds (seconds for the linear tagger).
    * ``none``: characters only (stacked on dev when there is one).

    ``article_stage.extra_train`` articles (other languages) join the lexical models' and
    priors' training articles, never the tagger's.

    ``dev_scores``: the dev articles' token scores when the caller has them already;
    ``given_scores`` with ``token_scores: crossfit``: cross-fitted scores computed by the
    caller (cross-validation reuses one cross-fitting for several stage variants);
    ``extra_docs``: the :func:`stage_extra_articles` when the caller has loaded them already
    (cross-validation reads them once, not once per fold).
    """
    from framescope.model.article_stage import ArticleStage, StageSettings

    sc = config.article_stage
    if not sc.enabled:
        return None
    source = sc.token_scores
    if source == "auto":
        source = "dev" if dev_docs else "crossfit"
    extra = _stage_extra(config, taxonomy, source, train_docs, dev_docs, extra_docs)
    fitted = [*train_docs, *extra]
    scores, stack = _stage_scores(config, sc, source, taxonomy, train_docs, tagger, dev_docs, given_scores, dev_scores)
    stage = ArticleStage(StageSettings.from_options(tagger.techniques, sc, token_features=source != "none"))
    stage.settings.fit_info["token_scores"] = source
    stage.settings.fit_info["extra_articles"] = len(extra)
    t0 = time.time()
    stage.fit(
        [d.text for d in fitted],
        [gold_tuples(d, taxonomy) for d in fitted],
        scores,
        [d.lang for d in fitted],
        stack=stack,
    )
    say(f"article stage ({source} token scores) fitted in {time.time() - t0:.1f}s")
    return stage


def _stage_extra(config: Config, taxonomy: Taxonomy, source: str, train_docs, dev_docs, extra_docs) -> list[Document]:
    """The stage's ``extra_train`` articles (``extra_docs`` when the caller has them already);
    refused with cross-fitted token scores, which would train taggers on them."""
    if extra_docs is None:
        extra_docs = stage_extra_articles(config, taxonomy, {d.lang for d in [*train_docs, *(dev_docs or [])]})
    if extra_docs and source == "crossfit":
        raise ConfigError(
            "article_stage.extra_train needs token_scores dev or none (cross-fitting would train taggers on them)"
        )
    return extra_docs


def _stage_scores(
    config: Config,
    sc: ArticleStageConfig,
    source: str,
    taxonomy: Taxonomy,
    train_docs,
    tagger,
    dev_docs,
    given_scores,
    dev_scores,
):
    """The stage's token scores of its training articles (cross-fitted) or its stacking
    units (the dev articles), as ``(scores, stack)``; ``source`` is ``dev``, ``crossfit`` or ``none``."""
    from framescope.model.article_stage import Units

    if source == "crossfit":
        if given_scores is not None:
            return given_scores, None
        return crossfit_token_scores(config, taxonomy, train_docs, sc.crossfit_folds, dev_docs), None
    if source == "none" and not dev_docs:
        return None, None
    if not dev_docs:
        raise ConfigError("article_stage.token_scores dev needs dev articles (data.dev or data.dev_fraction)")
    dev_texts = [d.text for d in dev_docs]
    if source == "dev" and dev_scores is None:
        dev_scores = tagger.token_scores(dev_texts)
    return None, Units(
        dev_texts,
        [gold_tuples(d, taxonomy) for d in dev_docs],
        [d.lang for d in dev_docs],
        dev_scores if source == "dev" else None,
    )


def recalibrate(model_dir: str | Path, config: Config) -> tuple[dict, dict]:
    """Re-choose a trained model's thresholds on its config's dev split and rewrite its folder.

    The weights are untouched, so this is what ``train`` would have saved with the current
    calibration code; researchers also use it to calibrate on fresh dev annotations.
    Returns the dev report and the calibration report.
    """
    tagger = SpanTagger.from_pretrained(model_dir)
    taxonomy = tagger.taxonomy
    train_docs, dev_docs = prepare_data(config, taxonomy)
    cal, report = calibrate_tagger(tagger, dev_docs, taxonomy, config.calibration)
    out = Path(model_dir)
    tagger.settings.save(out)
    (out / "dev_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    write_model_card(out, config, report, cal.report, train_docs, dev_docs, taxonomy, {})
    return report, cal.report
