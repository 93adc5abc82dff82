"""The article result record: what scoring returns, and its one JSON form.

:class:`ArticleResult` is the typed result of one article (spans with confidences,
technique, category and overall scores, the article stage's probabilities, metadata).
:meth:`ArticleResult.to_dict` is its one serialiser: the ``results.jsonl`` record of the
export schema (docs/schema.md), which the scoring journal stores and from which the flat
tables (:func:`article_row` here; the span and paragraph rows in
:mod:`framescope.inference.exports`) and the MLflow pyfunc's rows are projected.
:meth:`ArticleResult.from_dict` is the one parser back, tolerant of hand-written or older
rows (the HTML report reads what users give it), so a record survives a round trip
unchanged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

DIGITS = 6  # scores, confidences and coverage are rounded to 6 decimals everywhere
#: The export schema of an article result: results.jsonl, the tables, the dataset and the
#: scoring service's response (docs/schema.md). Defined here, below both the exports and the
#: pyfunc, so the two cannot drift apart.
SCHEMA_VERSION = "1.1"
#: The standard metadata fields of a record (schema 1.1); ``meta_<name>`` fields follow them.
STANDARD_METADATA = ("source", "url", "title", "published_at")


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
            "start": int(self.start),
            "end": int(self.end),
            "text": self.text,
            "confidence": _r(self.confidence),
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
    #: SHA-256 of the text; ``None``: computed from ``text`` (a parsed record without text keeps its own)
    text_sha256: str | None = None
    #: the article's length; ``None``: ``len(text)`` (a parsed record without text keeps its own)
    n_chars: int | None = None
    #: ``source``, ``url``, ``title``, ``published_at`` and ``meta_<name>`` (:mod:`framescope.inference.metadata`)
    metadata: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``results.jsonl`` record; key order follows the export schema.

        The four standard metadata fields are always present (null when unknown), the
        ``meta_<name>`` fields only when the metadata holds them.
        """
        sha = self.text_sha256 or hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        return {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "lang": self.lang,
            "model": self.model,
            "model_version": self.model_version,
            "scored_at": iso_utc(self.scored_at),
            "n_chars": len(self.text) if self.n_chars is None else self.n_chars,
            "text_sha256": sha,
            **{name: self.metadata.get(name) for name in STANDARD_METADATA},
            **{k: v for k, v in self.metadata.items() if k.startswith("meta_")},
            "overall": _r(self.overall),
            "categories": {c: _r(v) for c, v in self.categories.items()},
            "techniques": {t: _technique_dict(ts) for t, ts in self.techniques.items()},
            "spans": [s.to_dict() for s in self.spans],
            "profile": self.profile,
            "paragraphs": [
                {
                    "index": p.index,
                    "start": p.start,
                    "end": p.end,
                    "probabilities": {t: _r(v) for t, v in p.probabilities.items()},
                }
                for p in self.paragraphs
            ],
        }

    @classmethod
    def from_dict(cls, row: Any, where: str = "", text: str | None = None) -> "ArticleResult":
        """Read a record back (a ``results.jsonl`` line, a journal entry, a flat or hand-written row).

        Tolerant: missing or malformed fields get neutral values; without technique scores
        they are derived from the spans. ``text`` is the article's text when it is kept
        apart from the record (the journal); else the row's ``text`` field, if any. Raises
        ``ValueError`` naming ``where`` when ``row`` is not an object.
        """
        if not isinstance(row, Mapping):
            raise ValueError(f"{where}: expected a JSON object per article")
        if text is None:
            text = row.get("text") if isinstance(row.get("text"), str) else ""
        spans = _parse_spans(row.get("spans") or [], text)
        techniques = _parse_techniques(row.get("techniques") or {}, spans, text)
        overall = row.get("overall_score", row.get("overall"))
        overall = _num(overall) if overall is not None else max((t.score for t in techniques.values()), default=0.0)
        kwargs: dict[str, Any] = {}
        if row.get("scored_at"):
            kwargs["scored_at"] = str(row["scored_at"])
        if row.get("profile") is not None:
            kwargs["profile"] = str(row["profile"])
        n_chars = row.get("n_chars")
        return cls(
            id=str(row.get("id", where)),
            lang=None if row.get("lang") is None else str(row.get("lang")),
            text=text,
            spans=spans,
            techniques=techniques,
            categories={str(k): _num(v) for k, v in (row.get("categories") or {}).items()},
            overall=overall,
            model=str(row.get("model") or ""),
            model_version=str(row.get("model_version") or ""),
            paragraphs=_parse_paragraphs(row.get("paragraphs") or []),
            text_sha256=row["text_sha256"] if isinstance(row.get("text_sha256"), str) else None,
            n_chars=None if n_chars is None else int(_num(n_chars)),
            metadata={k: v for k, v in row.items() if k in STANDARD_METADATA or k.startswith("meta_")},
            **kwargs,
        )


