"""The CSV reader of ``framescope score``'s inputs: one article (or one error) per record.

Python's csv module in its default, lenient mode reads an unterminated quote as the start
of a field that runs on over the following lines until some later quote closes it, so one
stray quote silently merges several records into one article. With ``strict=True`` it
stops at the first quote that is not followed by a delimiter or the end of the line
(or at the end of the file inside a quoted field). From that record on the record
boundaries cannot be trusted, so the rest of the file is one error naming its lines
instead of articles made of merged or shifted records; records before it are read.
"""

from __future__ import annotations

import csv
import sys
from typing import BinaryIO, Iterator

from framescope.inference.input_records import Article, Fields, InputError, record_to_article


def iter_csv(fh: BinaryIO, source: str, name: str, fields: Fields) -> Iterator[Article | InputError]:
    """Records of a CSV file, parsed strictly (RFC 4180 quoting; the module docstring says why)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    lines = _Lines(fh)
    reader = csv.reader(lines, strict=True)
    header, error = _read_header(reader, lines, source, fields)
    if error is not None:
        yield error
        return
    yield from _read_rows(reader, lines, header, source, name, fields)


class _Lines:
    """The file's lines as text for the csv reader, keeping why each line that is not UTF-8 is not.

    A line that does not decode is read with replacement characters, so that the reader still
    finds the record boundaries; the record it belongs to becomes an error (``bad``, by line).
    Iterating again goes on where the last iteration stopped (the rest of the file).
    """

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.line = 0
        self.offset = 0
        self.bad: dict[int, str] = {}  # line number -> decoding problem

    def __iter__(self) -> Iterator[str]:
        for raw in self.fh:
            self.line += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                self.bad[self.line] = f"not valid UTF-8 at byte {self.offset + err.start}: {err.reason}"
                text = raw.decode("utf-8", errors="replace")
            if self.line == 1 and text.startswith("\ufeff"):
                text = text[1:]  # the file's encoding mark, not part of any field
            self.offset += len(raw)
            yield text


def _read_header(reader, lines: _Lines, source: str, fields: Fields) -> tuple[list[str], InputError | None]:
    """The header row, or the error that makes the whole file unreadable."""
    try:
        header = next(reader)
    except StopIteration:
        return [], InputError(None, source, "empty CSV file (no header)")
    except csv.Error as err:
        return [], _malformed(err, 1, reader, lines, source)
    if 1 in lines.bad:
        return header, InputError(None, f"{source}:1", f"CSV header: {lines.bad[1]}")
    return header, _header_problem(header, source, fields)


def _header_problem(header: list[str], source: str, fields: Fields) -> InputError | None:
    """A column named twice, or the text (or a required id) column missing; None when the header will do."""
    if len(set(header)) < len(header):
        twice = sorted({c for c in header if header.count(c) > 1})
        return InputError(None, f"{source}:1", f"CSV header names a column more than once: {', '.join(twice)}")
    if fields.text not in header:
        return InputError(None, source, f"no column {fields.text!r} (columns: {', '.join(header)})")
    if fields.id_required and fields.id not in header:
        return InputError(None, source, f"no column {fields.id!r} (columns: {', '.join(header)})")
    return None


def _read_rows(
    reader, lines: _Lines, header: list[str], source: str, name: str, fields: Fields
) -> Iterator[Article | InputError]:
    """The records after the header, each named by the line it starts on; a malformed one ends the file."""
    cols = {c: i for i, c in enumerate(header)}
    prev_line = reader.line_num
    while True:
        start_line = prev_line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield _malformed(err, start_line, reader, lines, source)
            return
        prev_line = reader.line_num
        where = f"{source}:{start_line}"
        if not row or (len(row) == 1 and not row[0].strip() and len(header) > 1):
            continue  # blank line
        problems = [lines.bad.pop(n) for n in range(start_line, reader.line_num + 1) if n in lines.bad]
        if problems:
            yield InputError(None, where, problems[0])
            continue
        if len(row) != len(header):
            yield InputError(None, where, f"{len(row)} fields where the header has {len(header)}")
            continue
        obj = {c: row[i] for c, i in cols.items()}
        yield record_to_article(obj, where, f"{name}:{start_line}", fields)


def _malformed(err: csv.Error, first_line: int, reader, lines: _Lines, source: str) -> InputError:
    """The one error for the record that broke the parse and every line after it (all skipped, so counted)."""
    failed_at = reader.line_num
    rest = sum(1 for _ in lines)  # count (and skip) the lines after the one that failed
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
