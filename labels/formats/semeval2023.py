"""SemEval-2023 Task 3, subtask 3 (persuasion techniques): the organisers' folder layout.

Layout of one language folder (``<lang>`` is the ISO 639-1 code, e.g. ``de``)::

    <lang>/train-articles-subtask-3/article<ID>.txt
    <lang>/train-labels-subtask-3-spans/article<ID>-labels-subtask-3.txt   # ID<TAB>Technique<TAB>start<TAB>end
    <lang>/test-articles-subtask-3/article<ID>.txt                         # unlabeled

``read(path, problems)`` accepts

* a language folder: its *labeled* splits (those with a ``<split>-labels-subtask-3-spans``
  folder); a language folder that has no labeled split gives its articles, unlabeled;
* the ``semeval2023/`` root holding several language folders: the labeled splits of each
  language; languages with unlabeled articles only are skipped unless ``splits`` names them
  (``splits="all"`` or e.g. ``splits=("test",)``), so unlabeled text never slips into training
  data as if it had no techniques;
* one articles folder such as ``test-articles-subtask-3/``: its articles; the spans come from
  the sibling ``<split>-labels-subtask-3-spans/`` folder when there is one, otherwise the
  documents are unlabeled;
* one aggregated labels file (all articles' span lines in one file, same four columns), read
  together with the ``*-articles-subtask-3/`` folder next to it (the one whose split prefixes
  the file name, or the only one). Every article of that folder becomes a document.

Offsets index the article exactly as stored (BOM and CRLF count). ``lang`` is the language
folder's name when it is a two-letter code, else None.

``Document.meta`` carries ``split`` (``train``, ``test``, ...) and, only where needed to write
the files back byte for byte: ``labeled: False`` for articles without a label file,
``labels_newline: "\\r\\n"`` for a CRLF label file and ``labels_final_newline: False`` for a
label file whose last line is not terminated. Blank lines inside a label file are skipped and
not reproduced.

``write(docs, path)`` writes the same layout under ``path``: directly there when every document
has the same language and ``path`` is named after it (or no document has a language), otherwise
under ``path/<lang>/`` (``und`` for documents without a language).
:func:`write_aggregated_labels` writes the single-file form.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from framescope.labels.atomic import atomic_write_bytes
from framescope.labels.document import Document, Location, Problem, Span
from framescope.labels.formats._common import (
    check_id,
    natural_key,
    parse_span_line,
    read_article,
    read_lines,
    span_lines,
)

NAME = "semeval2023"

ARTICLES_SUFFIX = "-articles-subtask-3"
LABELS_SUFFIX = "-labels-subtask-3-spans"
_ARTICLE_RE = re.compile(r"article(.+)\.txt")
_LABEL_RE = re.compile(r"article(.+)-labels-subtask-3\.txt")
_LANG_RE = re.compile(r"[a-z]{2}")
_SPLIT_RE = re.compile(r"[A-Za-z0-9_.]+")
_SPLIT_ORDER = {"train": 0, "dev": 1, "test": 2}


def lang_of(folder: Path) -> str | None:
    return folder.name if _LANG_RE.fullmatch(folder.name) else None


def _split_key(split: str) -> tuple:
    return (_SPLIT_ORDER.get(split, 3), split)


def _splits_in(folder: Path) -> dict[str, bool]:
    """Split name -> whether it has a labels folder, for the article folders directly in ``folder``."""
    try:
        names = {p.name for p in folder.iterdir() if p.is_dir()}
    except OSError:
        return {}
    out = {}
    for name in names:
        if name.endswith(ARTICLES_SUFFIX) and len(name) > len(ARTICLES_SUFFIX):
            split = name[: -len(ARTICLES_SUFFIX)]
            out[split] = f"{split}{LABELS_SUFFIX}" in names
    return out


def read(
    path: Path,
    problems: list[Problem],
    *,
    splits: str | Iterable[str] | None = None,
) -> list[Document]:
    """Read a language folder, the ``semeval2023/`` root, an articles folder or an aggregated file.

    ``splits``: None for the default described in the module docstring, ``"all"`` for every
    split found, or the split names to read (``("train", "test")``).
    """
    path = Path(path)
    if path.is_file():
        return read_aggregated(path, problems)
    if not path.is_dir():
        problems.append(Problem("no such file or folder", Location(str(path))))
        return []
    if path.name.endswith(ARTICLES_SUFFIX):
        split = path.name[: -len(ARTICLES_SUFFIX)]
        return _read_split(path.parent, split, problems)
    wanted = None if splits is None else ("all" if splits == "all" else [*splits])
    docs: list[Document] = []
    found = False
    if _splits_in(path) or _orphan_labels(path):
        found = True
        docs.extend(_read_lang(path, problems, wanted, from_root=False))
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        if sub.name.endswith(ARTICLES_SUFFIX) or sub.name.endswith(LABELS_SUFFIX):
            continue
        if _splits_in(sub) or _orphan_labels(sub):
            found = True
            docs.extend(_read_lang(sub, problems, wanted, from_root=True))
    if not found:
        problems.append(
            Problem(
                f"no '<split>{ARTICLES_SUFFIX}' folder here nor in its language subfolders",
                Location(str(path)),
            )
        )
    return docs


def _orphan_labels(folder: Path) -> list[str]:
    try:
        names = {p.name for p in folder.iterdir() if p.is_dir()}
    except OSError:
        return []
    return sorted(
        n for n in names if n.endswith(LABELS_SUFFIX) and f"{n[: -len(LABELS_SUFFIX)]}{ARTICLES_SUFFIX}" not in names
    )


def _read_lang(folder: Path, problems: list[Problem], wanted, from_root: bool) -> list[Document]:
    for orphan in _orphan_labels(folder):
        split = orphan[: -len(LABELS_SUFFIX)]
        problems.append(
            Problem(f"labels folder without its '{split}{ARTICLES_SUFFIX}' folder", Location(str(folder / orphan)))
        )
    available = _splits_in(folder)
    if wanted == "all":
        chosen = list(available)
    elif wanted is None:
        chosen = [s for s, labeled in available.items() if labeled]
        if not chosen and not from_root:
            chosen = list(available)
    else:
        chosen = [s for s in wanted if s in available]
    docs: list[Document] = []
    for split in sorted(chosen, key=_split_key):
        docs.extend(_read_split(folder, split, problems))
    return docs


def _index(folder: Path, pattern: re.Pattern) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in folder.iterdir():
        m = pattern.fullmatch(p.name)
        if m and p.is_file():
            out[m.group(1)] = p
    return out


def _read_split(folder: Path, split: str, problems: list[Problem]) -> list[Document]:
    lang = lang_of(folder)
    articles_dir = folder / f"{split}{ARTICLES_SUFFIX}"
    labels_dir = folder / f"{split}{LABELS_SUFFIX}"
    labeled = labels_dir.is_dir()
    articles = _index(articles_dir, _ARTICLE_RE)
    label_files = _index(labels_dir, _LABEL_RE) if labeled else {}
    docs: list[Document] = []
    for doc_id in sorted(articles, key=natural_key):
        apath = articles[doc_id]
        text = read_article(apath, problems, doc_id=doc_id)
        if text is None:
            continue
        doc = Document(doc_id, text, lang, [], {"split": split}, source=Location(str(apath)))
        if not labeled:
            doc.meta["labeled"] = False
        elif doc_id not in label_files:
            problems.append(
                Problem(
                    f"no label file {labels_dir.name}/article{doc_id}-labels-subtask-3.txt for this article",
                    Location(str(apath)),
                    doc_id=doc_id,
                )
            )
        else:
            _read_label_file(label_files[doc_id], doc, problems)
        docs.append(doc)
    for doc_id in sorted(set(label_files) - set(articles), key=natural_key):
        problems.append(
            Problem(
                f"label file without an article {articles_dir.name}/article{doc_id}.txt",
                Location(str(label_files[doc_id])),
                doc_id=doc_id,
            )
        )
    return docs


def _read_label_file(lpath: Path, doc: Document, problems: list[Problem]) -> None:
    lines = read_lines(lpath, problems, doc_id=doc.id)
    if lines is None:
        return
    if lines.newline != "\n":
        doc.meta["labels_newline"] = lines.newline
    if not lines.final_newline:
        doc.meta["labels_final_newline"] = False
    for lineno, line in lines.lines:
        loc = Location(str(lpath), lineno)
        parsed = parse_span_line(line, loc, problems, doc_id=doc.id)
        if parsed is None:
            continue
        art, technique, start, end = parsed
        if art != doc.id:
            problems.append(
                Problem(
                    f"ID column {art!r} does not match the file's article ID {doc.id!r}",
                    loc,
                    doc_id=doc.id,
                    span=(start, end),
                )
            )
            continue
        doc.spans.append(Span(start, end, technique, source=loc))


def _articles_dir_for(path: Path, problems: list[Problem]) -> Path | None:
    folder = path.parent
    candidates = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.endswith(ARTICLES_SUFFIX))
    for cand in candidates:
        if path.name.startswith(cand.name[: -len(ARTICLES_SUFFIX)] + "-"):
            return cand
    if len(candidates) == 1:
        return candidates[0]
    why = "none" if not candidates else "several; name the file '<split>-...' after one of them"
    problems.append(
        Problem(
            f"cannot tell which '*{ARTICLES_SUFFIX}' folder next to this labels file holds its articles ({why})",
            Location(str(path)),
        )
    )
    return None


def read_aggregated(path: Path, problems: list[Problem]) -> list[Document]:
    """One labels file for all articles, with the ``<split>-articles-subtask-3/`` folder next to it.

    Documents come in the order of their first span line, then the articles without spans.
    """
    path = Path(path)
    articles_dir = _articles_dir_for(path, problems)
    if articles_dir is None:
        return []
    split = articles_dir.name[: -len(ARTICLES_SUFFIX)]
    lang = lang_of(path.parent)
    return read_tsv_with_articles(path, articles_dir, split, lang, problems, _ARTICLE_RE)


def read_tsv_with_articles(
    labels: Path,
    articles_dir: Path,
    split: str,
    lang: str | None,
    problems: list[Problem],
    article_re: re.Pattern = _ARTICLE_RE,
) -> list[Document]:
    """Shared by the aggregated SemEval file and PTC's ``.labels`` TSV."""
    articles = _index(articles_dir, article_re) if articles_dir.is_dir() else {}
    if not articles_dir.is_dir():
        problems.append(Problem(f"articles folder {articles_dir} not found", Location(str(labels))))
    lines = read_lines(labels, problems)
    by_id: dict[str, list[Span]] = defaultdict(list)
    first_seen: list[str] = []
    missing: dict[str, tuple[Location, int]] = {}
    for lineno, line in lines.lines if lines else []:
        loc = Location(str(labels), lineno)
        parsed = parse_span_line(line, loc, problems)
        if parsed is None:
            continue
        art, technique, start, end = parsed
        if art not in articles:
            first, n = missing.get(art, (loc, 0))
            missing[art] = (first, n + 1)
            continue
        if art not in by_id:
            first_seen.append(art)
        by_id[art].append(Span(start, end, technique, source=loc))
    for art, (loc, n) in missing.items():
        problems.append(
            Problem(
                f"{n} span line(s) for an article missing from {articles_dir.name}/ (first here)",
                loc,
                doc_id=art,
            )
        )
    rest = sorted(set(articles) - set(by_id), key=natural_key)
    docs: list[Document] = []
    for doc_id in [*first_seen, *rest]:
        apath = articles[doc_id]
        text = read_article(apath, problems, doc_id=doc_id)
        if text is None:
            continue
        docs.append(Document(doc_id, text, lang, by_id.get(doc_id, []), {"split": split}, source=Location(str(apath))))
    return docs


