"""One entry point for loading annotated corpora, whatever their format."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from framescope.labels.document import AnnotationError, Document, Problem
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
    """Read and validate one or more corpora; raise :class:`AnnotationError` listing every problem."""
    docs, problems = read_with_problems(paths, fmt, taxonomy=taxonomy, check=check)
    if problems:
        raise AnnotationError(problems)
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
        docs.extend(read_format(path, fmt, problems))
    if check:
        problems.extend(validate(docs, load_taxonomy(taxonomy)))
    return docs, problems


def write_documents(docs: Iterable[Document], path: str | Path, fmt: str = "jsonl") -> None:
    write_format(docs, path, fmt)
