"""The SQL views over scored articles that the dashboard, the report, the docs and BI tools share.

One definition of "an article's week", "its outlet" and "its latest version", so that a
number in the dashboard, in a documented query and in a BI chart is the same number.
:func:`create_views` defines them on a DuckDB connection over a dataset (``score
--dataset``) or one export folder; ``framescope dataset views DIR --out FILE.duckdb``
writes them into a database file that DuckDB, Superset or Grafana open.

The rules, and why:

* **Weeks in UTC.** ``published_at`` is an instant; its week is the ISO week (Monday
  00:00 UTC onwards) of that instant in UTC, whatever the session's ``TimeZone``:
  ``date_trunc`` on a ``TIMESTAMP WITH TIME ZONE`` would follow the session, so the
  views first turn the instant into a plain UTC timestamp (:func:`week_sql`).
* **Undated articles are their own bucket.** An article without a (parseable)
  ``published_at`` has ``week = NULL`` ("undated"); it is never put into the week it
  was scored in, which would make a phantom week.
* **Latest version.** An edited article (same ``id``, new text) is one article:
  ``articles_latest`` keeps its most recently scored version (ties: the larger
  ``text_sha256``, so the choice is stable), and every ``*_latest`` view joins that
  version. ``articles_all`` keeps every version.
* **Outlets normalised.** ``outlet`` is ``source`` in Unicode NFC, with every run of
  white space (ASCII white space, NEL and Unicode separators) made one blank and the
  ends trimmed; empty means "(no outlet)" (:func:`normalise_outlet` is the same rule
  in Python, applied when a run is appended to a dataset).
* **No orphans.** Spans and paragraphs are joined to an article version that exists,
  so a reader never sees a span whose article is not there.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any, Sequence

import regex

NO_OUTLET = "(no outlet)"
UNDATED = "undated"
_SPACE_CLASS = r"[\t\n\x0B\f\r\x85\p{Z}]"  # the same class in RE2 (DuckDB) and the regex module
_SPACES = regex.compile(_SPACE_CLASS + "+")
VIEW_NAMES = (
    "articles_all",
    "articles_latest",
    "spans_all",
    "spans_latest",
    "paragraphs_latest",
    "texts_latest",
    "outlet_week_technique",
    "week_technique",
)


def normalise_outlet(name: Any) -> str | None:
    """``source`` as an outlet name: NFC, white space runs made one blank, trimmed; None when empty."""
    if name is None:
        return None
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", str(name))).strip(" ")
    return text or None


def outlet_sql(column: str = "source") -> str:
    """:func:`normalise_outlet` in DuckDB SQL (NULL when empty)."""
    return (
        f"NULLIF(trim(regexp_replace(nfc_normalize(CAST({column} AS VARCHAR)), '{_SPACE_CLASS}+', ' ', 'g'), ' '), '')"
    )


def utc_sql(column: str) -> str:
    """A timestamp column as a plain UTC ``TIMESTAMP``, the same under any session ``TimeZone``.

    Parquet timestamps marked UTC are read as ``TIMESTAMP WITH TIME ZONE``; casting those
    to ``TIMESTAMP`` or truncating them would use the session's zone. Microseconds since
    the epoch are the same in every zone.
    """
    return f"make_timestamp(epoch_us({column}))"


def week_sql(column: str = "published_at") -> str:
    """The Monday (UTC) of the ISO week of ``column``, a ``DATE``; NULL when the column is."""
    return f"CAST(date_trunc('week', {utc_sql(column)}) AS DATE)"


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def parquet_sql(files: Sequence[str] | str, hive: bool) -> str:
    """A ``read_parquet`` over a glob or an explicit list of files."""
    target = _q(files) if isinstance(files, str) else "[" + ", ".join(_q(str(f)) for f in files) + "]"
    opts = ", hive_partitioning = true, union_by_name = true" if hive else ", union_by_name = true"
    return f"read_parquet({target}{opts})"


def columns_of(con, from_sql: str) -> list[str]:
    return [d[0] for d in con.execute(f"SELECT * FROM {from_sql} LIMIT 0").description]


def technique_aggregate_sql(base: str, techniques: Sequence[str], has_prob: set[str], by: Sequence[str]) -> str:
    """Per group of ``by`` and technique: articles, articles with a span, share, mean probability.

    ``share`` is the mean of the calibrated probability where there is one, else of "at
    least one span found" (``score > 0``): the expected share of articles using the
    technique. The dashboard computes its numbers with this same SQL.
    """
    keys = ", ".join(by)
    parts = []
    for t in techniques:
        prob = _ident(f"prob_{t}") if t in has_prob else "CAST(NULL AS DOUBLE)"
        parts.append(
            f"SELECT {keys}, {_q(t)} AS technique, CAST({_ident('score_' + t)} AS DOUBLE) AS score, "
            f"CAST({prob} AS DOUBLE) AS prob FROM {base}"
        )
    unioned = (
        "\nUNION ALL ".join(parts)
        if parts
        else f"SELECT {keys}, NULL AS technique, 0.0 AS score, NULL AS prob FROM {base} WHERE false"
    )
    return (
        f"SELECT {keys}, technique, CAST(count(*) AS INTEGER) AS articles, "
        "CAST(count(*) FILTER (WHERE score > 0) AS INTEGER) AS articles_with_technique, "
        "avg(COALESCE(prob, CAST(score > 0 AS DOUBLE))) AS share, avg(prob) AS mean_prob "
        f"FROM ({unioned}) u GROUP BY {keys}, technique"
    )


def create_views(con, tables: dict[str, Any], keyed: bool, temp: bool = False) -> dict[str, Any]:
    """Define the views on ``con``; ``tables`` maps articles/spans/paragraphs/texts to FROM sources.

    A source is ``None`` (the table is absent: an empty view with the usual key columns)
    or a DuckDB ``FROM`` expression. ``keyed``: the spans/paragraphs/texts rows carry
    ``text_sha256`` (a dataset), so they join the exact article version; an export
    folder holds one version per id and joins on the id alone. Returns what the views
    found: techniques, categories, columns.
    """
    kind = "TEMP VIEW" if temp else "VIEW"
    arts = tables["articles"]
    cols = columns_of(con, arts)
    has = set(cols)
    for needed in ("id", "text_sha256", "scored_at"):
        if needed not in has:
            raise ValueError(f"the articles table has no {needed!r} column (not framescope exports)")
    techniques = [c.removeprefix("score_") for c in cols if c.startswith("score_")]
    categories = [c.removeprefix("category_") for c in cols if c.startswith("category_")]
    has_prob = {t for t in techniques if f"prob_{t}" in has}
    extra = [f"NULL::VARCHAR AS {c}" for c in ("source", "url", "title") if c not in has]
    if "published_at" not in has:
        extra.append("NULL::TIMESTAMPTZ AS published_at")
    replace = f" REPLACE ({outlet_sql('source')} AS source)" if "source" in has else ""
    select = ", ".join([f"* {replace}".strip(), *extra])
    con.execute(
        f"CREATE OR REPLACE {kind} articles_all AS SELECT *, COALESCE(source, {_q(NO_OUTLET)}) AS outlet, "
        f"{week_sql('published_at')} AS week, CAST({utc_sql('published_at')} AS DATE) AS published_date "
        f"FROM (SELECT {select} FROM {arts})"
    )
    con.execute(
        f"CREATE OR REPLACE {kind} articles_latest AS SELECT * FROM articles_all "
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY scored_at DESC, text_sha256 DESC) = 1"
    )
    _child_views(con, kind, tables, keyed)
    con.execute(
        f"CREATE OR REPLACE {kind} outlet_week_technique AS "
        + technique_aggregate_sql("articles_latest", techniques, has_prob, ["outlet", "week"])
    )
    con.execute(
        f"CREATE OR REPLACE {kind} week_technique AS "
        + technique_aggregate_sql("articles_latest", techniques, has_prob, ["week"])
    )
    return {"techniques": techniques, "categories": categories, "has_prob": has_prob, "columns": cols}


_EMPTY = {
    "spans": "SELECT NULL::VARCHAR AS article_id, NULL::VARCHAR AS technique, NULL::VARCHAR AS category, "
    'NULL::BIGINT AS start, NULL::BIGINT AS "end", NULL::VARCHAR AS text, NULL::DOUBLE AS confidence WHERE false',
    "paragraphs": "SELECT NULL::VARCHAR AS article_id, NULL::BIGINT AS paragraph, NULL::BIGINT AS start, "
    'NULL::BIGINT AS "end" WHERE false',
    "texts": "SELECT NULL::VARCHAR AS article_id, NULL::VARCHAR AS text_sha256, NULL::VARCHAR AS text WHERE false",
}


def _child_views(con, kind: str, tables: dict[str, Any], keyed: bool) -> None:
    """``spans_all`` and ``<table>_latest`` for spans, paragraphs and texts: rows joined to an existing article version."""
    for table in ("spans", "paragraphs", "texts"):
        src = tables.get(table)
        body = f"SELECT * FROM {src}" if src else _EMPTY[table]
        join = "x.article_id = a.id" + (" AND x.text_sha256 = a.text_sha256" if keyed and src else "")
        if table == "spans":
            con.execute(
                f"CREATE OR REPLACE {kind} spans_all AS SELECT x.*, a.outlet, a.week, a.published_date, a.title, a.url, a.lang "
                f"FROM ({body}) x JOIN articles_all a ON {join}"
            )
        con.execute(
            f"CREATE OR REPLACE {kind} {table}_latest AS SELECT x.* FROM ({body}) x SEMI JOIN articles_latest a ON {join}"
        )


def source_tables(source: Path | str, checked: bool = True) -> tuple[dict[str, Any], bool]:
    """The FROM sources of a dataset (checked files, see :func:`dataset.table_files`) or an export folder.

    ``checked=False`` reads a dataset's tables by glob (for a database file that picks up
    later appends); raises ``DatasetError`` / ``ValueError`` for what is neither.
    """
    from framescope.inference import dataset as ds

    source = Path(source)
    if ds.is_dataset(source):
        ds.read_info(source)
        tables: dict[str, Any] = {}
        for table in ("articles", "spans", "paragraphs", "texts"):
            files = ds.table_files(source, table)
            if not files:
                tables[table] = None
            elif checked:
                tables[table] = parquet_sql([str(f.resolve()) for f in files], hive=True)
            else:
                tables[table] = parquet_sql(str(Path(ds.table_glob(source.resolve(), table))), hive=True)
        if tables["articles"] is None:
            raise ds.DatasetError(f"{source}: the dataset holds no articles yet")
        return tables, True
    arts = source / "articles.parquet"
    if arts.is_file() and (source / "spans.parquet").is_file():
        tables = {"articles": parquet_sql(str(arts.resolve()), hive=False)}
        for table in ("spans", "paragraphs"):
            f = source / f"{table}.parquet"
            tables[table] = parquet_sql(str(f.resolve()), hive=False) if f.is_file() else None
        tables["texts"] = None
        return tables, False
    raise ValueError(
        f"{source}: neither a dataset (dataset.json) nor an export folder with articles.parquet and spans.parquet "
        "(score with --format parquet or --dataset)"
    )


def connect(source: Path | str, database: str = ":memory:", checked: bool = True):
    """A DuckDB connection (session in UTC) with the views over ``source``; returns ``(con, info)``."""
    import duckdb

    tables, keyed = source_tables(source, checked=checked)
    con = duckdb.connect(database)
    try:
        con.execute("SET TimeZone = 'UTC'")
        info = create_views(con, tables, keyed)
    except BaseException:
        con.close()
        raise
    return con, info


def write_views_database(source: Path | str, out: Path | str) -> dict[str, Any]:
    """Write a DuckDB database file whose views read ``source``'s Parquet files by absolute path.

    A new file is built beside ``out`` and renamed into place; an existing file is only
    replaced when it is a database of these views (the caller checks).
    """
    import os
    import tempfile

    out = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    os.unlink(tmp)  # DuckDB creates the file itself
    try:
        con, info = connect(source, database=tmp, checked=False)
        con.execute(
            "CREATE TABLE framescope_views AS SELECT ? AS source, ? AS views",
            [str(Path(source).resolve()), ",".join(VIEW_NAMES)],
        )
        con.close()
        os.replace(tmp, out)
    finally:
        for leftover in (tmp, tmp + ".wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return info


def _is_views_database(path: Path) -> bool:
    import duckdb

    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return bool(
                con.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = 'framescope_views'"
                ).fetchone()[0]
            )
    except Exception:
        return False
