"""Score a tagger against gold documents: per language, per technique, all metrics at once."""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.training.metrics.articles import (
    best_span_scores,
    constant_guess,
    mean_roc_auc,
    presence_from_spans,
    presence_micro_f1,
    shares_by_group,
)
from framescope.training.metrics.intervals import ArticleTable, article_intervals
from framescope.training.metrics.spans import (
    paragraph_micro_f1,
    span_identification_prf,
    span_prf,
    token_seqeval,
)
from framescope.model.targets import word_offsets


def _bio_tags(offsets: np.ndarray, spans, technique: str) -> list[str]:
    tags = ["O"] * len(offsets)
    for s, e, t in sorted(spans):
        if t != technique:
            continue
        hit = np.nonzero((offsets[:, 0] < e) & (offsets[:, 1] > s))[0]
        for n, i in enumerate(hit):
            tags[i] = f"{'B' if n == 0 else 'I'}-{technique}"
    return tags


def seqeval_on_words(texts, predictions, references) -> dict:
    """seqeval entity F1 on word tokens, one BIO sequence per (document, technique).

    For familiarity only: the span metrics are the ones framescope optimises. A technique
    absent from both sides of a document adds nothing and is skipped.
    """
    pred_tags, gold_tags = [], []
    for text, pred, gold in zip(texts, predictions, references):
        offsets = word_offsets(text)
        for tech in sorted({t for *_, t in pred} | {t for *_, t in gold}):
            pred_tags.append(_bio_tags(offsets, pred, tech))
            gold_tags.append(_bio_tags(offsets, gold, tech))
    return token_seqeval(pred_tags, gold_tags)


def gold_tuples(doc: Document, taxonomy: Taxonomy) -> list[tuple[int, int, str]]:
    """Gold spans mapped onto the taxonomy; aliases documented as dropped are left out."""
    return [(s.start, s.end, s.technique) for s in taxonomy.resolve_spans(doc.spans)]


def score_predictions(
    docs: Sequence[Document],
    predictions: Sequence[Sequence[tuple[int, int, str]]],
    taxonomy: Taxonomy,
    stage=None,
    guess_shares: dict[str, dict[str, float]] | None = None,
    guess_share: float = 0.3,
    confidences: Sequence[Sequence[float]] | None = None,
    article_source: str | None = None,
    resamples: int = 0,
) -> dict:
    """Metrics overall (``all``) and per language, each with a per-technique breakdown.

    Article level (:mod:`~framescope.training.metrics.articles`): the article score is the
    second stage's probability when ``stage`` (a list of
    :class:`~framescope.model.article_stage.StagePrediction` plus its thresholds, see
    :func:`evaluate_tagger`) is given, else the best span confidence (``confidences``
    aligned with ``predictions``); presence is the stage's decision, else "has a span".
    The constant guess of a group (``all`` or a language) uses ``guess_shares[group]``, the
    technique shares of the training articles of that language (``all`` for a language the
    training set lacks); without them, the evaluated articles' own shares (optimistic: it
    sees the answers).
    Paragraph micro-F1 is the stage's paragraph decisions when there is a stage (the
    spans' paragraphs stay in ``paragraph_micro_f1_spans``). ``article_source`` names where
    the article scores come from in the report (default ``stage`` or ``spans``).
    ``resamples`` > 0 adds ``intervals``: 95% bootstrap intervals over the group's articles of
    its article AUC, presence F1 and presence F1 over the guess
    (:mod:`~framescope.training.metrics.intervals`).
    """
    gold_presence = presence_from_spans([gold_tuples(d, taxonomy) for d in docs])
    if not guess_shares:
        guess_shares = shares_by_group(gold_presence, [d.lang for d in docs])
    groups: dict[str, list[int]] = defaultdict(list)
    for i, d in enumerate(docs):
        groups["all"].append(i)
        groups[str(d.lang)].append(i)
    out = {}
    for name, idx in groups.items():
        pred = [list(predictions[i]) for i in idx]
        gold = [gold_tuples(docs[i], taxonomy) for i in idx]
        texts = [docs[i].text for i in idx]
        spans = _span_metrics(texts, pred, gold)
        if stage is not None:
            art_scores, art_presence, para_stage = _stage_decisions(stage, idx, texts, gold)
        else:
            art_scores = best_span_scores(pred, [confidences[i] for i in idx] if confidences is not None else None)
            art_presence, para_stage = presence_from_spans(pred), spans["paragraph_micro_f1_spans"]
        guess = constant_guess(guess_shares.get(name, guess_shares["all"]), guess_share)
        gp = [gold_presence[i] for i in idx]
        row = {
            "articles": len(idx),
            "paragraph_micro_f1": para_stage,
            "article_source": article_source or ("stage" if stage is not None else "spans"),
            **spans,
            **_article_metrics(art_scores, art_presence, gp, guess, taxonomy.names, resamples),
        }
        out[name] = {key: row[key] for key in REPORT_KEYS if key in row}
    return out


#: the keys of a group's report, in the order the report (and dev_report.json) lists them
REPORT_KEYS = (
    "articles",
    "span_precision",
    "span_recall",
    "span_f1",
    "n_pred",
    "n_gold",
    "span_identification_f1",
    "paragraph_micro_f1",
    "paragraph_micro_f1_spans",
    "article_source",
    "article_mean_auc",
    "article_auc_techniques",
    "article_presence_f1",
    "article_presence_precision",
    "article_presence_recall",
    "constant_guess_presence_f1",
    "constant_guess_techniques",
    "paragraph_macro_f1",
    "token_seqeval_f1",
    "mean_pred_span_length",
    "mean_gold_span_length",
    "per_technique",
    "paragraph_per_technique",
    "intervals",
)


