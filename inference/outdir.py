"""The output folder of ``framescope score``: whose files are there, and switching export sets.

Two promises to the teams whose cron jobs run ``framescope score`` (docs/failures.md):

1. **framescope never overwrites what it did not write.** ``--out`` must be new, empty,
   or a folder framescope wrote before (its journal or manifest says so); an input may
   not lie inside it. Inside a framescope folder, only framescope's own names are
   touched, and a name framescope would write that holds a user's file is refused.
2. **Readers see one complete export set, whatever moment the process dies at.** Each
   file was already atomic (temp file + rename); the *set* is made atomic here::

       out/
         .framescope-journal/          the resumable journal (framescope.inference.journal)
         generations/000007/           one complete export set; its manifest.json says "generation": 7
         generations/000006/           the previous set, kept for readers still reading it
         current -> generations/000007 a symlink, switched with one rename(2)
         results.jsonl -> current/results.jsonl   stable names: symlinks through ``current``
         articles.parquet -> current/articles.parquet  ...

   A new set is written into ``generations/<N>.staging``, renamed to
   ``generations/<N>`` when complete, and published by replacing the ``current``
   symlink (a symlink renamed over another is atomic on POSIX). Every top-level name
   resolves through ``current``, so all of them switch at the same instant. A kill
   before the switch leaves the previous set visible; leftovers (staging folders,
   unpublished generations, temp files) are removed by the next run.

Folders written by framescope before generations existed (real files at the top level)
are adopted first: their files are hard-linked (or copied) into a generation, ``current``
points at it, and each top-level file is replaced by a symlink to the same content, so
readers see the old set until the new one is switched in.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import shutil
from pathlib import Path
from typing import Iterable, Sequence

from framescope.labels.atomic import fsync_dir
from framescope.errors import UsageError
from framescope.inference import exports as ex
from framescope.inference.journal import JOURNAL_DIR, META_FILE
from framescope.inference.report import written_by_framescope

CURRENT = "current"
GENERATIONS = "generations"
STAGING_SUFFIX = ".staging"
REPORT_NAMES = ("index.html", "articles")  # the HTML report (framescope.inference.report)
#: Every top-level name framescope may write into ``--out``.
EXPORT_NAMES = (
    ex.RESULTS_FILE,
    ex.ARTICLES_PARQUET,
    ex.SPANS_PARQUET,
    ex.ARTICLES_CSV,
    ex.SPANS_CSV,
    ex.PARAGRAPHS_PARQUET,
    ex.PARAGRAPHS_CSV,
    ex.LABELSTUDIO_FILE,
    ex.ERRORS_JSONL,
    ex.ERRORS_CSV,
    ex.MANIFEST_FILE,
    *REPORT_NAMES,
)
OWN_NAMES = frozenset((*EXPORT_NAMES, JOURNAL_DIR, CURRENT, GENERATIONS))


# -- ownership ---------------------------------------------------------------------------


def check_out_dir(out: Path, inputs: Sequence[str] = ()) -> None:
    """Refuse (:class:`UsageError`, exit 2) an ``--out`` framescope may not write into.

    Called before anything is written, so a refused run leaves the folder untouched.
    ``--overwrite`` does not lift these checks: it only discards framescope's journal.
    """
    out = Path(out)
    _check_inputs_outside(out, inputs)
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    if not _written_by_framescope(out):
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise UsageError(
            f"--out {out}: the folder holds files framescope did not write ({shown}); "
            "framescope writes only into a new folder, an empty one, or one it wrote before"
        )
    legacy = _legacy_files(out)
    for name in entries:
        if name not in OWN_NAMES:
            continue  # a user's file with another name: never touched
        path = out / name
        if name == CURRENT:
            if not path.is_symlink():
                raise UsageError(f"--out {out}: '{name}' is not the symlink framescope writes; move it away first")
        elif name in (GENERATIONS, JOURNAL_DIR):
            if path.is_symlink() or not path.is_dir():
                raise UsageError(f"--out {out}: '{name}' is not the folder framescope writes; move it away first")
        elif not (_is_own_link(out, name) or name in legacy):
            raise UsageError(
                f"--out {out}: '{name}' was not written by framescope (it is not listed in manifest.json); "
                "move it away or choose another --out"
            )


def _check_inputs_outside(out: Path, inputs: Sequence[str]) -> None:
    root = out.resolve()
    for item in inputs:
        if item == "-":
            continue
        paths = [Path(p) for p in glob.glob(item, recursive=True)] if glob.has_magic(item) else [Path(item)]
        for p in paths:
            resolved = p.resolve()
            if resolved == root or root in resolved.parents:
                raise UsageError(
                    f"input {item} lies inside --out {out}: framescope would overwrite or re-read its own "
                    "exports; choose an --out folder outside the inputs"
                )


def _written_by_framescope(out: Path) -> bool:
    """The folder's journal or manifest says framescope wrote it."""
    if [p.name for p in out.iterdir()] == [JOURNAL_DIR]:
        return True  # a first run killed before its journal's meta.json was written
    meta = out / JOURNAL_DIR / META_FILE
    if meta.is_file() and _read_json(meta).get("journal_version") is not None:
        return True
    manifest = _read_json(out / ex.MANIFEST_FILE)
    return {"schema_version", "model", "files"} <= set(manifest)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _is_own_link(out: Path, name: str) -> bool:
    path = out / name
    return path.is_symlink() and os.readlink(path) == f"{CURRENT}/{name}"


