"""Helpers shared by the format readers: exact article reads and tab-separated span lines.

Private to :mod:`framescope.labels.formats`; every function reports data errors as
:class:`Problem` objects instead of raising, so a reader can list everything wrong at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from framescope.labels.document import Location, Problem

_INT = re.compile(r"-?[0-9]+")


def read_article(path: Path, problems: list[Problem], doc_id: str | None = None) -> str | None:
    """The file decoded as UTF-8 with BOM and CR kept, or None (and a Problem) when unreadable."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        problems.append(Problem(f"cannot read: {err.strerror}", Location(str(path)), doc_id=doc_id))
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        problems.append(
            Problem(
                f"not valid UTF-8 at byte {err.start}: {err.reason}",
                Location(str(path), line),
                doc_id=doc_id,
            )
        )
        return None


@dataclass
class Lines:
    """The decodable lines of a text file, with what is needed to write it back the same way."""

    lines: list[tuple[int, str]]  # (1-based line number, line without its terminator)
    newline: str = "\n"  # "\r\n" when the file's lines end that way
    final_newline: bool = True  # whether the last non-empty line is terminated
    empty: bool = True  # no non-blank line at all


def read_lines(path: Path, problems: list[Problem], doc_id: str | None = None) -> Lines | None:
    """Split a UTF-8 file into lines, skipping blank ones; None (and a Problem) when unreadable.

    A line that is not valid UTF-8 becomes a Problem naming its line, and the others are kept.
    A leading BOM is dropped (label files are not offset-indexed).
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        problems.append(Problem(f"cannot read: {err.strerror}", Location(str(path)), doc_id=doc_id))
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    out = Lines(lines=[])
    parts = raw.split(b"\n")
    crlf = 0
    last_content = 0
    for lineno, part in enumerate(parts, start=1):
        if part.endswith(b"\r"):
            part = part[:-1]
            crlf += 1
        if not part.strip():
            continue
        last_content = lineno
        try:
            text = part.decode("utf-8")
        except UnicodeDecodeError as err:
            problems.append(
                Problem(
                    f"not valid UTF-8 at byte {err.start} of the line: {err.reason}",
                    Location(str(path), lineno),
                    doc_id=doc_id,
                )
            )
            continue
        out.lines.append((lineno, text))
    if last_content:
        out.empty = False
        out.final_newline = last_content < len(parts)
        terminated = len(parts) - 1
        if terminated and crlf * 2 > terminated:
            out.newline = "\r\n"
    return out


def parse_span_line(
    line: str, loc: Location, problems: list[Problem], doc_id: str | None = None
) -> tuple[str, str, int, int] | None:
    """``ID<TAB>Technique<TAB>start<TAB>end`` -> (id, technique, start, end), or None and a Problem.

    The technique is kept exactly as spelled (PTC has merged classes with commas in the name).
    """
    cols = line.split("\t")
    if len(cols) != 4:
        problems.append(
            Problem(
                f"expected 4 tab-separated columns (ID, technique, start, end), found {len(cols)}",
                loc,
                doc_id=doc_id if doc_id is not None else (cols[0] or None),
            )
        )
        return None
    art, technique, start, end = cols
    doc_id = doc_id if doc_id is not None else art
    bad = [name for name, v in (("start", start), ("end", end)) if not _INT.fullmatch(v)]
    if bad:
        shown = ", ".join(f"{name} {v!r}" for name, v in (("start", start), ("end", end)) if name in bad)
        problems.append(Problem(f"offsets must be integers: {shown}", loc, doc_id=doc_id))
        return None
    if not technique:
        problems.append(Problem("empty technique", loc, doc_id=doc_id, span=(int(start), int(end))))
        return None
    if not art:
        problems.append(Problem("empty article ID", loc, span=(int(start), int(end))))
        return None
    return art, technique, int(start), int(end)


def natural_key(doc_id: str) -> tuple:
    """Numeric IDs in numeric order, then the others alphabetically."""
    return (0, int(doc_id), doc_id) if doc_id.isdigit() else (1, 0, doc_id)


def check_id(doc_id: str) -> None:
    """Refuse IDs that cannot become a file name or a TSV field (a writer-side error)."""
    if not doc_id or any(c in doc_id for c in "/\\\t\r\n\0") or doc_id in (".", ".."):
        raise ValueError(f"document id {doc_id!r} cannot be written as a file name / TSV field")


def check_technique(technique: str, extra: str = "") -> None:
    if not technique or any(c in technique for c in "\t\r\n" + extra):
        raise ValueError(f"technique {technique!r} cannot be written in this format")


def span_lines(doc_id: str, spans) -> list[str]:
    out = []
    for s in spans:
        check_technique(s.technique)
        out.append(f"{doc_id}\t{s.technique}\t{s.start}\t{s.end}")
    return out
