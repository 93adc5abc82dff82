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

import csv
import glob as globmod
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Sequence

from framescope.labels.language import DETECT_CHARS, MIN_RELATIVE_DISTANCE, detect_language  # noqa: F401
from framescope.inference.metadata import DEFAULT_META, MetaField, extract_metadata
from framescope.labels.document import describe_json_error
from framescope.labels.records import lone_surrogate, structured_problem, surrogate_problem, text_problem

TEXT_SUFFIXES_IN_FOLDERS = ("*.txt",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)


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


# -- language detection: framescope.labels.language (shared with the MLflow pyfunc) ---

# -- decoding -------------------------------------------------------------------------


def printable(value: str) -> str:
    """``value`` as valid text: undecodable file-name bytes as ``\\xff``, other lone surrogates as ``\\ud800``."""
    if lone_surrogate(value) is None:
        return value
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


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
    table_reader = _iter_jsonl if suffix in JSONL_SUFFIXES else _iter_csv if suffix in CSV_SUFFIXES else None
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


def _str_or_none(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return str(v).lower()
    return v if isinstance(v, str) else str(v)


def _record(obj: dict, where: str, fallback_id: str, fields: Fields) -> Article | InputError:
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
        yield _record(obj, where, f"{name}:{n}", fields)


def _iter_csv(fh: BinaryIO, source: str, name: str, fields: Fields) -> Iterator[Article | InputError]:
    """Records of a CSV file, parsed strictly (RFC 4180 quoting).

    Python's csv module in its default, lenient mode reads an unterminated quote as the start
    of a field that runs on over the following lines until some later quote closes it, so one
    stray quote silently merges several records into one article. With ``strict=True`` it
    stops at the first quote that is not followed by a delimiter or the end of the line
    (or at the end of the file inside a quoted field). From that record on the record
    boundaries cannot be trusted, so the rest of the file is one error naming its lines
    instead of articles made of merged or shifted records; records before it are read.
    """
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    bad_lines: dict[int, str] = {}  # line number -> decoding problem
    state = {"line": 0, "offset": 0}

    def lines():
        for raw in fh:
            state["line"] += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                bad_lines[state["line"]] = f"not valid UTF-8 at byte {state['offset'] + err.start}: {err.reason}"
                text = raw.decode("utf-8", errors="replace")
            if state["line"] == 1 and text.startswith("\ufeff"):
                text = text[1:]  # the file's encoding mark, not part of any field
            state["offset"] += len(raw)
            yield text

    def malformed(err: csv.Error, first_line: int) -> InputError:
        failed_at = reader.line_num
        rest = sum(1 for _ in lines())  # count (and skip) the lines after the one that failed
        last = failed_at + rest
        span = f"line {first_line}" if last == first_line else f"lines {first_line}-{last}"
        why = str(err)
        if "expected after" in why or "end of data" in why:
            why += f" (a quote opened in the record that starts on line {first_line} is not closed where a field ends)"
        elif "new-line character" in why:
            why = "a carriage return alone inside an unquoted field (quote the field, or end lines with LF or CRLF)"
        return InputError(
            None, f"{source}:{first_line}", f"not valid CSV at line {failed_at}: {why}; {span} not read, fix and rerun"
        )

    reader = csv.reader(lines(), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        yield InputError(None, source, "empty CSV file (no header)")
        return
    except csv.Error as err:
        yield malformed(err, 1)
        return
    if 1 in bad_lines:
        yield InputError(None, f"{source}:1", f"CSV header: {bad_lines[1]}")
        return
    cols = {c: i for i, c in enumerate(header)}
    if len(cols) < len(header):
        twice = sorted({c for c in header if header.count(c) > 1})
        yield InputError(None, f"{source}:1", f"CSV header names a column more than once: {', '.join(twice)}")
        return
    if fields.text not in cols:
        yield InputError(None, source, f"no column {fields.text!r} (columns: {', '.join(header)})")
        return
    if fields.id_required and fields.id not in cols:
        yield InputError(None, source, f"no column {fields.id!r} (columns: {', '.join(header)})")
        return
    prev_line = reader.line_num
    while True:
        start_line = prev_line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield malformed(err, start_line)
            return
        prev_line = reader.line_num
        where = f"{source}:{start_line}"
        if not row or (len(row) == 1 and not row[0].strip() and len(header) > 1):
            continue  # blank line
        problems = [bad_lines.pop(n) for n in range(start_line, reader.line_num + 1) if n in bad_lines]
        if problems:
            yield InputError(None, where, problems[0])
            continue
        if len(row) != len(header):
            yield InputError(None, where, f"{len(row)} fields where the header has {len(header)}")
            continue
        obj = {c: row[i] for c, i in cols.items()}
        yield _record(obj, where, f"{name}:{start_line}", fields)


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
