"""Exports for dashboards: a versioned schema for JSONL, Parquet and CSV (see docs/schema.md).

One *result record* per article (:func:`result_record`) is the canonical form: it is
what the scoring journal stores and what ``results.jsonl`` holds, and the flat
``articles``/``spans`` tables are derived from it (:func:`article_row`,
:func:`span_rows`). The schemas are pyarrow schemas defined here; the ``validate_*``
functions check written files against them (the tests use them, so may consumers).

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
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from framescope.errors import InputError
from framescope.labels.atomic import atomic_open
from framescope.model.scorer import (  # noqa: F401  (defined once, with the results)
    DIGITS,
    SCHEMA_VERSION,
    categories_of,
    iso_utc,
)

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

TIMESTAMP = pa.timestamp("ms", tz="UTC")  # Parquet has no seconds unit
_META = {b"framescope.schema_version": SCHEMA_VERSION.encode()}


# -- schemas --------------------------------------------------------------------------

SPAN_STRUCT = pa.struct(
    [
        pa.field("technique", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("start", pa.int64(), nullable=False),
        pa.field("end", pa.int64(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("confidence", pa.float64(), nullable=False),
    ]
)

TECHNIQUE_STRUCT = pa.struct(
    [
        pa.field("score", pa.float64(), nullable=False),
        pa.field("spans", pa.int64(), nullable=False),
        pa.field("coverage", pa.float64(), nullable=False),
        # 1.1: the article stage's calibrated probability; null without a stage
        pa.field("probability", pa.float64(), nullable=True),
    ]
)

SPANS_SCHEMA = pa.schema(
    # the flat spans table: one SPAN_STRUCT per row, keyed by its article
    [
        pa.field("article_id", pa.string(), nullable=False),
        *SPAN_STRUCT,
        pa.field("schema_version", pa.string(), nullable=False),
    ],
    metadata=_META,
)

ERRORS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=True),
        pa.field("source", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("level", pa.string(), nullable=False),  # "error" (not exported) or "warning" (exported), 1.1
        pa.field("schema_version", pa.string(), nullable=False),
    ],
    metadata=_META,
)


def metadata_fields(extra_meta: Sequence[str] = (), timestamp: pa.DataType = TIMESTAMP) -> list[pa.Field]:
    """Article metadata (schema 1.1, :mod:`framescope.inference.metadata`): the outlet
    (``source``), ``url``, ``title``, ``published_at``, then ``meta_<name>`` columns named
    by ``--meta``; all nullable, since most inputs (a folder of .txt files) have none."""
    return [
        pa.field("source", pa.string(), nullable=True),
        pa.field("url", pa.string(), nullable=True),
        pa.field("title", pa.string(), nullable=True),
        pa.field("published_at", timestamp, nullable=True),
        *(pa.field(name, pa.string(), nullable=True) for name in extra_meta),
    ]


def paragraph_struct(techniques: Sequence[str]) -> pa.DataType:
    """One entry of a results.jsonl record's ``paragraphs`` (1.1)."""
    return pa.struct(
        [
            pa.field("index", pa.int64(), nullable=False),
            pa.field("start", pa.int64(), nullable=False),
            pa.field("end", pa.int64(), nullable=False),
            pa.field(
                "probabilities",
                pa.struct([pa.field(t, pa.float64(), nullable=False) for t in techniques]),
                nullable=False,
            ),
        ]
    )


def paragraphs_schema(techniques: Sequence[str]) -> pa.Schema:
    """The flat paragraphs table (1.1): one row per non-empty line of an article scored by a stage."""
    return pa.schema(
        [
            pa.field("article_id", pa.string(), nullable=False),
            pa.field("paragraph", pa.int64(), nullable=False),
            pa.field("start", pa.int64(), nullable=False),
            pa.field("end", pa.int64(), nullable=False),
            *[pa.field(f"prob_{t}", pa.float64(), nullable=False) for t in techniques],
            pa.field("schema_version", pa.string(), nullable=False),
        ],
        metadata=_META,
    )


def articles_schema(techniques: Sequence[str], categories: Sequence[str], extra_meta: Sequence[str] = ()) -> pa.Schema:
    """The flat per-article table; technique and category columns follow the model's taxonomy order.

    The columns are :func:`framescope.model.scorer.article_columns` (shared with the MLflow
    pyfunc), with the article metadata after ``text_sha256`` and ``schema_version`` last.
    """
    from framescope.model.scorer import METADATA_AFTER, article_columns

    types = {"string": pa.string(), "long": pa.int64(), "double": pa.float64(), "timestamp": TIMESTAMP}
    fields = []
    for name, kind, nullable in article_columns(techniques, categories):
        fields.append(pa.field(name, types[kind], nullable=nullable))
        if name == METADATA_AFTER:
            fields += metadata_fields(extra_meta)
    fields.append(pa.field("schema_version", pa.string(), nullable=False))
    return pa.schema(fields, metadata=_META)


