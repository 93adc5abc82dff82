"""framescope JSONL: one document a line, the canonical interchange format.

``{"id": str, "lang": str|null, "text": str, "spans": [{"start", "end", "technique"}], "meta": {...}}``
Offsets are Python string indices (Unicode code points) into ``text``: JSON integers, never
``true``/``false`` (which Python would read as 1/0). A field of the wrong type is a Problem
naming the line, never a crash. A BOM before the first line marks the file's encoding and is
dropped; a BOM inside ``text`` is part of the text and counts in offsets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from framescope.labels.atomic import atomic_open
from framescope.labels.document import Document, Location, Problem, describe_json_error

NAME = "jsonl"


def read(path: Path, problems: list[Problem]) -> list[Document]:
    """The documents of a JSONL file; each line that cannot be one is a Problem naming its line."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        problems.append(Problem(f"cannot read: {err.strerror}", Location(str(path))))
        return []
    docs: list[Document] = []
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        loc = Location(str(path), lineno)
        data = _parse_line(line, lineno == 1, loc, problems)
        if data is not None and _fields_ok(data, loc, problems) and _spans_ok(data, loc, problems):
            docs.append(Document.from_dict(data, source=loc))
    return docs


def _parse_line(line: bytes, first: bool, loc: Location, problems: list[Problem]) -> dict | None:
    """The line as a JSON object, or None (and a problem) when it is not UTF-8, not JSON or not an object."""
    if first and line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]  # the file's encoding mark; a BOM inside "text" stays part of the text
    try:
        data = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as err:
        problems.append(Problem(f"not valid UTF-8 at byte {err.start} of the line", loc))
        return None
    except json.JSONDecodeError as err:
        problems.append(Problem(describe_json_error(err), loc))
        return None
    if not isinstance(data, dict):
        problems.append(Problem("a line must be a JSON object", loc))
        return None
    return data


def _fields_ok(data: dict, loc: Location, problems: list[Problem]) -> bool:
    """Whether id and text are there and every top-level field has its type; a problem for each that is not."""
    missing = [k for k in ("id", "text") if k not in data]
    if missing:
        problems.append(Problem(f"missing field(s): {', '.join(missing)}", loc))
        return False
    if not (isinstance(data["id"], str) or _is_int(data["id"])):
        problems.append(Problem(f"field 'id' must be a string or an integer, found {json.dumps(data['id'])}", loc))
        return False
    wrong = [
        why
        for ok, why in (
            (isinstance(data["text"], str), "field 'text' must be a string"),
            (isinstance(data.get("lang"), (str, type(None))), "field 'lang' must be a string or null"),
            (isinstance(data.get("spans"), (list, type(None))), "field 'spans' must be a list"),
            (isinstance(data.get("meta"), (dict, type(None))), "field 'meta' must be an object"),
        )
        if not ok
    ]
    problems.extend(Problem(why, loc, doc_id=str(data["id"])) for why in wrong)
    return not wrong


def _spans_ok(data: dict, loc: Location, problems: list[Problem]) -> bool:
    """Whether every span has integer offsets and a technique name; a problem for each span that does not."""
    ok = True
    for i, s in enumerate(data.get("spans") or []):
        why = _span_problem(i, s)
        if why:
            problems.append(Problem(why, loc, doc_id=str(data["id"])))
            ok = False
    return ok


def _span_problem(i: int, s: object) -> str:
    """What is wrong with span #i, or "" when it can become a Span."""
    if not isinstance(s, dict) or not {"start", "end", "technique"} <= set(s):
        return f"span #{i} needs start, end and technique"
    if not (_is_int(s["start"]) and _is_int(s["end"])):
        return f"span #{i}: start and end must be integers, found {json.dumps(s['start'])}, {json.dumps(s['end'])}"
    if not isinstance(s["technique"], str):
        return f"span #{i}: technique must be a string"
    return ""


def _is_int(v) -> bool:
    """JSON integers only: ``true``/``false`` are Python ints (bool subclasses int) and would become 1/0."""
    return isinstance(v, int) and not isinstance(v, bool)


def write(docs: Iterable[Document], path: Path) -> None:
    with atomic_open(path, "w") as fh:
        for doc in docs:
            fh.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
