"""Readers and writers for the annotation formats researchers bring.

Each format module exposes ``NAME``, ``read(path, problems) -> list[Document]`` and,
where writing makes sense, ``write(docs, path)``. Readers never stop at the first
problem: they append to ``problems`` (file and line each) and go on, so that
``framescope data validate`` can list everything wrong in one pass.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Iterable

from framescope.labels.document import AnnotationError, Document, Location, Problem

# name -> module under framescope.labels.formats
FORMATS: dict[str, str] = {
    "jsonl": "jsonl",
    "semeval2023": "semeval2023",
    "ptc2020": "ptc2020",
    "brat": "brat",
    "labelstudio": "labelstudio",
}
WRITE_ONLY: dict[str, str] = {"labelstudio-predictions": "labelstudio"}


def _module(fmt: str):
    name = FORMATS.get(fmt) or WRITE_ONLY.get(fmt)
    if name is None:
        known = ", ".join(sorted([*FORMATS, *WRITE_ONLY]))
        raise ValueError(f"unknown format {fmt!r}; known: {known}")
    return importlib.import_module(f"framescope.labels.formats.{name}")


def detect_format(path: str | Path) -> str:
    """Guess the format from the layout; raise when it is ambiguous rather than guess wrong."""
    path = Path(path)
    if path.is_file():
        if path.suffix == ".jsonl":
            return "jsonl"
        if path.suffix == ".json":
            return "labelstudio"
        if path.suffix == ".labels":
            return "ptc2020"
        if path.suffix in (".ann", ".txt") and path.with_suffix(".ann").exists():
            return "brat"
        raise ValueError(f"{path}: cannot tell the format from the file name; pass --from")
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    names = {p.name for p in path.iterdir()}
    if path.name.endswith("-articles-subtask-3") or any(n.endswith("-subtask-3") for n in names):
        return "semeval2023"
    children = [p for p in path.iterdir() if p.is_dir()]
    if children and any(
        any(g.name.endswith("-articles-subtask-3") for g in c.iterdir() if g.is_dir()) for c in children
    ):
        return "semeval2023"
    if any(n.endswith("-articles") for n in names) and any(n.endswith(".labels") for n in names):
        return "ptc2020"
    if any(n.endswith(".ann") for n in names):
        return "brat"
    jsonl = [n for n in names if n.endswith(".jsonl")]
    if jsonl:
        return "jsonl"
    raise ValueError(f"{path}: cannot tell the format from the folder layout; pass --from")


def read_format(path: str | Path, fmt: str | None, problems: list[Problem]) -> list[Document]:
    path = Path(path)
    if not path.exists():
        problems.append(Problem("no such file or folder", Location(str(path))))
        return []
    fmt = fmt or detect_format(path)
    if fmt == "jsonl" and path.is_dir():
        docs: list[Document] = []
        for p in sorted(path.glob("*.jsonl")):
            docs.extend(_module("jsonl").read(p, problems))
        return docs
    if fmt in WRITE_ONLY:
        raise ValueError(f"format {fmt!r} can be written, not read")
    return _module(fmt).read(path, problems)


def write_format(docs: Iterable[Document], path: str | Path, fmt: str) -> None:
    mod = _module(fmt)
    writer = getattr(mod, "write_predictions" if fmt in WRITE_ONLY else "write", None)
    if writer is None:
        raise ValueError(f"format {fmt!r} can be read, not written")
    writer(list(docs), Path(path))


def conversion_losses(docs: Iterable[Document], fmt: str) -> list[Problem]:
    """Warnings for what writing ``docs`` as ``fmt`` leaves out (a format module's ``losses``).

    A conversion that drops a field must say so, with counts, rather than lose it silently.
    """
    losses = getattr(_module(fmt), "losses", None)
    return [] if losses is None else losses(list(docs))


__all__ = ["FORMATS", "detect_format", "read_format", "write_format", "conversion_losses", "AnnotationError"]
