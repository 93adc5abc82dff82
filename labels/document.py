"""The annotation data model: documents with end-exclusive character spans.

Offsets index ``Document.text`` exactly as stored on disk (BOM and CRLF included),
because every corpus we read counts them that way and a single shifted character
silently corrupts every downstream target. Spans of any techniques may overlap.
Techniques are kept as spelled in the source; mapping onto a taxonomy (aliases)
happens in :mod:`framescope.labels.taxonomy`, so that writers can reproduce the
source files exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    import json


@dataclass(frozen=True)
class Location:
    """Where a record came from, so every error can point at it."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else self.path


@dataclass(frozen=True, order=True)
class Span:
    """One annotated technique over ``text[start:end]`` (end exclusive)."""

    start: int
    end: int
    technique: str
    source: Location | None = field(default=None, compare=False, repr=False, hash=False)

    def overlaps(self, other: "Span") -> bool:
        return self.start < other.end and other.start < self.end

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "technique": self.technique}


@dataclass
class Document:
    """An article: its exact text, its language (ISO 639-1 or None) and its spans."""

    id: str
    text: str
    lang: str | None = None
    spans: list[Span] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    source: Location | None = field(default=None, compare=False, repr=False)

    def span_text(self, span: Span) -> str:
        return self.text[span.start : span.end]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "lang": self.lang, "text": self.text}
        out["spans"] = [s.to_dict() for s in self.spans]
        if self.meta:
            out["meta"] = self.meta
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: Location | None = None) -> "Document":
        spans = [
            Span(int(s["start"]), int(s["end"]), str(s["technique"]), source=source) for s in data.get("spans") or []
        ]
        return cls(
            id=str(data["id"]),
            text=data["text"],
            lang=data.get("lang"),
            spans=spans,
            meta=dict(data.get("meta") or {}),
            source=source,
        )


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as precisely as the format allows."""

    message: str
    location: Location | None = None
    doc_id: str | None = None
    span: tuple[int, int] | None = None
    #: "error" (the data cannot be used as it is) or "warning" (usable, but worth a look, such
    #: as an exact duplicate span: published corpora have them, PTC-2020 train has one).
    level: str = "error"

    @property
    def is_error(self) -> bool:
        return self.level == "error"

    def __str__(self) -> str:
        where = []
        if self.location is not None:
            where.append(str(self.location))
        if self.doc_id is not None:
            where.append(f"article {self.doc_id}")
        if self.span is not None:
            where.append(f"offsets {self.span[0]}-{self.span[1]}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class AnnotationError(ValueError):
    """Raised with every problem found, not just the first, so users fix files in one pass."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:20])
        more = len(self.problems) - 20
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{len(self.problems)} problem(s) in the annotations:\n{shown}{tail}")


def describe_json_error(err: "json.JSONDecodeError") -> str:
    """``not valid JSON: <what> at column <n>`` for a :class:`json.JSONDecodeError`.

    Some of the json module's messages already end in "at" ("Unterminated string starting
    at"), so appending " at column" blindly would read "starting at at column 8".
    """
    msg = err.msg.removesuffix(" at")
    return f"not valid JSON: {msg} at column {err.colno}"
