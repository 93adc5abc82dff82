"""The article texts that domain adaptation reads: annotated corpora and plain ``.txt`` files.

Why apart from :mod:`framescope.training.adapt`: masked-language modelling may use any text,
labelled or not, so reading it is its own concern: which paths are corpora, which are plain
articles, and one ``error:`` line naming the path when one holds no text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from framescope.errors import InputError

PLAIN_TEXT = ("txt", "text")  # --from txt: plain-text articles, one per file


def read_texts(paths: Sequence[str | Path], fmt: str | None = None, langs: Iterable[str] | None = None) -> list[str]:
    """The article texts in ``paths``: annotated corpora and/or plain ``.txt`` files or folders.

    An annotated corpus is any format :func:`~framescope.labels.io.read_documents` reads (its
    annotations are ignored; ``langs`` keeps only its articles in these languages). A ``.txt``
    file without a brat ``.ann`` beside it is one plain article, and a folder that is no
    annotated corpus is read as the ``.txt`` files under it (recursively, one article each);
    plain texts carry no language, so ``langs`` does not filter them. ``fmt`` forces one
    annotated format for every path, or ``txt`` for plain text.

    Raises :class:`~framescope.errors.InputError` naming the path when a path does not exist,
    cannot be read or holds no text.
    """
    wanted = list(langs) if langs else None
    texts: list[str] = []
    for path in map(Path, paths):
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        found = [t for t in _texts_of(path, fmt, wanted) if t.strip()]
        if not found:
            what = "no article" + (
                f" in language(s) {', '.join(wanted)}" if wanted and not _is_plain(path, fmt) else ""
            )
            raise InputError(f"{path}: {what} with text found")
        texts.extend(found)
    return texts


def _is_plain(path: Path, fmt: str | None) -> bool:
    """Whether ``path`` is read as plain text (not as an annotated corpus)."""
    if fmt is not None:
        return fmt in PLAIN_TEXT
    if path.is_file():
        return path.suffix == ".txt" and not path.with_suffix(".ann").exists()
    from framescope.labels.formats import detect_format

    try:
        detect_format(path)
    except ValueError:
        return True  # no annotated layout: a folder of plain .txt articles (or nothing)
    return False


def _texts_of(path: Path, fmt: str | None, langs: list[str] | None) -> list[str]:
    if _is_plain(path, fmt):
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*.txt") if p.is_file())
        return [_read_plain(f) for f in files]
    from framescope.labels.document import AnnotationError
    from framescope.labels.io import read_documents

    try:
        docs = read_documents(path, None if fmt in PLAIN_TEXT else fmt, langs=langs, check=False)
    except (AnnotationError, ValueError) as err:  # unreadable or unrecognised data (exit 2)
        message = str(err)
        raise InputError(message if str(path) in message else f"{path}: {message}") from None
    return [d.text for d in docs]


def _read_plain(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
