"""What scoring returns: typed article results (spans with confidences, article scores).

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

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from framescope.model.tagger import SpanTagger

DIGITS = 6  # scores, confidences and coverage are rounded to 6 decimals everywhere
#: The export schema of an article result: results.jsonl, the tables, the dataset and the
#: scoring service's response (docs/schema.md). Defined here, below both the exports and the
#: pyfunc, so the two cannot drift apart.
SCHEMA_VERSION = "1.1"

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


@dataclass
class ScoredSpan:
    technique: str
    category: str
    start: int
    end: int
    text: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "technique": self.technique,
            "category": self.category,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "confidence": round(float(self.confidence), DIGITS),
        }


@dataclass
class TechniqueScore:
    score: float
    spans: int
    coverage: float
    probability: float | None = None  # the article stage's calibrated probability


@dataclass
class ParagraphResult:
    index: int  # among the article's non-empty lines, from 0
    start: int
    end: int
    probabilities: dict[str, float]


@dataclass
class ArticleResult:
    id: str
    lang: str | None
    text: str
    spans: list[ScoredSpan]
    techniques: dict[str, TechniqueScore]
    categories: dict[str, float]
    overall: float
    model: str = ""
    model_version: str = ""
    profile: str = "balanced"
    paragraphs: list[ParagraphResult] = field(default_factory=list)
    scored_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


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


def iso_utc(value: str | datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds): how every export writes ``scored_at``."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class Scorer:
    """The older scoring API, kept for notebooks and callers: a thin wrapper of a tagger.

    ``Scorer.from_pretrained(path_or_uri, backend=..., profile=...)`` is
    ``SpanTagger.from_pretrained`` plus the span-threshold profile every call scores with;
    ``score_texts`` is ``tagger.score``. New code uses the tagger directly.
    """

    def __init__(self, tagger: SpanTagger, profile: str = "balanced"):
        check_profile(tagger, profile)
        self.tagger = tagger
        self.taxonomy = tagger.taxonomy
        self.name = tagger.name
        self.version = tagger.version
        self.profile = profile

    @property
    def stage(self):
        """The tagger's article stage (``None`` for folders without one)."""
        return self.tagger.stage

    @classmethod
    def from_pretrained(
        cls,
        path_or_uri: str | Path,
        expected_taxonomy: str | None = None,
        backend: str = "torch",
        profile: str = "balanced",
    ) -> "Scorer":
        """``backend``: ``torch`` (default), ``torch-bf16``, ``onnx-fp32`` or ``onnx-int8`` (see
        ``SpanTagger.from_pretrained``); ``profile``: ``balanced`` (default) or ``precise``."""
        tagger = SpanTagger.from_pretrained(path_or_uri, backend=backend, expected_taxonomy=expected_taxonomy)
        return cls(tagger, profile=profile)

    def score_texts(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        langs: Sequence[str | None] | None = None,
    ) -> list[ArticleResult]:
        return self.tagger.score(texts, ids, langs, profile=self.profile)

    def score(self, text: str, id: str = "0", lang: str | None = None) -> ArticleResult:
        return self.score_texts([text], [id], [lang])[0]


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


def technique_scores(spans: Sequence[ScoredSpan], techniques: Sequence[str], n_chars: int) -> dict[str, TechniqueScore]:
    """Per technique: the highest span confidence (0.0 without spans), the span count and
    the share of the article's characters its spans cover (overlaps counted once)."""
    n = max(n_chars, 1)
    out: dict[str, TechniqueScore] = {}
    for tech in techniques:
        mine = [s for s in spans if s.technique == tech]
        covered = _covered([(s.start, s.end) for s in mine])
        out[tech] = TechniqueScore(
            score=max((s.confidence for s in mine), default=0.0), spans=len(mine), coverage=covered / n
        )
    return out


def _covered(intervals: list[tuple[int, int]]) -> int:
    total, end = 0, -1
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total
