"""One entry point for loading annotated corpora, whatever their format."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from framescope.labels.document import AnnotationError, Document, Location, Problem
from framescope.labels.formats import read_format, write_format
from framescope.labels.taxonomy import Taxonomy, load_taxonomy
from framescope.labels.validate import validate


def read_documents(
    paths: str | Path | Sequence[str | Path],
    fmt: str | None = None,
    *,
    taxonomy: Taxonomy | str | None = None,
    langs: Iterable[str] | None = None,
    check: bool = True,
) -> list[Document]:
    """Read and validate one or more corpora; raise :class:`AnnotationError` listing every error.

    Warnings (exact duplicate spans) do not stop the read; ``framescope data validate`` lists them.
    """
    docs, problems = read_with_problems(paths, fmt, taxonomy=taxonomy, check=check)
    errors = [p for p in problems if p.is_error]
    if errors:
        raise AnnotationError(errors)
    if langs is not None:
        wanted = set(langs)
        docs = [d for d in docs if d.lang in wanted]
    return docs


def read_with_problems(
    paths: str | Path | Sequence[str | Path],
    fmt: str | None = None,
    *,
    taxonomy: Taxonomy | str | None = None,
    check: bool = True,
) -> tuple[list[Document], list[Problem]]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    problems: list[Problem] = []
    docs: list[Document] = []
    for path in paths:
        before = len(problems)
        found = read_format(path, fmt, problems)
        if not found and len(problems) == before:
            problems.append(Problem(_nothing_in(Path(path)), Location(str(path))))
        docs.extend(found)
    if check:
        problems.extend(validate(docs, load_taxonomy(taxonomy)))
    return docs, problems


def _nothing_in(path: Path) -> str:
    """An input that holds no article is a problem: an empty export or a wrong folder
    would otherwise validate as "ok" and train or evaluate on nothing."""
    if path.is_dir():
        return "no articles found in this folder (empty, or not laid out as the format expects)"
    if path.is_file() and path.stat().st_size == 0:
        return "empty file: no articles"
    return "no articles in this file"


def write_documents(docs: Iterable[Document], path: str | Path, fmt: str = "jsonl") -> None:
    write_format(docs, path, fmt)
