"""What scoring returns: typed article results (spans with confidences, article scores).

Article-level score of a technique (documented in docs/schema.md): the highest
confidence of any span of that technique in the article, 0.0 when there is none. It
answers "how sure is the model that this article uses the technique at least once",
which is what monitoring dashboards sort and alert on; the span count and the share of
characters covered stand beside it to tell one phrase from a saturated article.
Category and overall scores are the maximum over their techniques.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from framescope.model.tagger import SpanTagger

DIGITS = 6  # scores, confidences and coverage are rounded to 6 decimals everywhere


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
    scored_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


def categories_of(taxonomy, techniques: Sequence[str]) -> list[str]:
    """Category ids in order of first appearance among the techniques (the exports' column order)."""
    out: list[str] = []
    for t in techniques:
        c = taxonomy.category_of(t)
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

    ``Scorer.from_pretrained(path_or_uri, backend=...)`` is ``SpanTagger.from_pretrained``;
    ``score_texts`` is ``tagger.score``. New code uses the tagger directly.
    """

    def __init__(self, tagger: SpanTagger):
        self.tagger = tagger
        self.taxonomy = tagger.taxonomy
        self.name = tagger.name
        self.version = tagger.version

    @classmethod
    def from_pretrained(
        cls, path_or_uri: str | Path, expected_taxonomy: str | None = None, backend: str = "torch"
    ) -> "Scorer":
        """``backend``: ``torch`` (default), ``torch-bf16``, ``onnx-fp32`` or ``onnx-int8`` (see ``SpanTagger.from_pretrained``)."""
        return cls(SpanTagger.from_pretrained(path_or_uri, backend=backend, expected_taxonomy=expected_taxonomy))

    def score_texts(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        langs: Sequence[str | None] | None = None,
    ) -> list[ArticleResult]:
        return self.tagger.score(texts, ids, langs)

    def score(self, text: str, id: str = "0", lang: str | None = None) -> ArticleResult:
        return self.tagger.score([text], [id], [lang])[0]


def article_result(tagger: SpanTagger, id_: str, lang: str | None, text: str, spans) -> ArticleResult:
    """One article's decoded spans -> its typed result with technique, category and overall scores."""
    taxonomy = tagger.taxonomy
    scored = [
        ScoredSpan(s.technique, taxonomy.category_of(s.technique), s.start, s.end, text[s.start : s.end], s.confidence)
        for s in spans
    ]
    techniques = technique_scores(scored, tagger.techniques, len(text))
    categories: dict[str, float] = {}
    for tech, ts in techniques.items():
        cat = taxonomy.category_of(tech)
        categories[cat] = max(categories.get(cat, 0.0), ts.score)
    overall = max((ts.score for ts in techniques.values()), default=0.0)
    return ArticleResult(id_, lang, text, scored, techniques, categories, overall, tagger.name, tagger.version)


def technique_scores(spans: Sequence[ScoredSpan], techniques: Sequence[str], n_chars: int) -> dict[str, TechniqueScore]:
    """Per technique: the highest span confidence (0.0 without spans), the span count and
    the share of the article's characters its spans cover (overlaps counted once)."""
    n = max(n_chars, 1)
    out: dict[str, TechniqueScore] = {}
    for tech in techniques:
        mine = [s for s in spans if s.technique == tech]
        covered = _covered([(s.start, s.end) for s in mine])
        out[tech] = TechniqueScore(score=max((s.confidence for s in mine), default=0.0), spans=len(mine), coverage=covered / n)
    return out


def _covered(intervals: list[tuple[int, int]]) -> int:
    total, end = 0, -1
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total