def results_schema(techniques: Sequence[str], categories: Sequence[str], extra_meta: Sequence[str] = ()) -> pa.Schema:
    """One ``results.jsonl`` line; key order in the file follows this schema."""
    return pa.schema(
        [
            pa.field("schema_version", pa.string(), nullable=False),
            pa.field("id", pa.string(), nullable=False),
            pa.field("lang", pa.string(), nullable=True),
            pa.field("model", pa.string(), nullable=False),
            pa.field("model_version", pa.string(), nullable=False),
            pa.field("scored_at", pa.string(), nullable=False),
            pa.field("n_chars", pa.int64(), nullable=False),
            pa.field("text_sha256", pa.string(), nullable=False),
            *metadata_fields(extra_meta, timestamp=pa.string()),  # published_at as YYYY-MM-DDTHH:MM:SSZ
            pa.field("overall", pa.float64(), nullable=False),
            pa.field(
                "categories", pa.struct([pa.field(c, pa.float64(), nullable=False) for c in categories]), nullable=False
            ),
            pa.field(
                "techniques",
                pa.struct([pa.field(t, TECHNIQUE_STRUCT, nullable=False) for t in techniques]),
                nullable=False,
            ),
            pa.field("spans", pa.list_(pa.field("item", SPAN_STRUCT, nullable=False)), nullable=False),
            pa.field("profile", pa.string(), nullable=False),  # 1.1
            pa.field(
                "paragraphs", pa.list_(pa.field("item", paragraph_struct(techniques), nullable=False)), nullable=False
            ),
        ],
        metadata=_META,
    )


# -- records and rows -----------------------------------------------------------------


def _r(x: float) -> float:
    return round(float(x), DIGITS)


