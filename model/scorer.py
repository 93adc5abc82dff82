"""How scoring fills an article result (:mod:`framescope.model.result`): spans, article scores, profiles.

Article-level score of a technique (documented in docs/schema.md): the highest
confidence of any span of that technique in the article, 0.0 when there is none. It
answers "how sure is the model that this article uses the technique at least once",
which is what monitoring dashboards sort and alert on; the span count and the share of
characters covered stand beside it to tell one phrase from a saturated article.
Category and overall scores are the maximum over their techniques.

Article and paragraph *probabilities* (schema 1.1) come from the model folder's second
stage (:mod:`framescope.model.article_stage`) when it has one: calibrated, learned per
technique from the tagger's token scores and the text, and the numbers a dashboard should
rank and alert on. A folder without the stage gives ``None`` (null in the exports).

The *profile* chooses the span thresholds: ``balanced`` (best F1 on dev) or ``precise``
(per-technique thresholds for high dev span precision). Probabilities do not depend on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from framescope.model.result import (  # noqa: F401  (the record, importable from here as before)
    DIGITS,
    SCHEMA_VERSION,
    ArticleResult,
    ParagraphResult,
    ScoredSpan,
    TechniqueScore,
    iso_utc,
    technique_scores,
)

if TYPE_CHECKING:
    from framescope.model.tagger import SpanTagger

#: Where the article metadata columns (exports only) stand in :func:`article_columns`.
METADATA_AFTER = "text_sha256"


def article_columns(techniques: Sequence[str], categories: Sequence[str]) -> list[tuple[str, str, bool]]:
    """``(name, kind, nullable)`` of the per-article columns, in order: the one definition that
    the ``articles`` export table (:func:`framescope.inference.exports.articles_schema`, which
    adds the metadata after :data:`METADATA_AFTER` and ``schema_version``) and the MLflow
    pyfunc's output (:func:`framescope.model.mlflow_model.output_columns`) are built from.

    Kinds: ``string``, ``long``, ``double``, ``timestamp``.
    """
    cols = [
        ("id", "string", False),
        ("lang", "string", True),
        ("model", "string", False),
        ("model_version", "string", False),
        ("scored_at", "timestamp", False),
        ("n_chars", "long", False),
        ("text_sha256", "string", False),
    ]
    cols += [(f"score_{t}", "double", False) for t in techniques]
    cols += [(f"prob_{t}", "double", True) for t in techniques]  # schema 1.1, null without an article stage
    cols += [(f"category_{c}", "double", False) for c in categories]
    cols += [("overall_score", "double", False), ("n_spans", "long", False), ("profile", "string", False)]
    return cols


def categories_of(taxonomy, techniques: Sequence[str]) -> list[str]:
    """Category ids in order of first appearance among the techniques (the exports' column order)."""
    out: list[str] = []
    for t in techniques:
        try:
            c = taxonomy.category_of(t)
        except KeyError:
            from framescope.errors import ModelError

            raise ModelError(
                f"the model's technique {t!r} is not in its taxonomy {getattr(taxonomy, 'name', '')!r}: "
                "framescope.json and taxonomy.yaml do not match"
            ) from None
        if c not in out:
            out.append(c)
    return out


def trained_languages(tagger: SpanTagger) -> frozenset[str]:
    """The languages of the model's training articles, as its folder records them (empty for
    folders that predate the record, and for models trained without language codes)."""
    shares = tagger.settings.extra.get("train_technique_shares_by_lang") or {}
    return frozenset(str(lang) for lang in shares if lang not in ("all", "None"))


def check_profile(tagger: SpanTagger, profile: str) -> None:
    """A profile the model folder has: ``balanced`` always, ``precise`` once calibrated with profiles."""
    from framescope.errors import UsageError
    from framescope.model.settings import PROFILES

    if profile not in PROFILES:
        raise UsageError(f"--profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    if profile == "precise" and tagger.settings.precise_thresholds is None:
        raise UsageError(
            "the model has no precise profile (calibrated before profiles existed; run `framescope calibrate`)"
        )


def article_result(
    tagger: SpanTagger, id_: str, lang: str | None, text: str, spans, staged=None, profile: str = "balanced"
) -> ArticleResult:
    """One article's decoded spans (and the stage's prediction, if any) -> its typed result with
    technique, category and overall scores, article and paragraph probabilities."""
    taxonomy = tagger.taxonomy
    scored = [
        ScoredSpan(s.technique, taxonomy.category_of(s.technique), s.start, s.end, text[s.start : s.end], s.confidence)
        for s in spans
    ]
    techniques = technique_scores(scored, tagger.techniques, len(text))
    if staged is not None:
        for tech, ts in techniques.items():
            ts.probability = staged.article[tech]
    categories: dict[str, float] = {}
    for tech, ts in techniques.items():
        cat = taxonomy.category_of(tech)
        categories[cat] = max(categories.get(cat, 0.0), ts.score)
    overall = max((ts.score for ts in techniques.values()), default=0.0)
    paragraphs = [ParagraphResult(*p) for p in staged.paragraphs] if staged is not None else []
    return ArticleResult(
        id_, lang, text, scored, techniques, categories, overall, tagger.name, tagger.version, profile, paragraphs
    )