def _split_of(doc: Document) -> str:
    split = str(doc.meta.get("split") or "train")
    if not _SPLIT_RE.fullmatch(split):
        raise ValueError(f"article {doc.id}: split {split!r} cannot be part of a folder name")
    return split


def _is_labeled(doc: Document) -> bool:
    return bool(doc.spans) or doc.meta.get("labeled", True) is not False


def write(docs: Iterable[Document], path: Path) -> None:
    """Write articles and per-article label files in the organisers' layout under ``path``."""
    docs = list(docs)
    path = Path(path)
    langs = {d.lang for d in docs}
    direct = len(langs) <= 1 and (None in langs or path.name in langs)
    planned: dict[Path, Document] = {}
    jobs: list[tuple[Path, bytes]] = []
    for doc in docs:
        check_id(doc.id)
        split = _split_of(doc)
        if direct:
            folder = path
        else:
            lang = doc.lang or "und"
            if not _SPLIT_RE.fullmatch(lang):
                raise ValueError(f"article {doc.id}: language {lang!r} cannot be a folder name")
            folder = path / lang
        apath = folder / f"{split}{ARTICLES_SUFFIX}" / f"article{doc.id}.txt"
        if apath in planned:
            raise ValueError(f"two documents would both be written to {apath} (id {doc.id!r})")
        planned[apath] = doc
        jobs.append((apath, doc.text.encode("utf-8")))
        if _is_labeled(doc):
            nl = str(doc.meta.get("labels_newline") or "\n")
            lines = span_lines(doc.id, doc.spans)
            body = nl.join(lines)
            if lines and doc.meta.get("labels_final_newline", True) is not False:
                body += nl
            lpath = folder / f"{split}{LABELS_SUFFIX}" / f"article{doc.id}-labels-subtask-3.txt"
            jobs.append((lpath, body.encode("utf-8")))
    path.mkdir(parents=True, exist_ok=True)
    for target, data in jobs:
        atomic_write_bytes(target, data)


def write_aggregated_labels(docs: Iterable[Document], path: Path) -> None:
    """All span lines of all documents in one TSV file, in document then span order."""
    lines: list[str] = []
    for doc in docs:
        check_id(doc.id)
        lines.extend(span_lines(doc.id, doc.spans))
    body = "".join(f"{line}\n" for line in lines)
    atomic_write_bytes(Path(path), body.encode("utf-8"))