def article_row(rec: dict[str, Any], timestamps: bool = True) -> dict[str, Any]:
    """A record's row of the flat ``articles`` table (and of the pyfunc's response).

    ``timestamps``: ``scored_at`` and ``published_at`` as ``datetime`` (the tables) or kept
    as the record's ISO 8601 text (the pyfunc: Spark UDFs take no pandas timestamps).
    """
    when = _timestamp if timestamps else (lambda value: value)
    row: dict[str, Any] = {key: rec[key] for key in ("id", "lang", "model", "model_version")}
    row.update(scored_at=when(rec["scored_at"]), n_chars=rec["n_chars"], text_sha256=rec["text_sha256"])
    for key, value in rec.items():  # metadata; published_at as a timestamp
        if key in ("source", "url", "title") or key.startswith("meta_"):
            row[key] = value
    published = rec.get("published_at")
    row["published_at"] = when(published) if published else None
    for t, ts in rec["techniques"].items():
        row[f"score_{t}"] = ts["score"]
    for t, ts in rec["techniques"].items():
        row[f"prob_{t}"] = ts.get("probability")
    for c, v in rec["categories"].items():
        row[f"category_{c}"] = v
    row["overall_score"] = rec["overall"]
    row["n_spans"] = len(rec["spans"])
    row["profile"] = rec.get("profile", "balanced")
    row["schema_version"] = rec["schema_version"]
    return row


def result_from_rows(
    a: dict, spans: list[dict], paras: list[dict], text: str, techniques: Sequence[str], categories: Sequence[str]
) -> ArticleResult:
    """An article read back from the dataset's tables: the inverse of :func:`article_row` and
    the span and paragraph rows (coverage needs the text; without it, it is 0)."""
    scored = [
        ScoredSpan(s["technique"], s["category"], int(s["start"]), int(s["end"]), s["text"], float(s["confidence"]))
        for s in spans
    ]
    counted = technique_scores(scored, list(techniques), len(text) or int(a.get("n_chars") or 0))
    tech = {
        t: TechniqueScore(
            float(a[f"score_{t}"]),
            counted[t].spans,
            counted[t].coverage if text else 0.0,
            probability=a.get(f"prob_{t}"),
        )
        for t in techniques
    }
    paragraphs = [
        ParagraphResult(
            int(p["paragraph"]),
            int(p["start"]),
            int(p["end"]),
            {t: float(p[f"prob_{t}"]) for t in techniques if p.get(f"prob_{t}") is not None},
        )
        for p in paras
    ]
    return ArticleResult(
        id=a["id"],
        lang=a.get("lang"),
        text=text,
        spans=scored,
        techniques=tech,
        categories={c: float(a[f"category_{c}"]) for c in categories},
        overall=float(a["overall_score"]),
        model=str(a.get("model") or ""),
        model_version=str(a.get("model_version") or ""),
        profile=str(a.get("profile") or "balanced"),
        paragraphs=paragraphs,
        scored_at=a["scored_at"].isoformat() if hasattr(a["scored_at"], "isoformat") else str(a["scored_at"]),
    )


def iso_utc(value: str | datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds): how every export writes ``scored_at``."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


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


# -- helpers of the serialiser and the parser ---------------------------------------------


def _r(x: float) -> float:
    return round(float(x), DIGITS)


def _num(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _technique_dict(ts: TechniqueScore) -> dict[str, Any]:
    return {
        "score": _r(ts.score),
        "spans": int(ts.spans),
        "coverage": _r(ts.coverage),
        "probability": None if ts.probability is None else _r(ts.probability),
    }


def _parse_spans(raw: Any, text: str) -> list[ScoredSpan]:
    """Spans of a row; one without a technique is skipped, a missing span text cut from ``text``."""
    if isinstance(raw, str):  # the flat CSV row keeps spans as a JSON string
        import json

        raw = json.loads(raw)
    spans = []
    for s in raw:
        if not isinstance(s, Mapping) or "technique" not in s:
            continue
        start = int(_num(s.get("start"), -1))
        end = int(_num(s.get("end"), -1))
        span_text = s.get("text")
        if not isinstance(span_text, str):
            span_text = text[start:end] if 0 <= start < end <= len(text) else ""
        category = str(s.get("category") or "")
        spans.append(ScoredSpan(str(s["technique"]), category, start, end, span_text, _num(s.get("confidence"))))
    return spans


def _parse_techniques(raw: Mapping, spans: list[ScoredSpan], text: str) -> dict[str, TechniqueScore]:
    """Technique scores of a row (a bare number is a score); without any, derived from the spans."""
    techniques: dict[str, TechniqueScore] = {}
    for name, ts in raw.items():
        if isinstance(ts, Mapping):
            prob = ts.get("probability")
            techniques[str(name)] = TechniqueScore(
                score=_num(ts.get("score")),
                spans=int(_num(ts.get("spans"))),
                coverage=_num(ts.get("coverage")),
                probability=None if prob is None else _num(prob),
            )
        else:
            techniques[str(name)] = TechniqueScore(score=_num(ts), spans=0, coverage=0.0)
    if not techniques:  # derive from the spans, by the scorer's own definition
        techniques = technique_scores(spans, list(dict.fromkeys(s.technique for s in spans)), len(text))
        if not text:  # no text to measure coverage against
            techniques = {t: TechniqueScore(ts.score, ts.spans, 0.0) for t, ts in techniques.items()}
    return techniques


def _parse_paragraphs(raw: Any) -> list[ParagraphResult]:
    return [
        ParagraphResult(
            int(_num(p.get("index"), -1)),
            int(_num(p.get("start"), -1)),
            int(_num(p.get("end"), -1)),
            {str(k): _num(v) for k, v in p["probabilities"].items()},
        )
        for p in raw
        if isinstance(p, Mapping) and isinstance(p.get("probabilities"), Mapping)
    ]
