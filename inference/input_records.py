"""One article of ``framescope score``'s inputs, and one JSONL/CSV record checked and made into one.

:class:`Article` and :class:`InputError` are what :func:`framescope.inference.inputs.iter_inputs`
yields; :func:`record_to_article` is shared by its JSONL and CSV readers, so a record is held to
the same rules (and refused with the same messages) whichever format it came in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from framescope.inference.metadata import DEFAULT_META, MetaField, extract_metadata
from framescope.labels.records import lone_surrogate, structured_problem, surrogate_problem, text_problem


@dataclass
class Article:
    id: str
    text: str
    lang: str | None
    source: str  # where it came from: a path, "<file>:<line>" or "stdin"
    # outlet, url, title, published_at... of a JSONL/CSV record (framescope.inference.metadata)
    metadata: dict[str, str | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # e.g. an unparseable date; still scored

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass
class InputError:
    id: str | None
    source: str
    reason: str

    def __post_init__(self) -> None:
        # an error row must itself be writable as UTF-8, whatever the input held
        self.source = printable(self.source)
        self.id = None if self.id is None else printable(self.id)
        self.reason = printable(self.reason)

    def to_dict(self) -> dict:
        return {"id": self.id, "source": self.source, "reason": self.reason}


@dataclass
class Fields:
    """Field (JSONL) / column (CSV) names; ``id``/``lang`` are optional in the data."""

    id: str = "id"
    text: str = "text"
    lang: str = "lang"
    id_required: bool = False  # True when the caller named the id field explicitly
    meta: tuple[MetaField, ...] = DEFAULT_META  # metadata fields kept (``--meta``)


def printable(value: str) -> str:
    """``value`` as valid text: undecodable file-name bytes as ``\\xff``, other lone surrogates as ``\\ud800``."""
    if lone_surrogate(value) is None:
        return value
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _str_or_none(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return str(v).lower()
    return v if isinstance(v, str) else str(v)


def record_to_article(obj: dict, where: str, fallback_id: str, fields: Fields) -> Article | InputError:
    """One JSONL/CSV record as an article, or the one error that says which field is wrong."""
    raw_id = obj.get(fields.id)
    why = structured_problem(fields.id, raw_id, "an id")
    if why:
        return InputError(None, where, why)
    doc_id = _str_or_none(raw_id)
    why = surrogate_problem(fields.id, doc_id or "")
    if why:
        return InputError(None, where, why)
    if doc_id is None or doc_id == "":
        if fields.id_required:
            return InputError(None, where, f"no {fields.id!r} value")
        doc_id = fallback_id
    text = obj.get(fields.text)
    why = text_problem(text, fields.text)  # the scoring service checks with the same function
    if why:
        return InputError(doc_id, where, why)
    raw_lang = obj.get(fields.lang)
    why = structured_problem(fields.lang, raw_lang, "a language")
    if why:
        return InputError(doc_id, where, why)
    lang = _str_or_none(raw_lang) or None
    metadata, warnings = extract_metadata(obj, fields.meta)
    values = [(fields.text, text), (fields.lang, lang or "")]
    values += [(f.field, metadata.get(f.output_name) or "") for f in fields.meta]
    for name, value in values:
        why = surrogate_problem(name, value)
        if why:
            return InputError(doc_id, where, why)
    return Article(doc_id, text, lang.lower() if lang else None, where, metadata, warnings)
