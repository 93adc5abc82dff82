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
    docs: list[Document] = []
    try:
        raw = path.read_bytes()
    except OSError as err:
        problems.append(Problem(f"cannot read: {err.strerror}", Location(str(path))))
        return docs
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        loc = Location(str(path), lineno)
        if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]  # the file's encoding mark; a BOM inside "text" stays part of the text
        try:
            data = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as err:
            problems.append(Problem(f"not valid UTF-8 at byte {err.start} of the line", loc))
            continue
        except json.JSONDecodeError as err:
            problems.append(Problem(describe_json_error(err), loc))
            continue
        if not isinstance(data, dict):
            problems.append(Problem("a line must be a JSON object", loc))
            continue
        missing = [k for k in ("id", "text") if k not in data]
        if missing:
            problems.append(Problem(f"missing field(s): {', '.join(missing)}", loc))
            continue
        if not (isinstance(data["id"], str) or _is_int(data["id"])):
            problems.append(Problem(f"field 'id' must be a string or an integer, found {json.dumps(data['id'])}", loc))
            continue
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
        if wrong:
            problems.extend(Problem(why, loc, doc_id=str(data["id"])) for why in wrong)
            continue
        spans = data.get("spans") or []
        bad = False
        for i, s in enumerate(spans):
            if not isinstance(s, dict) or not {"start", "end", "technique"} <= set(s):
                problems.append(Problem(f"span #{i} needs start, end and technique", loc, doc_id=str(data["id"])))
                bad = True
            elif not (_is_int(s["start"]) and _is_int(s["end"])):
                problems.append(
                    Problem(
                        f"span #{i}: start and end must be integers, found "
                        f"{json.dumps(s['start'])}, {json.dumps(s['end'])}",
                        loc,
                        doc_id=str(data["id"]),
                    )
                )
                bad = True
            elif not isinstance(s["technique"], str):
                problems.append(Problem(f"span #{i}: technique must be a string", loc, doc_id=str(data["id"])))
                bad = True
        if bad:
            continue
        docs.append(Document.from_dict(data, source=loc))
    return docs


def _is_int(v) -> bool:
    """JSON integers only: ``true``/``false`` are Python ints (bool subclasses int) and would become 1/0."""
    return isinstance(v, int) and not isinstance(v, bool)


def write(docs: Iterable[Document], path: Path) -> None:
    with atomic_open(path, "w") as fh:
        for doc in docs:
            fh.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
