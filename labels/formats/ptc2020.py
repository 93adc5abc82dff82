"""SemEval-2020 Task 11 / Propaganda Techniques Corpus (PTC), technique classification layout.

Layout::

    ptc2020/train-articles/article<ID>.txt
    ptc2020/train-task-flc-tc.labels        # ID<TAB>Technique<TAB>start<TAB>end, all articles
    ptc2020/dev-articles/article<ID>.txt
    ptc2020/dev-task-flc-tc.labels

``read(path, problems)`` accepts the folder (the ``train`` split by default; ``splits="all"`` or
``splits=("train", "dev")`` for more; a folder without a train split gives every split found)
or one ``.labels`` file, whose articles folder is inferred from the name's first dash-separated
part: ``train-task-flc-tc.labels`` -> ``train-articles/``, ``dev-task-flc-tc.labels`` ->
``dev-articles/``. Techniques are kept exactly as spelled: PTC merges classes with commas in
the name (``Whataboutism,Straw_Men,Red_Herring``), never split them. ``lang`` is ``"en"``;
``meta["split"]`` names the split.

Every article of the articles folder becomes a document (about 4% have no span). Documents
come in the order of their first line in the ``.labels`` file, then the articles without
spans; spans keep the file's order. ``write`` writes the documents' lines in that order, which
reproduces the released files line for line because each article's lines are contiguous there
(a file that interleaves articles comes back grouped by article). The ``.labels`` file is
written with a final newline, like the released ones.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Sequence

from framescope.labels.atomic import atomic_write_bytes
from framescope.labels.document import Document, Location, Problem
from framescope.labels.formats._common import check_id, span_lines
from framescope.labels.formats.semeval2023 import read_tsv_with_articles

NAME = "ptc2020"
LANG = "en"
LABELS_NAME = "{split}-task-flc-tc.labels"
ARTICLES_NAME = "{split}-articles"
_ARTICLE_RE = re.compile(r"article(.+)\.txt")
_SPLIT_RE = re.compile(r"[A-Za-z0-9_.]+")
_SPLIT_ORDER = {"train": 0, "dev": 1, "test": 2}


def split_of_labels(labels: Path) -> str:
    """``dev-task-flc-tc.labels`` -> ``dev``; a name without a dash gives its stem."""
    return labels.name.split("-", 1)[0] if "-" in labels.name else labels.stem


def articles_dir_for(labels: Path) -> Path:
    return labels.parent / ARTICLES_NAME.format(split=split_of_labels(labels))


def _labels_for(folder: Path, split: str, problems: list[Problem]) -> Path | None:
    preferred = folder / LABELS_NAME.format(split=split)
    if preferred.is_file():
        return preferred
    found = sorted(p for p in folder.glob(f"{split}-*.labels") if p.is_file())
    if len(found) == 1:
        return found[0]
    why = "none" if not found else "several: " + ", ".join(p.name for p in found)
    problems.append(Problem(f"cannot find the labels file of split {split!r} ({why})", Location(str(folder))))
    return None


def read(
    path: Path,
    problems: list[Problem],
    *,
    splits: str | Iterable[str] | None = None,
) -> list[Document]:
    path = Path(path)
    if path.is_file():
        return read_labels_file(path, problems)
    if not path.is_dir():
        problems.append(Problem("no such file or folder", Location(str(path))))
        return []
    available = sorted(
        (p.name[: -len("-articles")] for p in path.iterdir() if p.is_dir() and p.name.endswith("-articles")),
        key=lambda s: (_SPLIT_ORDER.get(s, 3), s),
    )
    if splits == "all":
        chosen = available
    elif splits is None:
        chosen = ["train"] if "train" in available else available
    else:
        chosen = [*splits]
        for split in chosen:
            if split not in available:
                problems.append(
                    Problem(f"no {ARTICLES_NAME.format(split=split)}/ folder for split {split!r}", Location(str(path)))
                )
        chosen = [s for s in chosen if s in available]
    if not available:
        problems.append(Problem("no '<split>-articles' folder here", Location(str(path))))
    docs: list[Document] = []
    for split in chosen:
        labels = _labels_for(path, split, problems)
        if labels is None:
            continue
        docs.extend(
            read_tsv_with_articles(labels, path / ARTICLES_NAME.format(split=split), split, LANG, problems, _ARTICLE_RE)
        )
    return docs


def read_labels_file(labels: Path, problems: list[Problem]) -> list[Document]:
    """One ``.labels`` TSV with its inferred ``<split>-articles/`` folder."""
    labels = Path(labels)
    return read_tsv_with_articles(
        labels, articles_dir_for(labels), split_of_labels(labels), LANG, problems, _ARTICLE_RE
    )


def _labels_bytes(docs: list[Document]) -> bytes:
    lines: list[str] = []
    for doc in docs:
        lines.extend(span_lines(doc.id, doc.spans))
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def losses(docs: Sequence[Document]) -> list[Problem]:
    """Warnings for what writing ``docs`` as PTC-2020 leaves out: the format has no language field
    (every article reads back as English) and keeps no metadata besides the split."""
    out: list[Problem] = []
    langs = Counter(d.lang for d in docs if d.lang is not None and d.lang != LANG)
    if langs:
        shown = ", ".join(f"{lang}: {n}" for lang, n in sorted(langs.items()))
        out.append(
            Problem(
                f"ptc2020 has no lang field: the language of {sum(langs.values())} article(s) ({shown}) is dropped "
                f"and reads back as {LANG!r}",
                level="warning",
            )
        )
    with_meta = sum(1 for d in docs if set(d.meta) - {"split", "labeled"})
    if with_meta:
        out.append(
            Problem(f"ptc2020 keeps no metadata: the meta of {with_meta} article(s) is dropped", level="warning")
        )
    return out


def write(docs: Iterable[Document], path: Path) -> None:
    """Write ``<split>-articles/`` and ``<split>-task-flc-tc.labels`` per split under ``path``.

    Given a path ending in ``.labels``, write that one file (all documents, whatever their
    split) and the articles into the folder :func:`articles_dir_for` infers from its name.
    """
    docs = list(docs)
    path = Path(path)
    if path.suffix == ".labels":
        groups = {split_of_labels(path): docs}
        targets = {split_of_labels(path): (path, articles_dir_for(path))}
    else:
        groups: dict[str, list[Document]] = defaultdict(list)
        for doc in docs:
            split = str(doc.meta.get("split") or "train")
            if not _SPLIT_RE.fullmatch(split):
                raise ValueError(f"article {doc.id}: split {split!r} cannot be part of a file name")
            groups[split].append(doc)
        targets = {
            split: (path / LABELS_NAME.format(split=split), path / ARTICLES_NAME.format(split=split))
            for split in groups
        }
    jobs: list[tuple[Path, bytes]] = []
    for split, group in groups.items():
        labels, articles = targets[split]
        seen: set[str] = set()
        for doc in group:
            check_id(doc.id)
            if doc.id in seen:
                raise ValueError(f"duplicate document id {doc.id!r} in split {split!r}")
            seen.add(doc.id)
            jobs.append((articles / f"article{doc.id}.txt", doc.text.encode("utf-8")))
        jobs.append((labels, _labels_bytes(group)))
    if path.suffix != ".labels":
        path.mkdir(parents=True, exist_ok=True)
    for target, data in jobs:
        atomic_write_bytes(target, data)
