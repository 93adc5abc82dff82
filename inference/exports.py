"""Exports for dashboards: a versioned schema for JSONL, Parquet and CSV (see docs/schema.md).

One *result record* per article (:meth:`~framescope.model.result.ArticleResult.to_dict`)
is the canonical form: it is what the scoring journal stores and what ``results.jsonl``
holds, and the flat ``articles``/``spans``/``paragraphs`` tables are projections of it
(:func:`~framescope.model.result.article_row`, :func:`span_rows`, :func:`paragraph_rows`).
The schemas, and the ``validate_*`` functions that check written files against them, are
in :mod:`framescope.inference.export_schema` and importable from here.

Files in an output folder (each written atomically, temp file + rename):
``results.jsonl``, ``articles.parquet``, ``spans.parquet``, ``articles.csv``,
``spans.csv``, ``paragraphs.parquet``, ``paragraphs.csv``, ``labelstudio.json``,
``errors.jsonl`` (always) and ``errors.csv`` (with the csv format), ``manifest.json``
(always). ``framescope score`` writes them into a staging folder and publishes the whole
set at once (:mod:`framescope.inference.outdir`).

CSV files are opened by people in spreadsheets, and a cell such as ``=HYPERLINK(...)``
taken from an article id or a news text would run as a formula there. So string cells
of the CSV exports that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return get a leading ``'`` (OWASP's "CSV injection" advice), and so do cells already
starting with ``'``, so that a reader recovers the exact value by removing one leading
``'`` from any cell that has one (:func:`neutralise_formulas`). Parquet and JSONL keep
the exact values.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from framescope.inference.export_schema import (  # noqa: F401  (the schema, importable from here)
    ERRORS_SCHEMA,
    SPAN_STRUCT,
    SPANS_SCHEMA,
    TECHNIQUE_STRUCT,
    TIMESTAMP,
    SchemaError,
    articles_schema,
    metadata_fields,
    paragraph_struct,
    paragraphs_schema,
    results_schema,
    validate_csv,
    validate_jsonl,
    validate_parquet,
)
from framescope.labels.atomic import atomic_open
from framescope.model.result import DIGITS, SCHEMA_VERSION, ArticleResult, article_row, iso_utc  # noqa: F401
from framescope.model.scorer import categories_of  # noqa: F401  (the exports' category order)

FORMATS = ("jsonl", "parquet", "csv", "labelstudio")

RESULTS_FILE = "results.jsonl"
ARTICLES_PARQUET = "articles.parquet"
SPANS_PARQUET = "spans.parquet"
ARTICLES_CSV = "articles.csv"
SPANS_CSV = "spans.csv"
PARAGRAPHS_PARQUET = "paragraphs.parquet"
PARAGRAPHS_CSV = "paragraphs.csv"
ERRORS_JSONL = "errors.jsonl"
ERRORS_CSV = "errors.csv"
LABELSTUDIO_FILE = "labelstudio.json"
MANIFEST_FILE = "manifest.json"

# -- rows of the flat tables: projections of the one record -------------------------------


def span_rows(rec: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"article_id": rec["id"], **s, "schema_version": rec["schema_version"]} for s in rec["spans"]]


def paragraph_rows(rec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "article_id": rec["id"],
            "paragraph": p["index"],
            "start": p["start"],
            "end": p["end"],
            **{f"prob_{t}": v for t, v in p["probabilities"].items()},
            "schema_version": rec["schema_version"],
        }
        for p in rec.get("paragraphs", [])
    ]


# -- writing --------------------------------------------------------------------------

#: a cell a spreadsheet would run as a formula (OWASP), or one already carrying the escape quote
FORMULA_START = r"^([=+\-@\t\r'])"


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """The CSV form of ``table``: ``'`` before every string cell that starts like a formula.

    Only for CSV: Parquet and JSONL are read by programs, which must get the exact value.
    """
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type):
            column = pc.replace_substring_regex(column, pattern=FORMULA_START, replacement="'\\1")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)


def parse_formats(value: str | Iterable[str] | None) -> list[str]:
    """``"jsonl,csv"`` -> ``["jsonl", "csv"]``; None or ``"all"`` -> every format."""
    if value is None:
        return list(FORMATS)
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        item = item.strip().lower()
        if not item:
            continue
        if item == "all":
            return list(FORMATS)
        if item not in FORMATS:
            raise ValueError(f"unknown format {item!r} (known: {', '.join(FORMATS)}, all)")
        if item not in out:
            out.append(item)
    if not out:
        raise ValueError("no format selected")
    return out


class ExportWriter:
    """Stream result records into every selected format; files appear on :meth:`close`.

    Use as a context manager: on an exception no file is replaced (temp files removed).
    Label Studio pre-annotations are built in memory (they carry the article texts).
    """

    ROW_GROUP = 1000

    def __init__(
        self,
        out_dir: Path,
        formats: Sequence[str],
        techniques: Sequence[str],
        categories: Sequence[str],
        extra_meta: Sequence[str] = (),
    ):
        self.out_dir = Path(out_dir)
        self.formats = list(formats)
        self.articles_schema = articles_schema(techniques, categories, extra_meta)
        self.paragraphs_schema = paragraphs_schema(techniques)
        self._stack = ExitStack()
        self._jsonl = None
        self._pq: dict[str, Any] = {}
        self._csv: dict[str, Any] = {}
        self._buf: dict[str, list] = {"articles": [], "spans": [], "paragraphs": []}
        self._ls_docs: list = []
        self.n_articles = 0
        self.n_spans = 0
        self.written: list[Path] = []

    def __enter__(self) -> "ExportWriter":
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        self._stack.__enter__()
        od = self.out_dir
        if "jsonl" in self.formats:
            self._jsonl = self._stack.enter_context(atomic_open(od / RESULTS_FILE, "w"))
            self.written.append(od / RESULTS_FILE)
        schemas = {"articles": self.articles_schema, "spans": SPANS_SCHEMA, "paragraphs": self.paragraphs_schema}
        flat = (
            (
                "parquet",
                pq.ParquetWriter,
                self._pq,
                {"articles": ARTICLES_PARQUET, "spans": SPANS_PARQUET, "paragraphs": PARAGRAPHS_PARQUET},
            ),
            (
                "csv",
                pacsv.CSVWriter,
                self._csv,
                {"articles": ARTICLES_CSV, "spans": SPANS_CSV, "paragraphs": PARAGRAPHS_CSV},
            ),
        )
        for fmt, writer_cls, writers, names in flat:
            if fmt not in self.formats:
                continue
            for table, name in names.items():
                fh = self._stack.enter_context(atomic_open(od / name, "wb"))
                w = writer_cls(fh, schemas[table])
                self._stack.callback(w.close)
                writers[table] = w
                self.written.append(od / name)
        return self

    def add(self, rec: ArticleResult | dict[str, Any], text: str | None = None) -> None:
        """Add one article: its result, or its record (:meth:`ArticleResult.to_dict`) and text
        (Label Studio pre-annotations need the text, which the record leaves out)."""
        if isinstance(rec, ArticleResult):
            rec, text = rec.to_dict(), rec.text if text is None else text
        self.n_articles += 1
        self.n_spans += len(rec["spans"])
        if self._jsonl is not None:
            self._jsonl.write(json.dumps(rec, ensure_ascii=False) + "\n")
        if self._pq or self._csv:
            self._buf["articles"].append(article_row(rec))
            self._buf["spans"].extend(span_rows(rec))
            self._buf["paragraphs"].extend(paragraph_rows(rec))
            if len(self._buf["articles"]) >= self.ROW_GROUP:
                self._flush()
        if "labelstudio" in self.formats:
            from framescope.labels.document import Document, Span

            if text is None:
                raise ValueError(f"{rec['id']}: the article text is needed for Label Studio pre-annotations")
            spans = [Span(s["start"], s["end"], s["technique"]) for s in rec["spans"]]
            self._ls_docs.append(
                Document(rec["id"], text, rec["lang"], spans, {"span_scores": [s["confidence"] for s in rec["spans"]]})
            )
            self._ls_version = f"{rec['model']}@{rec['model_version']}" if rec["model_version"] else rec["model"]

    def _flush(self) -> None:
        schemas = {"articles": self.articles_schema, "spans": SPANS_SCHEMA, "paragraphs": self.paragraphs_schema}
        for table, rows in self._buf.items():
            if not rows:
                continue
            t = pa.Table.from_pylist(rows, schema=schemas[table])
            if table in self._pq:
                self._pq[table].write_table(t)
            if table in self._csv:
                self._csv[table].write_table(neutralise_formulas(t))
            rows.clear()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self._flush()
            except BaseException:
                self._stack.__exit__(*__import__("sys").exc_info())
                raise
        # writers close (LIFO) before their atomic files are renamed
        suppressed = self._stack.__exit__(exc_type, exc, tb)
        if exc_type is None and "labelstudio" in self.formats:
            from framescope.labels.formats.labelstudio import write_predictions

            path = self.out_dir / LABELSTUDIO_FILE
            write_predictions(self._ls_docs, path, model_version=getattr(self, "_ls_version", "framescope"))
            self.written.append(path)
            self._ls_docs = []
        return suppressed


def write_errors(out_dir: Path, errors: Sequence[dict[str, Any]], formats: Sequence[str]) -> list[Path]:
    """``errors.jsonl`` always (empty when none), ``errors.csv`` with the csv format."""
    import pyarrow.csv as pacsv

    out_dir = Path(out_dir)
    rows = [
        {
            "id": e.get("id"),
            "source": e["source"],
            "reason": e["reason"],
            "level": e.get("level", "error"),
            "schema_version": SCHEMA_VERSION,
        }
        for e in errors
    ]
    written = [out_dir / ERRORS_JSONL]
    with atomic_open(out_dir / ERRORS_JSONL, "w") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    if "csv" in formats:
        table = pa.Table.from_pylist(rows, schema=ERRORS_SCHEMA)
        with atomic_open(out_dir / ERRORS_CSV, "wb") as fh:
            pacsv.write_csv(neutralise_formulas(table), fh)
        written.append(out_dir / ERRORS_CSV)
    return written


def write_manifest(out_dir: Path, info: dict[str, Any]) -> Path:
    path = Path(out_dir) / MANIFEST_FILE
    with atomic_open(path, "w") as fh:
        json.dump({"schema_version": SCHEMA_VERSION, **info}, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    return path
