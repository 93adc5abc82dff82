"""brat standoff: ``X.txt`` (the text) next to ``X.ann`` (its annotations).

``read(path, problems)`` accepts a folder (every ``*.ann`` below it, sub-folders included, with
its ``.txt``; the document id is the path relative to the folder without the suffix, e.g.
``batch1/article42``) or a single ``.txt``/``.ann`` file (id: the file's stem). A ``.txt`` with
no ``.ann`` is not read (it may be a README).

Only text-bound annotations are read::

    T1<TAB>Loaded_Language 10 25<TAB>the covered text
    T2<TAB>Doubt 0 5;10 15<TAB>first second

* Offsets index the ``.txt`` decoded from UTF-8 exactly as stored (BOM and CRLF count).
* A **discontinuous** annotation (fragments separated by ``;``) becomes **one Span per
  fragment**, with the same technique, in fragment order. Our data model has contiguous spans
  only, and token-level training targets are the same either way; writing back then gives one
  ``T`` line per fragment.
* The text column must equal the covered text (fragments joined with one space, as brat
  writes it; a newline, carriage return or tab inside the covered text may appear as a space).
  A mismatch is a Problem naming ``file:line`` and the annotation is skipped.
* Relations (``R``), events (``E``), attributes (``A``/``M``), normalisations (``N``), notes
  (``#``) and equivalences (``*``) are ignored silently. T ids are not kept.

``lang`` and ``meta`` come from an optional sidecar ``X.meta.json``
(``{"lang": "de", "meta": {...}}``), else ``lang`` is the ``lang`` argument (default None).
``write(docs, path)`` writes ``X.txt``, ``X.ann`` and, when a document has a language or meta,
``X.meta.json`` under the folder ``path``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Iterable

from framescope.labels.atomic import atomic_write_bytes
from framescope.labels.document import Document, Location, Problem, Span
from framescope.labels.formats._common import check_technique, read_article, read_lines

NAME = "brat"
META_SUFFIX = ".meta.json"
_INT = re.compile(r"[0-9]+")
_FLAT = str.maketrans({"\r": " ", "\n": " ", "\t": " "})


def read(path: Path, problems: list[Problem], *, lang: str | None = None) -> list[Document]:
    path = Path(path)
    if path.is_file():
        if path.suffix not in (".txt", ".ann"):
            problems.append(Problem("expected a .txt or .ann file of a brat pair", Location(str(path))))
            return []
        doc = _read_pair(path.with_suffix(".txt"), path.with_suffix(".ann"), path.stem, lang, problems)
        return [doc] if doc is not None else []
    if not path.is_dir():
        problems.append(Problem("no such file or folder", Location(str(path))))
        return []
    docs: list[Document] = []
    anns = sorted(path.rglob("*.ann"), key=lambda p: p.relative_to(path).as_posix())
    if not anns:
        problems.append(Problem("no .ann files here", Location(str(path))))
    for ann in anns:
        if not ann.is_file():
            continue
        doc_id = ann.relative_to(path).with_suffix("").as_posix()
        doc = _read_pair(ann.with_suffix(".txt"), ann, doc_id, lang, problems)
        if doc is not None:
            docs.append(doc)
    return docs


def _read_sidecar(txt: Path, doc_id: str, problems: list[Problem]) -> tuple[bool, str | None, dict]:
    side = txt.with_name(txt.stem + META_SUFFIX)
    if not side.is_file():
        return False, None, {}
    loc = Location(str(side))
    try:
        data = json.loads(side.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        problems.append(Problem(f"cannot read the meta sidecar: {err}", loc, doc_id=doc_id))
        return False, None, {}
    if not isinstance(data, dict) or not isinstance(data.get("meta", {}), dict):
        problems.append(Problem('the meta sidecar must be {"lang": ..., "meta": {...}}', loc, doc_id=doc_id))
        return False, None, {}
    lang = data.get("lang")
    if lang is not None and not isinstance(lang, str):
        problems.append(Problem("'lang' must be a string or null", loc, doc_id=doc_id))
        lang = None
    return True, lang, dict(data.get("meta") or {})


def _read_pair(txt: Path, ann: Path, doc_id: str, lang: str | None, problems: list[Problem]) -> Document | None:
    if not txt.is_file():
        problems.append(Problem(f"no text file {txt.name} for this annotation file", Location(str(ann)), doc_id=doc_id))
        return None
    text = read_article(txt, problems, doc_id=doc_id)
    if text is None:
        return None
    has_side, side_lang, meta = _read_sidecar(txt, doc_id, problems)
    doc = Document(doc_id, text, side_lang if has_side else lang, [], meta, source=Location(str(txt)))
    lines = read_lines(ann, problems, doc_id=doc_id)
    for lineno, line in lines.lines if lines else []:
        if not line.startswith("T"):
            continue  # relations, events, attributes, notes...: not spans
        loc = Location(str(ann), lineno)
        spans = _parse_textbound(line, text, loc, doc_id, problems)
        if spans:
            doc.spans.extend(spans)
    return doc


def _parse_textbound(line: str, text: str, loc: Location, doc_id: str, problems: list[Problem]) -> list[Span] | None:
    cols = line.split("\t", 2)
    if len(cols) != 3:
        problems.append(
            Problem(
                "a text-bound annotation needs 3 tab-separated columns"
                f" (id, 'Type start end', text), found {len(cols)}",
                loc,
                doc_id=doc_id,
            )
        )
        return None
    ann_id, middle, ann_text = cols
    technique, _, frag_text = middle.partition(" ")
    if not technique or not frag_text:
        problems.append(Problem(f"{ann_id}: expected 'Type start end', found {middle!r}", loc, doc_id=doc_id))
        return None
    frags: list[tuple[int, int]] = []
    for frag in frag_text.split(";"):
        bounds = frag.strip().split(" ")
        if len(bounds) != 2 or not all(_INT.fullmatch(b) for b in bounds):
            problems.append(
                Problem(f"{ann_id}: offsets must be 'start end' integers, found {frag!r}", loc, doc_id=doc_id)
            )
            return None
        frags.append((int(bounds[0]), int(bounds[1])))
    first, last = frags[0][0], frags[-1][1]
    beyond = [f for f in frags if f[1] > len(text) or f[0] > f[1]]
    if beyond:
        problems.append(
            Problem(
                f"{ann_id}: offsets outside the text ({len(text)} characters) or reversed",
                loc,
                doc_id=doc_id,
                span=beyond[0],
            )
        )
        return None
    covered = " ".join(text[s:e] for s, e in frags)
    if ann_text != covered and ann_text != covered.translate(_FLAT):
        problems.append(
            Problem(
                f"{ann_id}: text column {ann_text!r} differs from the text at these offsets {covered!r}",
                loc,
                doc_id=doc_id,
                span=(first, last),
            )
        )
        return None
    return [Span(s, e, technique, source=loc) for s, e in frags]


def _relpath(doc_id: str) -> PurePosixPath:
    rel = PurePosixPath(doc_id)
    if (
        not doc_id
        or rel.is_absolute()
        or any(part in ("", ".", "..") for part in doc_id.split("/"))
        or any(c in doc_id for c in "\\\t\r\n\0")
    ):
        raise ValueError(f"document id {doc_id!r} cannot be written as a brat file name")
    return rel


def write(docs: Iterable[Document], path: Path) -> None:
    path = Path(path)
    jobs: list[tuple[Path, bytes]] = []
    seen: set[str] = set()
    stale: list[Path] = []
    for doc in docs:
        rel = _relpath(doc.id)
        if doc.id in seen:
            raise ValueError(f"duplicate document id {doc.id!r}")
        seen.add(doc.id)
        base = path.joinpath(*rel.parts)
        lines = []
        for i, s in enumerate(doc.spans, start=1):
            check_technique(s.technique, extra=" ")
            lines.append(f"T{i}\t{s.technique} {s.start} {s.end}\t{doc.text[s.start : s.end].translate(_FLAT)}\n")
        jobs.append((base.with_name(base.name + ".txt"), doc.text.encode("utf-8")))
        jobs.append((base.with_name(base.name + ".ann"), "".join(lines).encode("utf-8")))
        side = base.with_name(base.name + META_SUFFIX)
        if doc.lang is not None or doc.meta:
            data = {"lang": doc.lang, "meta": doc.meta}
            jobs.append((side, (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")))
        else:
            stale.append(side)
    path.mkdir(parents=True, exist_ok=True)
    for target, data in jobs:
        atomic_write_bytes(target, data)
    for side in stale:  # a sidecar left from an earlier write would change lang/meta on reading
        side.unlink(missing_ok=True)
