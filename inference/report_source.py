"""The articles a report is built from, read twice without holding them all.

A results file can hold more articles than fit in memory as objects. :class:`ResultSource`
reads it once from start to end, checking every record and remembering only the byte
offset of its line (:meth:`scan`, the report's first pass), and then reads one record back
by its offset whenever a page is rendered (:meth:`get`). A list of results (or of
mappings) is read by position instead. Texts left out of the records come from the
caller's ``texts`` or from the run's journal (:mod:`framescope.inference.report_texts`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from array import array
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from framescope.model.scorer import ArticleResult
from framescope.inference.report_texts import RunTexts, text_matches

#: The parser of one record: ``(row, where) -> (result, check)`` (``report._parse_row``).
Parse = Callable[[Any, str], tuple[ArticleResult, dict[str, Any]]]


def results_file(path: Path) -> Path:
    """``path`` itself, or for a folder its ``results.jsonl`` (else its first ``.jsonl``)."""
    if not path.is_dir():
        return path
    candidates = [path / "results.jsonl", *sorted(path.glob("*.jsonl"))]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise FileNotFoundError(f"{path}: no results.jsonl (or other .jsonl) in this folder")
    return found


def _lines(fh) -> Iterator[tuple[int, bytes]]:
    """``(offset, line)`` for the lines of a binary file, split where text mode splits them
    (``\\n``, ``\\r\\n`` and a lone ``\\r``), without their line ends."""
    offset = 0
    for raw in fh:
        body = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw
        start = offset
        for part in body.split(b"\r"):
            yield start, part
            start += len(part) + 1
        offset += len(raw)


class ResultSource:
    """Results from a JSONL/JSON file (or a folder holding ``results.jsonl``), or from a list."""

    def __init__(
        self,
        source: Path | str | Iterable[ArticleResult | Mapping[str, Any]],
        parse: Parse,
        texts: Mapping[str, str] | None = None,
    ):
        self.parse = parse
        self.texts = texts
        self.path: Path | None = None
        self.rows: Sequence[Any] | None = None
        self.offsets = array("q")
        self._run_texts: RunTexts | None | bool = False  # False: not looked for yet
        if isinstance(source, (str, os.PathLike)):
            self.path = results_file(Path(source))
        else:
            self.rows = source if isinstance(source, Sequence) else list(source)

    @property
    def from_file(self) -> bool:
        return self.path is not None

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.offsets)

    def scan(self) -> Iterator[tuple[ArticleResult, dict[str, Any]]]:
        """Every result in order, each checked, texts not yet looked up (the first pass)."""
        if self.path is None:
            for k in range(len(self)):
                yield self._parsed(k, self.rows[k])
            return
        with open(self.path, "rb") as fh:
            for n, (offset, line) in enumerate(_lines(fh), 1):
                text = line.decode("utf-8")
                if not text.strip():
                    continue
                if not self.offsets and text.lstrip().startswith("["):
                    yield from self._scan_array()  # one JSON array: the records are held, as given
                    return
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{self.path}:{n}: not valid JSON ({err.msg})") from None
                self.offsets.append(offset)
                yield self.parse(row, f"{self.path}:{len(self.offsets)}")

    def _scan_array(self) -> Iterator[tuple[ArticleResult, dict[str, Any]]]:
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.path}: not valid JSON ({err.msg})") from None
        self.rows = rows
        for k, row in enumerate(rows):
            yield self.parse(row, f"{self.path}:{k + 1}")

    def _parsed(self, k: int, item: Any) -> tuple[ArticleResult, dict[str, Any]]:
        if self.path is not None:
            return self.parse(item, f"{self.path}:{k + 1}")
        if isinstance(item, ArticleResult):
            return item, {}
        if isinstance(item, Mapping):
            return self.parse(item, f"item {k}")
        raise TypeError(f"item {k}: expected ArticleResult or mapping, got {type(item).__name__}")

    def get(self, k: int, with_text: bool = True) -> tuple[ArticleResult, dict[str, Any]]:
        """Result ``k`` (in the source's order) read back, with its text found where the record left it out."""
        if self.rows is not None:
            result, check = self._parsed(k, self.rows[k])
        else:
            with open(self.path, "rb") as fh:
                fh.seek(self.offsets[k])
                line = next(_lines(fh))[1]
            result, check = self.parse(json.loads(line.decode("utf-8")), f"{self.path}:{k + 1}")
        return (self.with_text(result, check) if with_text and not result.text else result), check

    def with_text(self, result: ArticleResult, check: dict[str, Any]) -> ArticleResult:
        """``result`` with the text its record left out, where one is found (a copy: the caller's object stays)."""
        text = self._find_text(result, check)
        return result if text is None else dataclasses.replace(result, text=text)

    def _find_text(self, result: ArticleResult, check: dict[str, Any]) -> str | None:
        """From ``texts``, else from the run's journal; only a text matching the record."""
        text = (self.texts or {}).get(result.id)
        if isinstance(text, str) and text and text_matches(result, check, text):
            return text
        if self.path is None:
            return None
        if self._run_texts is False:
            self._run_texts = RunTexts.of(self.path)
        if self._run_texts is None:
            return None
        return self._run_texts.text(result.id, lambda t: text_matches(result, check, t))
