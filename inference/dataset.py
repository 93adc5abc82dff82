"""A Parquet dataset that grows run by run: every day's scored articles in one table.

A monitoring team scores each day's feed into a new ``--out`` folder; dashboards want
one table over all of them. ``framescope score ... --dataset DIR`` (or
:func:`append_run`) appends a finished run's ``articles``, ``spans``, ``paragraphs``
and article ``texts`` (from the run's journal) to ``DIR``::

    DIR/
        dataset.json                                  schema version, techniques, categories
        articles/scored_date=2026-11-29/part-<run>-0.parquet
        spans/scored_date=2026-11-29/part-<run>-0.parquet
        paragraphs/scored_date=2026-11-29/part-<run>-0.parquet
        texts/scored_date=2026-11-29/part-<run>-0.parquet
        _runs/<run>.json                              the files each append published, with sizes
        _staging/                                     transient, never read

A Hive-partitioned layout, partitioned by the UTC date an article was scored, which
DuckDB (``read_parquet('DIR/articles/*/*.parquet', hive_partitioning = true,
union_by_name = true)``), pandas (``pd.read_parquet('DIR/articles')``), Spark
(``spark.read.parquet('DIR/articles')``) and Superset (through DuckDB) read as one
table; the shared views (:mod:`framescope.inference.views`) and docs/monitoring.md
define how to read it. Rows are the rows of the run's exports (docs/schema.md), with
``source`` normalised (the views' outlet rule); ``spans``, ``paragraphs`` and ``texts``
rows also carry the article's ``text_sha256``, since an article id alone may name two
versions of an edited article.

Why it is safe to append to while others read it, and to kill:

* **No duplicates.** An article already in the dataset (same ``id`` and
  ``text_sha256``) is not added again: DuckDB anti-joins the run against the dataset.
  An edited article (same id, new text) is a new row.
* **No half-written partition.** New files are written by DuckDB under ``_staging/``
  (invisible to the globs above), fsynced, then a ``COMMITTED`` marker is written
  atomically, the files are recorded in ``_runs/`` and renamed into their partitions,
  spans, paragraphs and texts first, articles last (the views join spans to existing
  article versions, so a kill between two renames shows no orphan span). Each file appears whole. A kill before the marker leaves nothing visible
  (the next append deletes the staging folder); a kill after it is rolled forward by
  the next append, which finishes the renames before it looks for duplicates.
* **One writer at a time.** Appends take an exclusive ``flock`` on ``DIR/.lock``.
* **Only its own files are read.** :func:`table_files` accepts a Parquet file only when
  ``_runs/`` recorded it, with the same size, and its footer reads; a foreign,
  truncated or corrupt file, or an unknown ``schema_version`` in ``dataset.json``
  (:func:`read_info`), is refused with one line naming it, never counted.
* **Schema checked.** ``dataset.json`` records the export schema's major version and
  the model's techniques; a run with another major version or another set of
  techniques (other ``score_*`` columns) is refused with a one-line reason, and nothing
  is written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framescope.errors import EXIT_IO, EXIT_USAGE, FramescopeError
from framescope.inference.exports import SCHEMA_VERSION
from framescope.inference.views import outlet_sql
from framescope.labels.atomic import LockError, atomic_open, exclusive_lock, fsync_dir

DATASET_FILE = "dataset.json"
DATASET_FORMAT = "framescope-dataset"
DATASET_VERSION = 1
# publishing order: an article row never appears before its spans, paragraphs and text
TABLES = ("spans", "paragraphs", "texts", "articles")
RUNS = "_runs"  # one JSON file per published append: the files it wrote and their sizes
_PART = re.compile(r"part-[0-9a-f]{16}-\d+\.parquet")
_SCHEMA_VERSION = re.compile(r"\d+\.\d+")
PARTITION = "scored_date"
STAGING = "_staging"
COMMITTED = "COMMITTED"


class DatasetError(FramescopeError):
    """The dataset cannot take this run (another schema or model), or the run has no Parquet exports."""

    exit_code = EXIT_USAGE


class DatasetIOError(DatasetError):
    exit_code = EXIT_IO


@dataclass
class AppendResult:
    articles: int  # new article rows
    spans: int  # new span rows
    skipped: int  # articles of the run already in the dataset
    files: list[Path]


def formats_for_dataset(formats: str) -> str:
    """The ``--format`` value with ``parquet`` added: the dataset is built from the Parquet exports."""
    items = [f.strip().lower() for f in formats.split(",") if f.strip()]
    if "all" in items or "parquet" in items:
        return formats
    return ",".join([*items, "parquet"])


def table_glob(dataset: Path | str, table: str) -> str:
    """The glob that reads one table of the dataset (committed partitions only)."""
    return str(Path(dataset) / table / f"{PARTITION}=*" / "*.parquet")


def read_sql(dataset: Path | str, table: str) -> str:
    """A DuckDB ``FROM`` expression over one table of the dataset: the files :func:`table_files` accepts."""
    files = table_files(dataset, table)
    if not files:
        return "(SELECT NULL::VARCHAR AS id WHERE false)"
    listed = ", ".join(_quote(str(f)) for f in files)
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
        or _major(version) != _major(SCHEMA_VERSION)
    ):
        raise DatasetError(
            f"{path}: schema_version {version!r} is not one this framescope reads "
            f"(MAJOR.MINOR with major {_major(SCHEMA_VERSION)})"
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
    known = _published_files(dataset)  # read after the listing: an append records its files before renaming them
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


def _published_files(dataset: Path) -> dict[str, int] | None:
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


def is_dataset(path: Path | str) -> bool:
    return (Path(path) / DATASET_FILE).is_file()


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
        _check_schema(dataset, {"schema_version": schema_version, "techniques": list(techniques)})
    except ValueError as err:  # a version that is not numbers
        raise DatasetError(f"{dataset / DATASET_FILE}: {err}") from None


def append_run(run_dir: Path | str, dataset: Path | str) -> AppendResult:
    """Append the articles and spans exported into ``run_dir`` to ``dataset`` (created if new)."""
    import duckdb

    run_dir, dataset = Path(run_dir), Path(dataset)
    manifest = _run_manifest(run_dir)
    try:
        dataset.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetIOError(f"cannot create the folder: {err.strerror or err}") from None
    if any(p.name not in (".lock", STAGING, RUNS) for p in dataset.iterdir()) and not is_dataset(dataset):
        raise DatasetError(f"{dataset} is not empty and holds no {DATASET_FILE}: not a framescope dataset")
    with _lock(dataset):
        recover(dataset)
        info = _check_schema(dataset, manifest)
        run_id = uuid.uuid4().hex[:16]
        stage = dataset / STAGING / run_id
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(
                f"CREATE TEMP VIEW run_articles AS SELECT * FROM read_parquet({_quote(str(run_dir / 'articles.parquet'))})"
            )
            con.execute(
                f"CREATE TEMP VIEW run_spans AS SELECT * FROM read_parquet({_quote(str(run_dir / 'spans.parquet'))})"
            )
            have_rows = bool(table_files(dataset, "articles"))  # refuses foreign or damaged files first
            seen = (
                f"SELECT id, text_sha256 FROM {read_sql(dataset, 'articles')}"
                if have_rows
                else ("SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS text_sha256 WHERE false")
            )
            source = (
                f" REPLACE ({outlet_sql('r.source')} AS source)" if _has_column(con, "run_articles", "source") else ""
            )
            con.execute(
                "CREATE TEMP TABLE new_articles AS "
                f"SELECT r.*{source}, CAST(r.scored_at AS DATE) AS {PARTITION} FROM run_articles r "
                f"ANTI JOIN ({seen}) s ON r.id = s.id AND r.text_sha256 = s.text_sha256"
            )
            n_run = con.execute("SELECT count(*) FROM run_articles").fetchone()[0]
            n_new = con.execute("SELECT count(*) FROM new_articles").fetchone()[0]
            con.execute(
                "CREATE TEMP TABLE new_spans AS "
                f"SELECT s.*, a.text_sha256, a.{PARTITION} FROM run_spans s JOIN new_articles a ON s.article_id = a.id"
            )
            n_spans = con.execute("SELECT count(*) FROM new_spans").fetchone()[0]
            tables = ["spans", "texts", "articles"]
            if (run_dir / "paragraphs.parquet").is_file():
                con.execute(
                    f"CREATE TEMP VIEW run_paragraphs AS SELECT * FROM read_parquet({_quote(str(run_dir / 'paragraphs.parquet'))})"
                )
                con.execute(
                    "CREATE TEMP TABLE new_paragraphs AS "
                    f"SELECT p.*, a.text_sha256, a.{PARTITION} FROM run_paragraphs p JOIN new_articles a ON p.article_id = a.id"
                )
                tables.insert(1, "paragraphs")
            _stage_texts(con, run_dir)
            if n_new == 0:
                return AppendResult(0, 0, n_run, [])
            stage.mkdir(parents=True)
            for table in tables:
                con.execute(
                    f"COPY new_{table} TO {_quote(str(stage / table))} (FORMAT PARQUET, PARTITION_BY ({PARTITION}), "
                    f"FILENAME_PATTERN 'part-{run_id}-{{i}}')"
                )
                if not any((stage / table).rglob("*.parquet")):
                    # no rows (a day without spans): an empty file still gives readers the table's columns
                    day = con.execute(f"SELECT min({PARTITION}) FROM new_articles").fetchone()[0]
                    empty = stage / table / f"{PARTITION}={day.isoformat()}" / f"part-{run_id}-0.parquet"
                    empty.parent.mkdir(parents=True, exist_ok=True)
                    con.execute(
                        f"COPY (SELECT * EXCLUDE ({PARTITION}) FROM new_{table}) TO {_quote(str(empty))} (FORMAT PARQUET)"
                    )
        except duckdb.IOException as err:
            shutil.rmtree(stage, ignore_errors=True)
            raise DatasetIOError(str(err).splitlines()[0]) from None
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        finally:
            con.close()
        _write_info(dataset, info)  # before the commit: a rolled-forward append finds a dataset
        files = _commit(stage)
        _publish(dataset, stage)
        return AppendResult(n_new, n_spans, n_run - n_new, [dataset / f for f in files])


def _has_column(con, relation: str, column: str) -> bool:
    return column in [d[0] for d in con.execute(f"SELECT * FROM {relation} LIMIT 0").description]


def _stage_texts(con, run_dir: Path) -> None:
    """``new_texts``: the new articles' texts, from the run's journal (the exports leave the text out).

    The report over a dataset highlights spans in the text, and the dashboard shows a
    span in its sentence. A text is taken only where its SHA-256 is the article's; a
    torn journal line is skipped.
    """
    chunks = sorted((run_dir / ".framescope-journal").glob("chunk-*.jsonl"))
    journal = "(SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS text WHERE false)"
    if chunks:
        listed = ", ".join(_quote(str(c)) for c in chunks)
        journal = (
            "(SELECT json_extract_string(record, '$.id') AS id, text FROM read_json(["
            f"{listed}], format = 'newline_delimited', columns = {{'record': 'JSON', 'text': 'VARCHAR'}}, "
            "ignore_errors = true))"
        )
    con.execute(
        "CREATE TEMP TABLE new_texts AS "
        f"SELECT a.id AS article_id, a.text_sha256, j.text, a.{PARTITION} FROM new_articles a "
        f"JOIN {journal} j ON j.id = a.id AND sha256(j.text) = a.text_sha256 "
        "QUALIFY row_number() OVER (PARTITION BY a.id, a.text_sha256) = 1"
    )


def recover(dataset: Path | str) -> None:
    """Finish or undo appends that a kill interrupted (call with the dataset locked)."""
    root = Path(dataset) / STAGING
    if not root.is_dir():
        return
    for stage in sorted(p for p in root.iterdir() if p.is_dir()):
        if (stage / COMMITTED).is_file():
            _publish(Path(dataset), stage)
        else:
            shutil.rmtree(stage, ignore_errors=True)


# -- internals ------------------------------------------------------------------------


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _run_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{run_dir}: no manifest.json (not the --out folder of framescope score)") from None
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: unreadable ({err})") from None
    for name in ("articles.parquet", "spans.parquet"):
        if not (run_dir / name).is_file():
            raise DatasetError(f"{run_dir}: no {name} (score with --format parquet)")
    return manifest


def _major(version: str) -> str:
    return str(version).split(".")[0]


def _check_schema(dataset: Path, manifest: dict[str, Any]) -> dict[str, Any]:
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
    if not _SCHEMA_VERSION.fullmatch(run_version):
        raise DatasetError(f"{manifest.get('schema_version')!r}: the run's schema_version is not MAJOR.MINOR")
    path = dataset / DATASET_FILE
    if not path.is_file():
        return want
    have = read_info(dataset)
    if _major(have.get("schema_version", "")) != _major(run_version):
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


def _write_info(dataset: Path, info: dict[str, Any]) -> None:
    with atomic_open(dataset / DATASET_FILE) as fh:
        json.dump(info, fh, indent=2)
        fh.write("\n")


def _commit(stage: Path) -> list[str]:
    """fsync the staged files, then write the marker that makes the append happen."""
    files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*.parquet"))
    for rel in files:
        with open(stage / rel, "rb") as fh:
            os.fsync(fh.fileno())
    with atomic_open(stage / COMMITTED) as fh:
        json.dump({"files": files}, fh)
    return files


def _record_run(dataset: Path, stage: Path, files: list[str]) -> None:
    """``_runs/<run>.json``: the files this append publishes and their sizes (idempotent).

    Written before the first rename, so every published file is known to readers
    (:func:`table_files`); sizes come from the staged files, or the published ones after
    a kill between two renames.
    """
    record = dataset / RUNS / f"{stage.name}.json"
    if record.is_file():
        return
    if not record.parent.is_dir():  # a dataset from before _runs/: its files, named as appends name them
        legacy = {
            p.relative_to(dataset).as_posix(): p.stat().st_size
            for table in TABLES
            for p in (dataset / table).glob(f"{PARTITION}=*/*.parquet")
            if _PART.fullmatch(p.name) and p.relative_to(dataset).as_posix() not in files
        }
        record.parent.mkdir(parents=True)
        with atomic_open(record.parent / "before-runs.json") as fh:
            json.dump({"files": legacy}, fh, indent=1)
    sizes = {}
    for rel in files:
        src = stage / rel if (stage / rel).exists() else dataset / rel
        sizes[rel] = src.stat().st_size
    record.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(record) as fh:
        json.dump({"files": sizes}, fh, indent=1)
    fsync_dir(record.parent)


def _publish(dataset: Path, stage: Path) -> None:
    """Rename a committed stage's files into their partitions (idempotent), then drop the stage."""
    files = json.loads((stage / COMMITTED).read_text(encoding="utf-8"))["files"]
    _record_run(dataset, stage, files)
    order = {t: i for i, t in enumerate(TABLES)}
    for rel in sorted(files, key=lambda r: order.get(r.split("/")[0], len(order))):
        src, dst = stage / rel, dataset / rel
        if not src.exists():
            continue  # published before the kill
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        fsync_dir(dst.parent)
    shutil.rmtree(stage, ignore_errors=True)


class _lock:
    """An exclusive flock on ``DIR/.lock`` (released by the OS when the process dies)."""

    def __init__(self, dataset: Path):
        self.path = dataset / ".lock"
        self.fh = None

    def __enter__(self) -> "_lock":
        try:
            self.fh = exclusive_lock(self.path)
        except LockError as err:  # pragma: no cover
            raise DatasetIOError(f"cannot lock {self.path}: {err}") from None
        return self

    def __exit__(self, *exc) -> None:
        if self.fh is not None:
            self.fh.close()
