"""The scoring journal: finished articles, appended as they are scored, so a run can resume.

Layout (inside the output folder)::

    .framescope-journal/
        meta.json            model identity, techniques, categories, schema version
        chunk-000001.jsonl   one file per run, append-only; one line per scored article
        lock                 flock()ed while a run writes (released by the OS on kill -9)

A line is ``{"key": ..., "record": <results.jsonl record>, "text": <article text>}``, the
record as :meth:`~framescope.model.result.ArticleResult.to_dict` writes it, without the
article's metadata (the export applies the metadata of the run that exports); each batch is written with one ``write`` and ``fsync``ed. A killed run leaves at worst
a torn last line, which readers ignore. The key is a hash of the article id, the
SHA-256 of its text, its language and the model fingerprint: an edited article or a
different language is scored again; the first line of a key wins (its ``scored_at`` is
kept).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from framescope.errors import FramescopeError
from framescope.labels.atomic import LockError, atomic_open, exclusive_lock, fsync_dir

JOURNAL_DIR = ".framescope-journal"
META_FILE = "meta.json"
JOURNAL_VERSION = 1


class JournalError(FramescopeError):
    """The output folder's journal cannot be used (unreadable, locked by another run): exit 2."""


class JournalMismatch(JournalError):
    """The journal was written by another model or schema: rerun with ``--overwrite``."""


def article_key(article_id: str, text_sha256: str, lang: str | None, model_fingerprint: str) -> str:
    raw = "\x00".join([article_id, text_sha256, lang or "", model_fingerprint])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def model_fingerprint(tagger, profile: str = "balanced") -> str:
    """SHA-256 over the model's settings, weights and backend (folders and MLflow URIs alike).

    The tagger computes it (:meth:`framescope.model.tagger.SpanTagger.fingerprint`, which
    covers its article stage too). A profile other than ``balanced`` changes the spans, so
    it is part of the key: a resumed run never mixes profiles.
    """
    digest = tagger.fingerprint()
    if profile == "balanced":
        return digest
    return hashlib.sha256(f"{digest} profile={profile}".encode()).hexdigest()


class Journal:
    def __init__(self, out_dir: Path):
        self.dir = Path(out_dir) / JOURNAL_DIR
        self.index: dict[str, tuple[int, int, int]] = {}  # key -> (chunk no, offset, length)
        self._chunks: dict[int, Path] = {}
        self._fh = None
        self._lock = None
        self.meta: dict[str, Any] = {}

    # -- opening ------------------------------------------------------------------
    def open(self, meta: dict[str, Any], overwrite: bool = False) -> "Journal":
        """Lock the journal, check it belongs to this model (unless overwriting) and index it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            self._open(meta, overwrite)
        except BaseException:
            self.close()
            raise
        return self

    def _open(self, meta: dict[str, Any], overwrite: bool) -> None:
        meta_path = self.dir / META_FILE
        if overwrite:
            for p in self.dir.iterdir():
                if p.name != "lock":
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
        if meta_path.exists():
            try:
                old = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as err:
                raise JournalError(f"{meta_path}: unreadable journal ({err}); rerun with --overwrite") from None
            if old.get("journal_version") != JOURNAL_VERSION or old.get("schema_version") != meta.get("schema_version"):
                raise JournalMismatch(
                    f"{self.dir} was written by another framescope (journal {old.get('journal_version')}, "
                    f"schema {old.get('schema_version')}); "
                    "rerun with --overwrite"
                )
            if old.get("model", {}).get("fingerprint") != meta["model"]["fingerprint"]:
                o, n = old.get("model", {}), meta["model"]
                raise JournalMismatch(
                    f"{self.dir.parent} holds results of another model: {o.get('name')} {o.get('version')} "
                    f"(fingerprint {str(o.get('fingerprint'))[:12]}), this run uses {n['name']} {n['version']} "
                    f"(fingerprint {n['fingerprint'][:12]}). Use --overwrite to start afresh with this model, "
                    "or another --out folder."
                )
            self.meta = old
        else:
            self.meta = {"journal_version": JOURNAL_VERSION, **meta}
            with atomic_open(meta_path) as fh:
                json.dump(self.meta, fh, indent=2, ensure_ascii=False)
                fh.write("\n")
        self._load_index()

    def _acquire_lock(self) -> None:
        try:
            self._lock = exclusive_lock(self.dir / "lock", wait=False)
        except LockError:
            raise JournalError(f"another framescope run is writing to {self.dir.parent}") from None

    def _load_index(self) -> None:
        for p in sorted(self.dir.glob("chunk-*.jsonl")):
            try:
                n = int(p.stem.split("-")[1])
            except (IndexError, ValueError):
                continue
            self._chunks[n] = p
            offset = 0
            with open(p, "rb") as fh:
                for line in fh:
                    length = len(line)
                    key = None
                    if line.endswith(b"\n"):
                        try:
                            key = json.loads(line)["key"]
                        except (ValueError, KeyError, TypeError):
                            key = None
                    if key is not None and key not in self.index:  # a torn last line has no key
                        self.index[key] = (n, offset, length)
                    offset += length

    # -- use ----------------------------------------------------------------------
    def __contains__(self, key: str) -> bool:
        return key in self.index

    def __len__(self) -> int:
        return len(self.index)

    def append(self, entries: list[tuple[str, dict[str, Any], str]]) -> None:
        """Durably add ``(key, record, text)`` entries: one write, flush and fsync per batch."""
        if not entries:
            return
        if self._fh is None:
            n = max(self._chunks, default=0) + 1
            path = self.dir / f"chunk-{n:06d}.jsonl"
            self._fh = open(path, "ab")
            self._chunks[n] = path
            self._chunk_no = n
            self._offset = 0
            fsync_dir(self.dir)
        lines = []
        for key, rec, text in entries:
            lines.append(
                (json.dumps({"key": key, "record": rec, "text": text}, ensure_ascii=False) + "\n").encode("utf-8")
            )
        data = b"".join(lines)
        self._fh.write(data)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        offset = self._offset
        for (key, _, _), line in zip(entries, lines):
            if key not in self.index:
                self.index[key] = (self._chunk_no, offset, len(line))
            offset += len(line)
        self._offset = offset

    def read(self, key: str) -> tuple[dict[str, Any], str]:
        """The ``(record, text)`` stored under ``key``."""
        n, offset, length = self.index[key]
        with open(self._chunks[n], "rb") as fh:
            fh.seek(offset)
            entry = json.loads(fh.read(length))
        return entry["record"], entry["text"]

    def iter_entries(self, keys: list[str]) -> Iterator[tuple[dict[str, Any], str]]:
        for key in keys:
            if key in self.index:
                yield self.read(key)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None
