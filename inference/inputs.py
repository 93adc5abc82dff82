"""Articles to score, streamed from files, folders, globs, JSONL, CSV or stdin.

:func:`iter_inputs` yields one :class:`Article` per article, or one :class:`InputError`
per article (or file) that cannot be read; it never raises for bad input and never
skips an article without saying why. Inputs are read one file (one JSONL/CSV record)
at a time, so memory stays bounded by the largest single article.

Ids are stable across runs: a ``.txt`` file's path relative to its input root (the
folder given, the non-wildcard prefix of a glob, or the file's own folder), with ``/``
separators; the id field/column of a JSONL/CSV record, else ``<file name>:<line>``
(the line the record starts on; ``stdin:<line>`` on standard input).

Texts are kept exactly as stored: a leading byte-order mark stays part of an article (offsets
count it, as in the SemEval gold labels); only the BOM of a JSONL or CSV *file* is dropped.
CSV is parsed strictly (RFC 4180 quoting): a stray or unterminated quote is an error at the
record where it starts, never several records merged into one article.

Every record is decoded and validated on its own: a record that cannot be scored or
exported (a lone surrogate such as ``"\\ud800"`` in its text, id, language or a metadata
field; an id or language that is a JSON object or array; no text) becomes one
:class:`InputError` naming its file, line and field, and the records around it are read as
usual. Ids must be strings or numbers: an object id is refused rather than turned into some
text, since it almost always means the wrong field was named as the id. A file name that is
not valid UTF-8 cannot become an id and is an error too; sources in error rows show such bytes
as ``\\xff``.

Language, in order: the record's own language field (JSONL/CSV), the ``lang`` given to
:func:`iter_inputs` (``--lang``), else detection with `lingua` (deterministic, low
accuracy mode over all languages, on the first 4,096 characters; ``None`` when no
language is clearly recognised, as for very short texts).
"""

from __future__ import annotations

import glob as globmod
import json
import sys
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Sequence

from framescope.labels.language import DETECT_CHARS, MIN_RELATIVE_DISTANCE, detect_language  # noqa: F401
from framescope.inference.input_csv import iter_csv

# the article types and the record checks live in input_records; callers import the types from here
from framescope.inference.input_records import Article, Fields, InputError, printable, record_to_article
from framescope.labels.document import describe_json_error
from framescope.labels.records import lone_surrogate

TEXT_SUFFIXES_IN_FOLDERS = ("*.txt",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)


# -- language detection: framescope.labels.language (shared with the MLflow pyfunc) ---

# -- decoding -------------------------------------------------------------------------


def decode_article(raw: bytes, offset: int = 0) -> tuple[str | None, str]:
    """``(text, "")`` or ``(None, reason)``: strict UTF-8, no NUL bytes, not empty.

    The text is the file exactly as stored, a leading byte-order mark included: span offsets
    count it, as the SemEval readers and the organisers' gold offsets do (docs/schema.md,
    "Offsets"), so ``score`` output and gold labels of the same file line up.
    """
    nul = raw.find(b"\x00")
    if nul >= 0:
        return None, f"binary file (NUL byte at byte {offset + nul})"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"not valid UTF-8 at byte {offset + err.start}: {err.reason}"
    if not text.lstrip("\ufeff").strip():
        return None, "empty article"
    return text, ""


def _is_glob(s: str) -> bool:
    return any(ch in s for ch in "*?[")


def _glob_root(pattern: str) -> Path:
    parts = Path(pattern).parts
    static = []
    for p in parts:
        if _is_glob(p):
            break
        static.append(p)
    return Path(*static) if static else Path(".")


