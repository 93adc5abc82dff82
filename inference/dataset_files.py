"""What a dataset folder holds, and how a reader accepts its files (:mod:`framescope.inference.dataset` writes them).

A reader (the views, the dashboard, the report, ``framescope dataset views``) trusts
only what an append wrote: ``dataset.json`` of a version and export schema it knows
(:func:`read_info`), and Parquet files that ``_runs/`` recorded with their sizes and whose
footers read (:func:`table_files`). Anything else is refused with one line naming the
file, never counted, so a foreign, truncated or corrupt file cannot change a number.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from framescope.errors import EXIT_IO, EXIT_USAGE, FramescopeError
from framescope.inference.exports import SCHEMA_VERSION

DATASET_FILE = "dataset.json"
DATASET_FORMAT = "framescope-dataset"
DATASET_VERSION = 1
# publishing order: an article row never appears before its spans, paragraphs and text
TABLES = ("spans", "paragraphs", "texts", "articles")
RUNS = "_runs"  # one JSON file per published append: the files it wrote and their sizes
PARTITION = "scored_date"
STAGING = "_staging"
_PART = re.compile(r"part-[0-9a-f]{16}-\d+\.parquet")
_SCHEMA_VERSION = re.compile(r"\d+\.\d+")


class DatasetError(FramescopeError):
    """The dataset cannot take this run (another schema or model), or the run has no Parquet exports."""

    exit_code = EXIT_USAGE


class DatasetIOError(DatasetError):
    exit_code = EXIT_IO


def is_dataset(path: Path | str) -> bool:
    return (Path(path) / DATASET_FILE).is_file()


def table_glob(dataset: Path | str, table: str) -> str:
    """The glob that reads one table of the dataset (committed partitions only)."""
    return str(Path(dataset) / table / f"{PARTITION}=*" / "*.parquet")


def read_sql(dataset: Path | str, table: str) -> str:
    """A DuckDB ``FROM`` expression over one table of the dataset: the files :func:`table_files` accepts."""
    files = table_files(dataset, table)
    if not files:
        return "(SELECT NULL::VARCHAR AS id WHERE false)"
    listed = ", ".join(quote(str(f)) for f in files)
    return f"read_parquet([{listed}], hive_partitioning = true, union_by_name = true)"


def read_info(dataset: Path | str) -> dict[str, Any]:
    """``dataset.json``, checked: a framescope dataset of a version and schema this framescope reads."""
    path = Path(dataset) / DATASET_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: unreadable ({err})") from None
    if (
        not isinstance(info, dict)
        or info.get("format") != DATASET_FORMAT
        or info.get("dataset_version") != DATASET_VERSION
    ):
        raise DatasetError(f"{path}: not a version-{DATASET_VERSION} framescope dataset")
    version = info.get("schema_version")
    if (
        not isinstance(version, str)
        or not _SCHEMA_VERSION.fullmatch(version)
        or major(version) != major(SCHEMA_VERSION)
    ):
        raise DatasetError(
            f"{path}: schema_version {version!r} is not one this framescope reads "
            f"(MAJOR.MINOR with major {major(SCHEMA_VERSION)})"
        )
    return info


def table_files(dataset: Path | str, table: str) -> list[Path]:
    """The committed Parquet files of one table, each checked; refuses what framescope did not write.

    A file is accepted when an append recorded it in ``_runs/`` with its size and its
    Parquet footer reads; a foreign file (not recorded), a truncated one (another size)
    or a corrupt one is refused with one line naming it (``DatasetError``, exit 2), so
    it is never counted. Datasets written before ``_runs/`` existed accept files named
    as appends name them.
    """
    import pyarrow.parquet as pq

    dataset = Path(dataset)
    found = sorted((dataset / table).glob(f"{PARTITION}=*/*.parquet"))
    known = published_files(dataset)  # read after the listing: an append records its files before renaming them
    out = []
    for path in found:
        rel = path.relative_to(dataset).as_posix()
        if known is not None and rel not in known:
            raise DatasetError(f"{path}: not written by framescope (no append recorded it); move it out of the dataset")
        if known is None and not _PART.fullmatch(path.name):
            raise DatasetError(f"{path}: not written by framescope (an unknown file name); move it out of the dataset")
        if known is not None and path.stat().st_size != known[rel]:
            raise DatasetError(
                f"{path}: truncated or changed ({path.stat().st_size} bytes, "
                f"{known[rel]} written); restore it or move it out of the dataset"
            )
        try:
            pq.read_metadata(path)
        except Exception as err:  # pyarrow raises several types for a bad footer
            raise DatasetError(f"{path}: not a readable Parquet file ({str(err).splitlines()[0]})") from None
        out.append(path)
    return out


def published_files(dataset: Path) -> dict[str, int] | None:
    """Relative path -> size of every file an append published; None for a dataset without ``_runs/``."""
    root = dataset / RUNS
    if not root.is_dir():
        return None
    files: dict[str, int] = {}
    for record in sorted(root.glob("*.json")):
        try:
            files.update(json.loads(record.read_text(encoding="utf-8"))["files"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DatasetError(f"{record}: unreadable ({err})") from None
    return files


def legacy_files(dataset: Path, exclude: list[str]) -> dict[str, int]:
    """The files of a dataset from before ``_runs/``, named as appends name them (relative path -> size)."""
    return {
        p.relative_to(dataset).as_posix(): p.stat().st_size
        for table in TABLES
        for p in (dataset / table).glob(f"{PARTITION}=*/*.parquet")
        if _PART.fullmatch(p.name) and p.relative_to(dataset).as_posix() not in exclude
    }


def major(version: str) -> str:
    return str(version).split(".")[0]


def is_schema_version(version: str) -> bool:
    return bool(_SCHEMA_VERSION.fullmatch(version))


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def check_dataset_target(dataset: Path | str, techniques: list[str], out: Path | str, schema_version: str) -> None:
    """Refuse a ``--dataset`` that :func:`append_run` would refuse, before a run writes anything.

    ``framescope score --dataset`` appends after it has published its exports, so every
    reason to refuse the dataset (a file, a folder that is not a dataset, the ``--out``
    folder itself, read-only, another technique list or major schema version) is checked
    here first, once the model's techniques are known: a refused run leaves ``--out`` and
    the dataset as they were. Raises :class:`DatasetError` (exit 2) or
    :class:`DatasetIOError` (exit 3); reads only.
    """
    dataset, out = Path(dataset), Path(out)
    if dataset.exists() and not dataset.is_dir():
        raise DatasetError(f"{dataset} exists and is not a folder")
    here, there = dataset.resolve(), out.resolve()
    if here == there or there in here.parents or here in there.parents:
        raise DatasetError(
            f"{dataset} is --out {out}, lies inside it or holds it; give the dataset a folder of its own"
        )
    if not dataset.exists():
        parent = next((p for p in here.parents if p.exists()), Path(here.anchor))
        if not parent.is_dir():
            raise DatasetError(f"cannot create {dataset}: {parent} is not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise DatasetIOError(f"cannot create {dataset}: {parent} is not writable")
        return
    if not os.access(dataset, os.W_OK | os.X_OK):
        raise DatasetIOError(f"{dataset} is not writable")
    if not is_dataset(dataset):
        if any(p.name not in (".lock", STAGING) for p in dataset.iterdir()):
            raise DatasetError(f"{dataset} is not empty and holds no {DATASET_FILE}: not a framescope dataset")
        return
    try:
        check_schema(dataset, {"schema_version": schema_version, "techniques": list(techniques)})
    except ValueError as err:  # a version that is not numbers
        raise DatasetError(f"{dataset / DATASET_FILE}: {err}") from None


def check_schema(dataset: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The dataset's ``dataset.json`` after this run; raises when the run does not fit."""
    run_version = str(manifest.get("schema_version"))
    want = {
        "format": DATASET_FORMAT,
        "dataset_version": DATASET_VERSION,
        "schema_version": run_version,
        "techniques": list(manifest.get("techniques") or []),
        "categories": list(manifest.get("categories") or []),
        "partitioning": [PARTITION],
    }
    if not is_schema_version(run_version):
        raise DatasetError(f"{manifest.get('schema_version')!r}: the run's schema_version is not MAJOR.MINOR")
    path = dataset / DATASET_FILE
    if not path.is_file():
        return want
    have = read_info(dataset)
    if major(have.get("schema_version", "")) != major(run_version):
        raise DatasetError(
            f"export schema {run_version} does not fit the dataset's {have.get('schema_version')} "
            "(another major version); append to a new dataset"
        )
    if have.get("techniques") != want["techniques"]:
        raise DatasetError(
            "the run's model has other techniques than the dataset "
            f"({len(want['techniques'])} vs {len(have.get('techniques') or [])}: other score_* columns); "
            "append to a new dataset"
        )
    # minor versions only add columns: keep the newest, readers use union_by_name
    newer = max(have["schema_version"], run_version, key=lambda v: tuple(int(x) for x in v.split(".")))
    return {**have, "schema_version": newer}
