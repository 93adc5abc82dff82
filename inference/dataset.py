"""A Parquet dataset that grows run by run: every day's scored articles in one table.

A monitoring team scores each day's feed into a new ``--out`` folder; dashboards want
one table over all of them. ``framescope score ... --dataset DIR`` (or
:func:`append_run`) appends a finished run's ``articles`` and ``spans`` to ``DIR``::

    DIR/
        dataset.json                                  schema version, techniques, categories
        articles/scored_date=2026-11-29/part-<run>-0.parquet
        spans/scored_date=2026-11-29/part-<run>-0.parquet
        _staging/                                     transient, never read

A Hive-partitioned layout, partitioned by the UTC date an article was scored, which
DuckDB (``read_parquet('DIR/articles/*/*.parquet', hive_partitioning = true,
union_by_name = true)``), pandas (``pd.read_parquet('DIR/articles')``), Spark
(``spark.read.parquet('DIR/articles')``) and Superset (through DuckDB) read as one
table; docs/monitoring.md has the queries. Rows are the rows of the run's exports
(docs/schema.md); ``spans`` rows also carry the article's ``text_sha256``, since an
article id alone may name two versions of an edited article.

Why it is safe to append to while others read it, and to kill:

* **No duplicates.** An article already in the dataset (same ``id`` and
  ``text_sha256``) is not added again: DuckDB anti-joins the run against the dataset.
  An edited article (same id, new text) is a new row.
* **No half-written partition.** New files are written by DuckDB under ``_staging/``
  (invisible to the globs above), fsynced, then a ``COMMITTED`` marker is written
  atomically and the files are renamed into their partitions, spans first, articles
  last. Each file appears whole. A kill before the marker leaves nothing visible
  (the next append deletes the staging folder); a kill after it is rolled forward by
  the next append, which finishes the renames before it looks for duplicates.
* **One writer at a time.** Appends take an exclusive ``flock`` on ``DIR/.lock``.
* **Schema checked.** ``dataset.json`` records the export schema's major version and
  the model's techniques; a run with another major version or another set of
  techniques (other ``score_*`` columns) is refused with a one-line reason, and nothing
  is written.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framescope.errors import EXIT_IO, EXIT_USAGE, FramescopeError
from framescope.labels.atomic import LockError, atomic_open, exclusive_lock, fsync_dir

DATASET_FILE = "dataset.json"
DATASET_FORMAT = "framescope-dataset"
DATASET_VERSION = 1
TABLES = ("spans", "articles")  # publishing order: an article row never appears before its spans
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
    """A DuckDB ``FROM`` expression over one table of the dataset."""
    return (
        f"read_parquet({_quote(table_glob(dataset, table))}, hive_partitioning = true, union_by_name = true)"
    )


def is_dataset(path: Path | str) -> bool:
    return (Path(path) / DATASET_FILE).is_file()


def append_run(run_dir: Path | str, dataset: Path | str) -> AppendResult:
    """Append the articles and spans exported into ``run_dir`` to ``dataset`` (created if new)."""
    import duckdb

    run_dir, dataset = Path(run_dir), Path(dataset)
    manifest = _run_manifest(run_dir)
    try:
        dataset.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetIOError(f"cannot create the folder: {err.strerror or err}") from None
    if any(p.name not in (".lock", STAGING) for p in dataset.iterdir()) and not is_dataset(dataset):
        raise DatasetError(f"{dataset} is not empty and holds no {DATASET_FILE}: not a framescope dataset")
    with _lock(dataset):
        recover(dataset)
        info = _check_schema(dataset, manifest)
        run_id = uuid.uuid4().hex[:16]
        stage = dataset / STAGING / run_id
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"CREATE TEMP VIEW run_articles AS SELECT * FROM read_parquet({_quote(str(run_dir / 'articles.parquet'))})")
            con.execute(f"CREATE TEMP VIEW run_spans AS SELECT * FROM read_parquet({_quote(str(run_dir / 'spans.parquet'))})")
            have_rows = any((dataset / "articles").glob(f"{PARTITION}=*/*.parquet"))
            seen = f"SELECT id, text_sha256 FROM {read_sql(dataset, 'articles')}" if have_rows else (
                "SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS text_sha256 WHERE false"
            )
            con.execute(
                "CREATE TEMP TABLE new_articles AS "
                f"SELECT r.*, CAST(r.scored_at AS DATE) AS {PARTITION} FROM run_articles r "
                f"ANTI JOIN ({seen}) s ON r.id = s.id AND r.text_sha256 = s.text_sha256"
            )
            n_run = con.execute("SELECT count(*) FROM run_articles").fetchone()[0]
            n_new = con.execute("SELECT count(*) FROM new_articles").fetchone()[0]
            con.execute(
                "CREATE TEMP TABLE new_spans AS "
                f"SELECT s.*, a.text_sha256, a.{PARTITION} FROM run_spans s JOIN new_articles a ON s.article_id = a.id"
            )
            n_spans = con.execute("SELECT count(*) FROM new_spans").fetchone()[0]
            if n_new == 0:
                return AppendResult(0, 0, n_run, [])
            stage.mkdir(parents=True)
            for table in TABLES:
                con.execute(
                    f"COPY new_{table} TO {_quote(str(stage / table))} (FORMAT PARQUET, PARTITION_BY ({PARTITION}), "
                    f"FILENAME_PATTERN 'part-{run_id}-{{i}}')"
                )
                if not any((stage / table).rglob("*.parquet")):
                    # no rows (a day without spans): an empty file still gives readers the table's columns
                    day = con.execute(f"SELECT min({PARTITION}) FROM new_articles").fetchone()[0]
                    empty = stage / table / f"{PARTITION}={day.isoformat()}" / f"part-{run_id}-0.parquet"
                    empty.parent.mkdir(parents=True, exist_ok=True)
                    con.execute(f"COPY (SELECT * EXCLUDE ({PARTITION}) FROM new_{table}) TO {_quote(str(empty))} (FORMAT PARQUET)")
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
    path = dataset / DATASET_FILE
    if not path.is_file():
        return want
    try:
        have = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: unreadable ({err})") from None
    if have.get("format") != DATASET_FORMAT or have.get("dataset_version") != DATASET_VERSION:
        raise DatasetError(f"{path}: not a version-{DATASET_VERSION} framescope dataset")
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


def _publish(dataset: Path, stage: Path) -> None:
    """Rename a committed stage's files into their partitions (idempotent), then drop the stage."""
    files = json.loads((stage / COMMITTED).read_text(encoding="utf-8"))["files"]
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