def _rel_id(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# -- the iterator ---------------------------------------------------------------------


def iter_inputs(
    inputs: Sequence[str],
    *,
    lang: str | None = None,
    detect: bool = True,
    fields: Fields | None = None,
    stdin: BinaryIO | None = None,
) -> Iterator[Article | InputError]:
    """Articles (or errors) from every input, in order; ids unique within one call."""
    fields = fields or Fields()
    seen: dict[str, str] = {}
    for item in _iter_raw(inputs, fields, stdin):
        if isinstance(item, InputError):
            yield item
            continue
        if item.id in seen:
            yield InputError(item.id, item.source, f"duplicate id (first seen in {seen[item.id]})")
            continue
        seen[item.id] = item.source
        if item.lang is None:
            item.lang = lang
        if item.lang is None and detect:
            item.lang = detect_language(item.text)
        yield item


def _iter_raw(inputs: Sequence[str], fields: Fields, stdin: BinaryIO | None) -> Iterator[Article | InputError]:
    for spec in inputs:
        if spec == "-":
            yield from _iter_stdin(stdin if stdin is not None else sys.stdin.buffer, fields)
            continue
        path = Path(spec)
        if path.is_dir():
            files = sorted(
                (p for pat in TEXT_SUFFIXES_IN_FOLDERS for p in path.rglob(pat) if p.is_file()),
                key=lambda p: p.relative_to(path).as_posix(),
            )
            if not files:
                yield InputError(None, spec, "folder contains no *.txt files")
            for f in files:
                yield from _iter_file(f, path, fields)
        elif path.exists() or path.is_symlink():
            yield from _iter_file(path, path.parent, fields)
        elif _is_glob(spec):
            matches = sorted(Path(m) for m in globmod.glob(spec, recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                yield InputError(None, spec, "pattern matches no files")
            root = _glob_root(spec)
            for f in files:
                yield from _iter_file(f, root, fields)
        else:
            yield InputError(None, spec, "no such file or folder")


def _iter_file(path: Path, root: Path, fields: Fields) -> Iterator[Article | InputError]:
    suffix = path.suffix.lower()
    table_reader = _iter_jsonl if suffix in JSONL_SUFFIXES else iter_csv if suffix in CSV_SUFFIXES else None
    if table_reader is not None:
        try:
            fh = open(path, "rb")
        except OSError as err:
            yield InputError(None, str(path), f"cannot read: {err.strerror or err}")
            return
        with fh:
            yield from table_reader(fh, printable(str(path)), printable(path.name), fields)
        return
    doc_id = _rel_id(path, root)
    if lone_surrogate(doc_id) is not None:
        why = "the file name is not valid UTF-8, so it cannot be an article id; rename the file"
        yield InputError(None, str(path), why)
        return
    try:
        raw = path.read_bytes()
    except OSError as err:
        yield InputError(doc_id, str(path), f"cannot read: {err.strerror or err}")
        return
    text, why = decode_article(raw)
    del raw
    if text is None:
        yield InputError(doc_id, str(path), why)
    else:
        yield Article(doc_id, text, None, printable(str(path)))


def _iter_jsonl(
    fh: Iterable[bytes], source: str, name: str, fields: Fields, first: tuple[int, int, bytes] | None = None
) -> Iterator[Article | InputError]:
    """Lines of a JSONL stream; ``first`` = (line number, byte offset, line) already read."""
    offset = 0
    lineno = 0

    def lines():
        nonlocal offset, lineno
        if first is not None:
            yield first
            lineno, offset = first[0], first[1] + len(first[2])
        for line in fh:
            lineno += 1
            yield lineno, offset, line
            offset += len(line)

    for n, off, raw in lines():
        where = f"{source}:{n}"
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            yield InputError(None, where, f"not valid UTF-8 at byte {off + err.start}: {err.reason}")
            continue
        if n == 1 and line.startswith("\ufeff"):
            line = line[1:]
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            yield InputError(None, where, describe_json_error(err))
            continue
        if not isinstance(obj, dict):
            yield InputError(None, where, "a JSONL line must be a JSON object")
            continue
        yield record_to_article(obj, where, f"{name}:{n}", fields)


def _iter_stdin(stream: BinaryIO, fields: Fields) -> Iterator[Article | InputError]:
    """JSONL when the first non-blank line is a JSON object, else the whole stream is one text."""
    head: list[bytes] = []
    offset = 0
    first = None
    for line in stream:
        head.append(line)
        if line.strip():
            first = line
            break
        offset += len(line)
    if first is not None:
        try:
            obj = json.loads(first.decode("utf-8").lstrip("\ufeff"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            obj = None
        if isinstance(obj, dict):
            yield from _iter_jsonl(stream, "stdin", "stdin", fields, first=(len(head), offset, first))
            return
    raw = b"".join(head) + stream.read()
    text, why = decode_article(raw)
    if text is None:
        yield InputError("stdin", "stdin", why)
    else:
        yield Article("stdin", text, None, "stdin")


def count_inputs(inputs: Sequence[str]) -> int | None:
    """A quick estimate of the number of articles (None when stdin is among the inputs)."""
    total = 0
    for spec in inputs:
        if spec == "-":
            return None
        path = Path(spec)
        if path.is_dir():
            files = [p for pat in TEXT_SUFFIXES_IN_FOLDERS for p in path.rglob(pat)]
        elif path.exists():
            files = [path]
        elif _is_glob(spec):
            files = [Path(m) for m in globmod.glob(spec, recursive=True)]
        else:
            files = []
        for f in files:
            if f.suffix.lower() in JSONL_SUFFIXES + CSV_SUFFIXES:
                try:
                    with open(f, "rb") as fh:
                        n = sum(1 for line in fh if line.strip())
                except OSError:
                    n = 1
                total += max(n - (1 if f.suffix.lower() in CSV_SUFFIXES else 0), 0)
            else:
                total += 1
    return total
