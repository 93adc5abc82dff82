"""A Parquet dataset that grows run by run: every day's scored articles in one table.

A monitoring team scores each day's feed; dashboards want one table over all of them.
``framescope score ... --dataset DIR`` (or :func:`append_run`) appends a finished run's
``articles``, ``spans``, ``paragraphs`` and article ``texts`` (from the run's journal) to
``DIR``; the Spark engine (:mod:`framescope.inference.spark`) publishes its job's rows
the same way (:func:`append_source`), so one reader serves both::

    DIR/
        dataset.json                                  schema version, techniques, categories
        articles/scored_date=2026-11-29/part-<run>-0.parquet
        spans/scored_date=2026-11-29/part-<run>-0.parquet
        paragraphs/scored_date=2026-11-29/part-<run>-0.parquet
        texts/scored_date=2026-11-29/part-<run>-0.parquet
        _runs/<run>.json                              the files each append published, with sizes
        _staging/                                     transient, never read

Partitioned by the UTC date an article was scored; DuckDB, pandas, Spark and Superset
(through DuckDB) read each table as one; the shared views
(:mod:`framescope.inference.views`) and docs/monitoring.md define how. Rows are the
rows of the run's exports (docs/schema.md), with ``source`` normalised (the views'
outlet rule); ``spans``, ``paragraphs`` and ``texts`` rows also carry the article's
``text_sha256``, since an article id alone may name two versions of an edited article.

Why it is safe to append to while others read it, and to kill:

* **No duplicates.** An article already in the dataset (same ``id`` and
  ``text_sha256``) is not added again: DuckDB anti-joins the run against the dataset.
  An edited article (same id, new text) is a new row.
* **No half-written partition.** New files are written by DuckDB under ``_staging/``
  (invisible to the globs above), fsynced, then a ``COMMITTED`` marker is written
  atomically, the files are recorded in ``_runs/`` and renamed into their partitions,
  spans, paragraphs and texts first, articles last (the views join spans to existing
  article versions, so a kill between two renames shows no orphan span). Each file
  appears whole. A kill before the marker leaves nothing visible (the next append
  deletes the staging folder); a kill after it is rolled forward by the next append,
  which finishes the renames before it looks for duplicates.
* **One writer at a time.** Appends take an exclusive ``flock`` on ``DIR/.lock``.
* **Only its own files are read** (:mod:`framescope.inference.dataset_files`).
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

from framescope.inference.dataset_files import (  # noqa: F401  (re-exported: the reader side of a dataset)
    DATASET_FILE,
    DATASET_FORMAT,
    DATASET_VERSION,
    PARTITION,
    RUNS,
    STAGING,
    TABLES,
    check_dataset_target,
    check_schema,
    DatasetError,
    DatasetIOError,
    is_dataset,
    is_schema_version,
    legacy_files,
    major,
    quote,
    read_info,
    read_sql,
    table_files,
    table_glob,
)
from framescope.inference.views import outlet_sql
from framescope.labels.atomic import LockError, atomic_open, exclusive_lock, fsync_dir

COMMITTED = "COMMITTED"
_NO_TEXTS = "(SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS text WHERE false)"


@dataclass
class AppendResult:
    articles: int  # new article rows
    spans: int  # new span rows
    skipped: int  # articles of the run already in the dataset
    files: list[Path]


@dataclass(frozen=True)
class RunSource:
    """One scoring run's rows, as DuckDB ``FROM`` expressions in the exports schema (docs/schema.md).

    ``manifest`` gives ``schema_version``, ``techniques`` and ``categories``; ``texts``
    yields ``(id, text)`` rows of the scored texts (a text is kept only where its SHA-256
    is the article's). The CLI's ``--out`` folder is one (:func:`run_source`); the Spark
    engine builds one over the tables its job wrote.
    """

    manifest: dict[str, Any]
    articles: str
    spans: str
    paragraphs: str | None = None
    texts: str = _NO_TEXTS


def formats_for_dataset(formats: str) -> str:
    """The ``--format`` value with ``parquet`` added: the dataset is built from the Parquet exports."""
    items = [f.strip().lower() for f in formats.split(",") if f.strip()]
    if "all" in items or "parquet" in items:
        return formats
    return ",".join([*items, "parquet"])


def append_run(run_dir: Path | str, dataset: Path | str) -> AppendResult:
    """Append the articles and spans exported into ``run_dir`` to ``dataset`` (created if new)."""
    return append_source(run_source(Path(run_dir)), dataset)


def run_source(run_dir: Path) -> RunSource:
    """The rows of a ``framescope score --out`` folder: its Parquet exports, texts from its journal."""
    manifest = _run_manifest(run_dir)
    paragraphs = run_dir / "paragraphs.parquet"
    return RunSource(
        manifest,
        articles=f"read_parquet({quote(str(run_dir / 'articles.parquet'))})",
        spans=f"read_parquet({quote(str(run_dir / 'spans.parquet'))})",
        paragraphs=f"read_parquet({quote(str(paragraphs))})" if paragraphs.is_file() else None,
        texts=_journal_texts(run_dir),
    )


def append_source(run: RunSource, dataset: Path | str) -> AppendResult:
    """Append one run's rows to ``dataset`` (created if new): stage, commit, publish (see the module doc)."""
    import duckdb

    dataset = Path(dataset)
    _open(dataset)
    with _lock(dataset):
        recover(dataset)
        info = check_schema(dataset, run.manifest)
        run_id = uuid.uuid4().hex[:16]
        stage = dataset / STAGING / run_id
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            n_run, n_new, n_spans, tables = _select_new(con, run, dataset)
            if n_new == 0:
                return AppendResult(0, 0, n_run, [])
            _stage(con, stage, run_id, tables)
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


def _open(dataset: Path) -> None:
    """Create the folder; refuse one that holds other things and no ``dataset.json``."""
    try:
        dataset.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetIOError(f"cannot create the folder: {err.strerror or err}") from None
    if any(p.name not in (".lock", STAGING, RUNS) for p in dataset.iterdir()) and not is_dataset(dataset):
        raise DatasetError(f"{dataset} is not empty and holds no {DATASET_FILE}: not a framescope dataset")


def _select_new(con, run: RunSource, dataset: Path) -> tuple[int, int, int, list[str]]:
    """Temp tables ``new_<table>``: the run's rows not in the dataset yet (by ``id`` and ``text_sha256``).

    Returns the run's articles, the new ones, the new spans and the tables to write.
    """
    con.execute(f"CREATE TEMP VIEW run_articles AS SELECT * FROM {run.articles}")
    have_rows = bool(table_files(dataset, "articles"))  # refuses foreign or damaged files first
    seen = (
        f"SELECT id, text_sha256 FROM {read_sql(dataset, 'articles')}"
        if have_rows
        else "SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS text_sha256 WHERE false"
    )
    source = f" REPLACE ({outlet_sql('r.source')} AS source)" if _has_column(con, "run_articles", "source") else ""
    con.execute(
        "CREATE TEMP TABLE new_articles AS "
        f"SELECT r.*{source}, CAST(r.scored_at AS DATE) AS {PARTITION} FROM run_articles r "
        f"ANTI JOIN ({seen}) s ON r.id = s.id AND r.text_sha256 = s.text_sha256"
    )
    n_run = con.execute("SELECT count(*) FROM run_articles").fetchone()[0]
    n_new = con.execute("SELECT count(*) FROM new_articles").fetchone()[0]
    tables = ["spans", "texts", "articles"]
    children = {"spans": run.spans, "paragraphs": run.paragraphs}
    for table, src in children.items():
        if src is None:
            continue
        con.execute(
            f"CREATE TEMP TABLE new_{table} AS "
            f"SELECT x.*, a.text_sha256, a.{PARTITION} FROM {src} x JOIN new_articles a ON x.article_id = a.id"
        )
    if run.paragraphs is not None:
        tables.insert(1, "paragraphs")
    con.execute(
        "CREATE TEMP TABLE new_texts AS "
        f"SELECT a.id AS article_id, a.text_sha256, j.text, a.{PARTITION} FROM new_articles a "
        f"JOIN {run.texts} j ON j.id = a.id AND sha256(j.text) = a.text_sha256 "
        "QUALIFY row_number() OVER (PARTITION BY a.id, a.text_sha256) = 1"
    )
    n_spans = con.execute("SELECT count(*) FROM new_spans").fetchone()[0]
    return n_run, n_new, n_spans, tables


def _stage(con, stage: Path, run_id: str, tables: list[str]) -> None:
    """Write each ``new_<table>`` under ``stage``, partitioned by the scoring day, files named by the run."""
    stage.mkdir(parents=True)
    for table in tables:
        con.execute(
            f"COPY new_{table} TO {quote(str(stage / table))} (FORMAT PARQUET, PARTITION_BY ({PARTITION}), "
            f"FILENAME_PATTERN 'part-{run_id}-{{i}}')"
        )
        if not any((stage / table).rglob("*.parquet")):
            # no rows (a day without spans): an empty file still gives readers the table's columns
            day = con.execute(f"SELECT min({PARTITION}) FROM new_articles").fetchone()[0]
            empty = stage / table / f"{PARTITION}={day.isoformat()}" / f"part-{run_id}-0.parquet"
            empty.parent.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY (SELECT * EXCLUDE ({PARTITION}) FROM new_{table}) TO {quote(str(empty))} (FORMAT PARQUET)"
            )


def _has_column(con, relation: str, column: str) -> bool:
    return column in [d[0] for d in con.execute(f"SELECT * FROM {relation} LIMIT 0").description]


def _journal_texts(run_dir: Path) -> str:
    """``(id, text)`` rows from the run's journal (the exports leave the text out); torn lines skipped.

    The report over a dataset highlights spans in the text, and the dashboard shows a
    span in its sentence.
    """
    chunks = sorted((run_dir / ".framescope-journal").glob("chunk-*.jsonl"))
    if not chunks:
        return _NO_TEXTS
    listed = ", ".join(quote(str(c)) for c in chunks)
    return (
        "(SELECT json_extract_string(record, '$.id') AS id, text FROM read_json(["
        f"{listed}], format = 'newline_delimited', columns = {{'record': 'JSON', 'text': 'VARCHAR'}}, "
        "ignore_errors = true))"
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
        record.parent.mkdir(parents=True)
        with atomic_open(record.parent / "before-runs.json") as fh:
            json.dump({"files": legacy_files(dataset, files)}, fh, indent=1)
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
