"""Article metadata carried from JSONL/CSV records into the exports (outlet, URL, title, date).

A monitoring dashboard groups articles by outlet and by week, so the fields that say
where and when an article appeared must survive scoring. ``framescope score --meta``
names them; by default the four standard fields ``source`` (the outlet), ``url``,
``title`` and ``published_at`` are kept when a record has them. Each becomes a typed
column of the ``articles`` table and a top-level field of ``results.jsonl`` (export
schema 1.1, docs/schema.md); any other named field becomes a nullable string column
``meta_<name>``. ``column=field`` reads a column from a differently named field
(``--meta source=outlet,published_at=date``).

``published_at`` is parsed to a UTC timestamp of any year from 1 to 9999, written with a
zero-padded four-digit year (``0001-01-01T00:00:00Z``) so that every export reads it back: ISO 8601 (``2024-05-01``,
``2024-05-01T08:30:00+02:00``, ``...Z``) or RFC 2822 as in RSS feeds
(``Wed, 01 May 2024 08:30:00 +0200``); a date without a time zone is taken as UTC. A
value that does not parse becomes null and the article gets a *warning* (it is still
scored): a wrong date must not cost the article's scores.

(``Article.source``, where an article was read from, is unrelated to the ``source``
metadata field, the outlet that published it.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Mapping

STANDARD_FIELDS = ("source", "url", "title", "published_at")
TIMESTAMP_FIELDS = ("published_at",)
EXTRA_PREFIX = "meta_"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class MetaField:
    column: str  # ``source`` .. ``published_at``, or the name after ``meta_``
    field: str  # the JSONL field / CSV column it is read from

    @property
    def output_name(self) -> str:
        """Column of ``articles`` / key of ``results.jsonl``."""
        return self.column if self.column in STANDARD_FIELDS else EXTRA_PREFIX + self.column


DEFAULT_META = tuple(MetaField(name, name) for name in STANDARD_FIELDS)


def parse_meta_option(value: str | None) -> tuple[MetaField, ...]:
    """``"source,url,title=headline,desk"`` -> fields; None -> the four standard fields.

    Raises ``ValueError`` with a one-line reason for a malformed list, or for two names that
    differ only in case: the export would keep both, a ``--dataset`` (read by DuckDB) would
    rename one, so the same column would have two names. One rule, here, for both.
    """
    if value is None:
        return DEFAULT_META
    out: list[MetaField] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        column, _, source_field = item.partition("=")
        column, source_field = column.strip(), (source_field.strip() or column.strip())
        if not _NAME.match(column):
            raise ValueError(f"--meta: {column!r} is not a column name (letters, digits, _)")
        if column.startswith(EXTRA_PREFIX):
            column = column[len(EXTRA_PREFIX) :]
        if any(f.column == column for f in out):
            raise ValueError(f"--meta: {column!r} named twice")
        twin = next((f.column for f in out if f.column.lower() == column.lower()), None)
        if twin is not None:
            raise ValueError(
                f"--meta: {twin!r} and {column!r} differ only in case; DuckDB, Spark and the --dataset "
                "read column names case-insensitively and would rename one of them"
            )
        out.append(MetaField(column, source_field))
    return tuple(out)


def extra_columns(meta: tuple[MetaField, ...]) -> list[str]:
    """The ``meta_<name>`` columns these fields add beside the four standard ones."""
    return [f.output_name for f in meta if f.column not in STANDARD_FIELDS]


def parse_timestamp(value: Any) -> datetime | None:
    """A UTC datetime (whole seconds) from ISO 8601 or RFC 2822 text; None when it does not parse."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if dt is None:
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc).replace(microsecond=0)
    except (OverflowError, ValueError):
        return None


def format_timestamp(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` with a four-digit year for every year 1 to 9999.

    Not ``strftime("%Y")``: on Linux it writes year 1 as ``1``, which no ISO 8601 reader
    (``datetime.fromisoformat`` included) reads back.
    """
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}Z"


def extract_metadata(record: Mapping[str, Any], meta: tuple[MetaField, ...]) -> tuple[dict[str, str | None], list[str]]:
    """``({output name: value}, warnings)`` for one JSONL/CSV record.

    Every standard field is present (None when absent); values are strings, timestamps
    as ``YYYY-MM-DDTHH:MM:SSZ``. Empty strings are null. Numbers become their text,
    objects and lists their JSON (CSV cells are always text).
    """
    out: dict[str, str | None] = {name: None for name in STANDARD_FIELDS}
    warnings: list[str] = []
    for f in meta:
        raw = record.get(f.field)
        if raw is None or raw == "":
            out[f.output_name] = None
            continue
        if f.column in TIMESTAMP_FIELDS:
            dt = parse_timestamp(raw if isinstance(raw, str) else None)
            if dt is None:
                shown = raw if isinstance(raw, str) else json.dumps(raw)
                warnings.append(f"{f.field}: cannot parse {shown[:60]!r} as a date (ISO 8601 or RFC 2822); left empty")
                out[f.output_name] = None
            else:
                out[f.output_name] = format_timestamp(dt)
        elif isinstance(raw, str):
            out[f.output_name] = raw
        elif isinstance(raw, bool):
            out[f.output_name] = str(raw).lower()
        elif isinstance(raw, (int, float)):
            out[f.output_name] = str(raw)
        else:
            out[f.output_name] = json.dumps(raw, ensure_ascii=False)
    return out, warnings