def _span_metrics(texts: list[str], pred: list, gold: list) -> dict:
    """The span-level figures of one group: partial-overlap span P/R/F1, span identification,
    paragraphs of the spans, seqeval on words and the mean span lengths."""
    sp = span_prf(pred, gold)
    para = paragraph_micro_f1(texts, pred, gold)
    pl = [e - s for doc in pred for s, e, _ in doc]
    gl = [e - s for doc in gold for s, e, _ in doc]
    return {
        "span_precision": sp["precision"],
        "span_recall": sp["recall"],
        "span_f1": sp["f1"],
        "n_pred": sp["n_pred"],
        "n_gold": sp["n_gold"],
        "span_identification_f1": span_identification_prf(pred, gold)["f1"],
        "paragraph_micro_f1_spans": para["f1"],
        "paragraph_macro_f1": para.get("macro_f1", 0.0),
        "token_seqeval_f1": seqeval_on_words(texts, pred, gold)["f1"],
        "mean_pred_span_length": float(np.mean(pl)) if pl else 0.0,
        "mean_gold_span_length": float(np.mean(gl)) if gl else 0.0,
        "per_technique": sp["per_technique"],
        "paragraph_per_technique": para.get("per_technique", {}),
    }


def _stage_decisions(stage, idx: list[int], texts: list[str], gold: list) -> tuple[list, list, float]:
    """The article stage's article scores, its presence decisions and the micro-F1 of its
    paragraph decisions, for the articles ``idx`` of a group."""
    preds_stage, thresholds = stage
    art_scores = [preds_stage[i].article for i in idx]
    art_presence = [{t for t, p in a.items() if p >= thresholds["article"]} for a in art_scores]
    para_spans = [
        [
            (a, b, t)
            for _, a, b, probs in preds_stage[i].paragraphs
            for t, p in probs.items()
            if p >= thresholds["paragraph"]
        ]
        for i in idx
    ]
    return art_scores, art_presence, paragraph_micro_f1(texts, para_spans, gold)["f1"]


def _article_metrics(art_scores, art_presence, gold_presence, guess, techniques, resamples: int) -> dict:
    """Article AUC, presence P/R/F1, the constant guess's presence F1 and, with
    ``resamples``, their bootstrap intervals."""
    auc = mean_roc_auc(art_scores, gold_presence, techniques)
    presence = presence_micro_f1(art_presence, gold_presence)
    out = {
        "article_mean_auc": auc["mean"],
        "article_auc_techniques": auc["n_techniques"],
        "article_presence_f1": presence["f1"],
        "article_presence_precision": presence["precision"],
        "article_presence_recall": presence["recall"],
        "constant_guess_presence_f1": presence_micro_f1([set(guess)] * len(art_scores), gold_presence)["f1"],
        "constant_guess_techniques": sorted(guess),
    }
    if resamples:
        table = ArticleTable.build(art_scores, art_presence, gold_presence, [guess] * len(art_scores), techniques)
        out["intervals"] = article_intervals(table, n_resamples=resamples)
    return out


def evaluate_tagger(
    tagger,
    docs: Sequence[Document],
    stage=None,
    profile: str = "balanced",
    guess_share: float | None = None,
    resamples: int = 0,
) -> dict:
    """Score a tagger (and its article stage, when it has one) on annotated articles."""
    if stage is None:
        stage = getattr(tagger, "stage", None)
    texts = [d.text for d in docs]
    scores = tagger.token_scores(texts)
    preds = [tagger.decode(s, profile=profile) for s in scores]
    tuples = [[p.as_tuple() for p in doc] for doc in preds]
    confidences = [[p.confidence for p in doc] for doc in preds]
    shares = tagger.settings.extra.get("train_technique_shares_by_lang")
    share = guess_share if guess_share is not None else float(tagger.settings.extra.get("constant_guess_share", 0.3))
    staged = (
        (stage.predict(texts, scores, [d.lang for d in docs]), stage.settings.thresholds) if stage is not None else None
    )
    return score_predictions(docs, tuples, tagger.taxonomy, staged, shares, share, confidences, resamples=resamples)


def most_frequent_technique_baseline(train: Sequence[Document], dev: Sequence[Document], taxonomy: Taxonomy) -> dict:
    """The degenerate floor: every non-empty line of every dev article marked as the
    language's most frequent training technique. The partial-overlap metric rewards this
    paragraph painting, so a tagger must beat it to be worth anything."""
    from collections import Counter

    top: dict[str | None, str] = {}
    by_lang: dict[str | None, Counter] = defaultdict(Counter)
    for d in train:
        for _, _, t in gold_tuples(d, taxonomy):
            by_lang[d.lang][t] += 1
    overall: Counter = Counter()
    for lang, counter in by_lang.items():
        top[lang] = counter.most_common(1)[0][0]
        overall.update(counter)
    fallback = overall.most_common(1)[0][0] if overall else taxonomy.names[0]
    preds = []
    for d in dev:
        tech = top.get(d.lang, fallback)
        spans = []
        pos = 0
        for line in d.text.split("\n"):
            a, b = pos, pos + len(line)
            pos = b + 1
            while a < b and d.text[a].isspace():
                a += 1
            while b > a and d.text[b - 1].isspace():
                b -= 1
            if b > a:
                spans.append((a, b, tech))
        preds.append(spans)
    return score_predictions(dev, preds, taxonomy)