def result_record(result, text_sha256: str, metadata: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The canonical ``results.jsonl`` record of an :class:`~framescope.model.scorer.ArticleResult`.

    ``metadata``: the article's metadata fields (:func:`framescope.inference.metadata.extract_metadata`).
    """
    return with_metadata(
        {
            "schema_version": SCHEMA_VERSION,
            "id": result.id,
            "lang": result.lang,
            "model": result.model,
            "model_version": result.model_version,
            "scored_at": iso_utc(result.scored_at),
            "n_chars": len(result.text),
            "text_sha256": text_sha256,
            "overall": _r(result.overall),
            "categories": {c: _r(v) for c, v in result.categories.items()},
            "techniques": {
                t: {
                    "score": _r(ts.score),
                    "spans": int(ts.spans),
                    "coverage": _r(ts.coverage),
                    "probability": None if ts.probability is None else _r(ts.probability),
                }
                for t, ts in result.techniques.items()
            },
            "spans": [
                {
                    "technique": s.technique,
                    "category": s.category,
                    "start": int(s.start),
                    "end": int(s.end),
                    "text": s.text,
                    "confidence": _r(s.confidence),
                }
                for s in result.spans
            ],
            "profile": result.profile,
            "paragraphs": [
                {
                    "index": p.index,
                    "start": p.start,
                    "end": p.end,
                    "probabilities": {t: _r(v) for t, v in p.probabilities.items()},
                }
                for p in result.paragraphs
            ],
        },
        metadata,
    )


def with_metadata(rec: dict[str, Any], metadata: dict[str, str | None] | None) -> dict[str, Any]:
    """``rec`` with the metadata fields set after ``text_sha256`` (key order follows the schema).

    The four standard fields are always present (null when unknown); ``meta_<name>``
    fields only when given. Used when scoring and again at export time, so that a
    resumed run exports the metadata of this run's inputs.
    """
    metadata = metadata or {}
    out: dict[str, Any] = {}
    for key, value in rec.items():
        if key in ("source", "url", "title", "published_at") or key.startswith("meta_"):
            continue
        out[key] = value
        if key == "text_sha256":
            for name in ("source", "url", "title", "published_at"):
                out[name] = metadata.get(name)
            out.update((k, v) for k, v in metadata.items() if k.startswith("meta_"))
    return out


def article_row(rec: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": rec["id"],
        "lang": rec["lang"],
        "model": rec["model"],
        "model_version": rec["model_version"],
        "scored_at": datetime.fromisoformat(rec["scored_at"].replace("Z", "+00:00")),
        "n_chars": rec["n_chars"],
        "text_sha256": rec["text_sha256"],
    }
    for key, value in rec.items():  # metadata; published_at as a timestamp
        if key in ("source", "url", "title") or key.startswith("meta_"):
            row[key] = value
    published = rec.get("published_at")
    row["published_at"] = datetime.fromisoformat(published.replace("Z", "+00:00")) if published else None
    for t, ts in rec["techniques"].items():
        row[f"score_{t}"] = ts["score"]
    for t, ts in rec["techniques"].items():
        row[f"prob_{t}"] = ts.get("probability")
    for c, v in rec["categories"].items():
        row[f"category_{c}"] = v
    row["overall_score"] = rec["overall"]
    row["n_spans"] = len(rec["spans"])
    row["profile"] = rec.get("profile", "balanced")
    row["schema_version"] = rec["schema_version"]
    return row


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

    def add(self, rec: dict[str, Any], text: str | None = None) -> None:
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


# -- validation -----------------------------------------------------------------------


class SchemaError(InputError, ValueError):
    """A results file whose columns, types or nulls differ from the export schema: exit 2.

    Still a ``ValueError``, as it was before it joined the :class:`FramescopeError` family.
    """


def _strip(schema: pa.Schema) -> pa.Schema:
    return schema.remove_metadata()


def validate_parquet(path: Path, schema: pa.Schema) -> pa.Table:
    """Read a Parquet file and check its schema (names, types, nullability) and non-null columns."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if not _strip(table.schema).equals(_strip(schema)):
        raise SchemaError(f"{path}: schema differs:\n{table.schema}\nexpected:\n{schema}")
    meta = table.schema.metadata or {}
    if meta.get(b"framescope.schema_version") != SCHEMA_VERSION.encode():
        raise SchemaError(f"{path}: schema_version metadata is {meta.get(b'framescope.schema_version')!r}")
    _check_nulls(path, table, schema)
    return table


def validate_csv(path: Path, schema: pa.Schema) -> pa.Table:
    """Check a CSV file's header against the schema and parse every column with its type."""
    import pyarrow.csv as pacsv

    with open(path, "rb") as fh:
        header = next(__import__("csv").reader([fh.readline().decode("utf-8")]), [])
    if header != schema.names:
        raise SchemaError(f"{path}: header {header} differs from the schema's columns {schema.names}")
    try:
        table = pacsv.read_csv(
            path,
            # span texts may cross line ends; the writer quotes them, the reader must allow it
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={f.name: f.type for f in schema},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as err:
        raise SchemaError(f"{path}: {err}") from None
    _check_nulls(path, table, schema)
    return table.cast(schema)


def _check_nulls(path: Path, table: pa.Table, schema: pa.Schema) -> None:
    for f in schema:
        if not f.nullable and table.column(f.name).null_count:
            raise SchemaError(f"{path}: column {f.name!r} has null values")


def _check_keys(value: Any, typ: pa.DataType, where: str) -> None:
    if value is None:
        return  # the enclosing struct checked the field's nullability
    if pa.types.is_struct(typ):
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected an object")
        want = [typ.field(i).name for i in range(typ.num_fields)]
        if list(value) != want:
            raise SchemaError(f"{where}: keys {list(value)} differ from {want}")
        for i in range(typ.num_fields):
            f = typ.field(i)
            if value[f.name] is None and not f.nullable:
                raise SchemaError(f"{where}.{f.name}: null")
            _check_keys(value[f.name], f.type, f"{where}.{f.name}")
    elif pa.types.is_list(typ):
        if not isinstance(value, list):
            raise SchemaError(f"{where}: expected a list")
        for k, item in enumerate(value):
            _check_keys(item, typ.value_type, f"{where}[{k}]")
    elif pa.types.is_integer(typ) and not (isinstance(value, int) and not isinstance(value, bool)):
        raise SchemaError(f"{where}: expected an integer, found {value!r}")
    elif pa.types.is_floating(typ) and not (isinstance(value, (int, float)) and not isinstance(value, bool)):
        raise SchemaError(f"{where}: expected a number, found {value!r}")
    elif pa.types.is_string(typ) and value is not None and not isinstance(value, str):
        raise SchemaError(f"{where}: expected a string, found {value!r}")


def validate_jsonl(path: Path, schema: pa.Schema) -> pa.Table:
    """Every line is an object with exactly the schema's keys (recursively) and types."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            rec = json.loads(line)
            struct = pa.struct(list(schema))
            _check_keys(rec, struct, f"{path}:{n}")
            records.append(rec)
    return pa.Table.from_pylist(records, schema=schema)
