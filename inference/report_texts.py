"""Article texts for the report, read from the run that scored them.

``results.jsonl`` leaves each article's text out (it can be large, and the exports
should not copy every input). The run's journal (:mod:`framescope.inference.journal`)
holds every scored article with its text, one JSON line each, so the report finds a text
there: :class:`RunTexts` scans the journal once, keeping only a small hash of each
article id and the byte offset of its line, and reads a line back when a page needs its
text. Memory stays a few dozen bytes per article, however long the texts are.

A text is used only where it is the one that was scored: its SHA-256 equals the record's
``text_sha256`` (or, for records without one, its length and every span's text match).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping

from framescope.inference.journal import JOURNAL_DIR
from framescope.model.scorer import ArticleResult

# a location packs the chunk's number (high bits) and the line's byte offset (low bits)
_OFFSET_BITS = 40


def text_matches(result: ArticleResult, check: Mapping[str, Any], text: str) -> bool:
    """Whether ``text`` is the text ``result`` was scored on (``check``: the record's ``sha256``/``n_chars``)."""
    if check.get("sha256"):
        return hashlib.sha256(text.encode("utf-8")).hexdigest() == check["sha256"]
    if check.get("n_chars") is not None and int(check["n_chars"]) != len(text):
        return False
    return all(text[s.start : s.end] == s.text for s in result.spans if s.text)


def run_folder(path: Path) -> Path | None:
    """The output folder of ``framescope score`` that ``path`` (a results file or folder) belongs to.

    That is the folder itself, or for a file inside an export set
    (``generations/<N>/``, or the staging folder a run is writing) the folder two
    levels up; None where no journal is found.
    """
    folder = path if path.is_dir() else path.parent
    candidates = [folder]
    if folder.parent.name == "generations":
        candidates.append(folder.parent.parent)
    return next((c for c in candidates if (c / JOURNAL_DIR).is_dir()), None)


def _digest(article_id: str) -> int:
    raw = article_id.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


class RunTexts:
    """The texts in a run's journal, by article id, read back one line at a time."""

    def __init__(self, journal_dir: Path):
        self.chunks = sorted(Path(journal_dir).glob("chunk-*.jsonl"))
        self._where: dict[int, int | list[int]] = {}
        for number, chunk in enumerate(self.chunks):
            self._scan(number, chunk)

    @classmethod
    def of(cls, path: Path) -> "RunTexts | None":
        """The texts of the run that ``path`` belongs to (see :func:`run_folder`), None without a journal."""
        folder = run_folder(Path(path))
        return None if folder is None else cls(folder / JOURNAL_DIR)

    def _scan(self, number: int, chunk: Path) -> None:
        offset = 0
        with open(chunk, "rb") as fh:
            for line in fh:
                if line.endswith(b"\n"):  # a torn last line (a killed run) has no newline
                    article_id = _entry_id(line)
                    if article_id is not None:
                        self._add(_digest(article_id), number << _OFFSET_BITS | offset)
                offset += len(line)

    def _add(self, key: int, location: int) -> None:
        known = self._where.get(key)
        if known is None:
            self._where[key] = location
        elif isinstance(known, list):
            known.append(location)
        else:
            self._where[key] = [known, location]

    def text(self, article_id: str, accept: Callable[[str], bool]) -> str | None:
        """The first text the journal holds for ``article_id`` that ``accept`` agrees is the scored one."""
        where = self._where.get(_digest(article_id))
        for location in [where] if isinstance(where, int) else where or []:
            entry = self._read(location)
            record = entry.get("record") if isinstance(entry, dict) else None
            text = entry.get("text") if isinstance(entry, dict) else None
            if isinstance(record, dict) and record.get("id") == article_id and isinstance(text, str) and text:
                if accept(text):
                    return text
        return None

    def _read(self, location: int) -> Any:
        number, offset = location >> _OFFSET_BITS, location & ((1 << _OFFSET_BITS) - 1)
        try:
            with open(self.chunks[number], "rb") as fh:
                fh.seek(offset)
                return json.loads(fh.readline())
        except (OSError, ValueError):
            return None


def _entry_id(line: bytes) -> str | None:
    try:
        article_id = json.loads(line)["record"]["id"]
    except (ValueError, KeyError, TypeError):
        return None
    return article_id if isinstance(article_id, str) else None
