"""The export schema as pyarrow schemas, and the checks of written files against it (docs/schema.md).

The ``results.jsonl`` record (:meth:`framescope.model.result.ArticleResult.to_dict`) and the
flat ``articles``, ``spans``, ``paragraphs`` and ``errors`` tables projected from it
(:mod:`framescope.inference.exports`) are declared here; the ``validate_*`` functions check
written files against them (the tests use them, so may consumers). Everything here is
importable from :mod:`framescope.inference.exports` as well.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from framescope.errors import InputError
from framescope.model.result import SCHEMA_VERSION

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