def _listed_names(out: Path) -> set[str]:
    """Top-level export names that exist and that the manifest lists as framescope's."""
    manifest = _read_json(out / ex.MANIFEST_FILE)
    listed = set(manifest.get("files") or ()) | {ex.MANIFEST_FILE}
    if written_by_framescope(out / "index.html"):  # 1.0 manifests did not list the HTML report
        listed |= set(REPORT_NAMES)
    return {n for n in listed if n in EXPORT_NAMES and (out / n).exists()}


def _legacy_files(out: Path) -> set[str]:
    """Listed names that are still real files or folders, not symlinks through ``current``."""
    return {n for n in _listed_names(out) if not (out / n).is_symlink()}


# -- generations -------------------------------------------------------------------------


def current_generation(out: Path) -> int | None:
    """The number of the published generation (None before the first one)."""
    link = Path(out) / CURRENT
    if not link.is_symlink():
        return None
    return _generation_number(Path(os.readlink(link)).name)


def _generation_number(name: str) -> int | None:
    return int(name) if name.isdigit() else None


def _generations(out: Path) -> list[int]:
    gdir = out / GENERATIONS
    if not gdir.is_dir():
        return []
    return sorted(n for n in (_generation_number(p.name) for p in gdir.iterdir()) if n is not None)


def clean_leftovers(out: Path) -> list[Path]:
    """Remove what killed runs left: staging folders, unpublished or old generations, temp files.

    Keeps the published generation and the one before it (a reader that resolved
    ``current`` just before the last switch may still be reading it). Call it only while
    holding the journal lock, so that no other run is staging.
    """
    out = Path(out)
    removed: list[Path] = []
    gdir = out / GENERATIONS
    cur = current_generation(out)
    keep = {cur} if cur is not None else set()
    older = [n for n in _generations(out) if cur is not None and n < cur]
    if older:
        keep.add(older[-1])
    if gdir.is_dir():
        for p in gdir.iterdir():
            if p.name.endswith(STAGING_SUFFIX) or p.name.startswith(".") or _generation_number(p.name) not in keep:
                _remove(p)
                removed.append(p)
    for folder in (out, out / JOURNAL_DIR):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():  # atomic_open's and this module's temp files
            if p.name.startswith(".") and p.name.endswith(".tmp"):
                _remove(p)
                removed.append(p)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def adopt_legacy(out: Path) -> None:
    """Turn a pre-generation export set (real top-level files) into a published generation.

    Readers see the same content at every step: the files are linked into a new
    generation, ``current`` is pointed at it, then each top-level file is replaced by a
    symlink to its own content.
    """
    out = Path(out)
    legacy = sorted(_legacy_files(out))
    if not legacy:
        return
    number = max([*_generations(out), current_generation(out) or 0], default=0) + 1
    stage = _stage_dir(out, number)
    # every listed name, also those an interrupted adoption already turned into symlinks
    # (their content is in the generation they point through), so the new one is complete
    for name in sorted(_listed_names(out)):
        src = (out / name).resolve()
        if src.is_dir():
            shutil.copytree(src, stage / name, copy_function=_link_or_copy)
        else:
            _link_or_copy(src, stage / name)
    final = _finish_stage(out, stage, number)
    _switch_current(out, final)
    for name in legacy:
        if (out / name).is_dir():
            # a symlink cannot replace a folder in one rename: move the folder away first
            aside = out / f".{name}.adopted.tmp"
            os.rename(out / name, aside)
            _symlink_atomically(f"{CURRENT}/{name}", out / name)
            _remove(aside)
        else:
            _symlink_atomically(f"{CURRENT}/{name}", out / name)
    fsync_dir(out)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def new_generation(out: Path) -> tuple[int, Path]:
    """Number and staging folder of the next export set (call :func:`publish` when it is complete)."""
    out = Path(out)
    number = max([*_generations(out), current_generation(out) or 0], default=0) + 1
    return number, _stage_dir(out, number)


def _stage_dir(out: Path, number: int) -> Path:
    stage = out / GENERATIONS / f"{number:06d}{STAGING_SUFFIX}"
    if stage.exists():
        _remove(stage)
    stage.mkdir(parents=True)
    return stage


def _finish_stage(out: Path, stage: Path, number: int) -> Path:
    final = out / GENERATIONS / f"{number:06d}"
    fsync_dir(stage)
    os.rename(stage, final)
    fsync_dir(out / GENERATIONS)
    return final


def publish(out: Path, stage: Path, number: int, names: Iterable[str]) -> None:
    """Make the staged set the one readers see, in one atomic step.

    Order matters: the top-level links of new names are created first (they resolve
    through ``current``, so they show nothing new until the switch), then ``current``
    is switched, then links whose file the new set lacks and generations older than
    the previous one are removed.
    """
    out = Path(out)
    final = _finish_stage(out, stage, number)
    names = list(names)
    for name in names:
        if not _is_own_link(out, name):
            _symlink_atomically(f"{CURRENT}/{name}", out / name)
    _switch_current(out, final)
    for name in EXPORT_NAMES:
        if name not in names and _is_own_link(out, name):
            (out / name).unlink()
    fsync_dir(out)
    clean_leftovers(out)  # keeps the new set and the one before it


def _switch_current(out: Path, generation: Path) -> None:
    _symlink_atomically(f"{GENERATIONS}/{generation.name}", out / CURRENT)
    fsync_dir(out)


def _symlink_atomically(target: str, link: Path) -> None:
    """Point ``link`` at ``target``: a temp symlink renamed over ``link`` (atomic on POSIX)."""
    tmp = link.parent / f".{link.name}.link.tmp"
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except OSError as err:
        tmp.unlink()
        if err.errno in (errno.EISDIR, errno.ENOTEMPTY):
            raise UsageError(f"{link}: is a folder framescope did not write; move it away") from None
        raise
