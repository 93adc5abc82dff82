"""A trends dashboard over many scored articles: which outlets use which techniques, week by week.

``framescope dashboard SOURCE --out PAGE_DIR`` reads an export folder of ``framescope
score`` (``articles.parquet`` + ``spans.parquet``) or a dataset built with ``score
--dataset`` (:mod:`framescope.inference.dataset`) and writes one self-contained page,
``PAGE_DIR/index.html``:

* the share of articles using each technique and each category, per week and per
  outlet (heatmaps and a line chart);
* the strongest example spans of each technique, linked to the article pages of the
  HTML report (``--report``);
* the number of articles per outlet and per week.

How much an article *uses* a technique: its calibrated article probability
(``prob_<T>``, schema 1.1) when the model has an article stage, so a share is the
expected share of articles using the technique (calibration makes the mean probability
an estimate of the prevalence); for exports without probabilities, 1 when the model
found at least one span of it (``score_<T> > 0``) and 0 otherwise. A category counts
with the highest of its techniques' values. An article's week is the ISO week (starting
Monday, UTC) of its ``published_at``, or of ``scored_at`` when it has no publication
date. Outlet is the ``source`` metadata column; articles without one count as
"(no outlet)".

Why it is built this way: the page carries the same Content-Security-Policy as the HTML
report (no scripts at all, inline styles only), so it opens from ``file://``, can be
mailed around, and article text that contains markup cannot run. Charts are therefore
drawn by matplotlib to static SVG and inlined (SVG text is XML-escaped by matplotlib;
every other piece of text goes through Jinja2's autoescaping), and the filters are
command-line options (``--lang``, ``--outlet``, ``--since``, ``--until``) that produce
the page for one view, rather than JavaScript widgets. Queries run in DuckDB over the
Parquet files, so a dataset of many days is read without loading every span.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, List, Optional, Sequence

import typer

from framescope.errors import EXIT_USAGE, FramescopeError

NO_OUTLET = "(no outlet)"
MAX_OUTLETS = 15  # outlets with most articles shown in the per-outlet charts
EXAMPLES_PER_TECHNIQUE = 3
EXAMPLE_CHARS = 280


class DashboardError(FramescopeError):
    exit_code = EXIT_USAGE


@dataclass
class Filters:
    """The view: languages and outlets (any of, empty = all) and a date range (inclusive)."""

    langs: list[str] = field(default_factory=list)
    outlets: list[str] = field(default_factory=list)
    since: date | None = None
    until: date | None = None

    def describe(self) -> list[str]:
        out = []
        if self.langs:
            out.append("language " + ", ".join(self.langs))
        if self.outlets:
            out.append("outlet " + ", ".join(self.outlets))
        if self.since:
            out.append(f"from {self.since.isoformat()}")
        if self.until:
            out.append(f"until {self.until.isoformat()}")
        return out


# -- reading --------------------------------------------------------------------------


def _sources(source: Path) -> tuple[str, str, bool]:
    """DuckDB FROM expressions of the articles and spans tables, and whether spans carry text_sha256."""
    from framescope.inference.dataset import _quote, is_dataset, read_sql

    if is_dataset(source):
        return read_sql(source, "articles"), read_sql(source, "spans"), True
    arts, spans = source / "articles.parquet", source / "spans.parquet"
    if arts.is_file() and spans.is_file():
        return f"read_parquet({_quote(str(arts))})", f"read_parquet({_quote(str(spans))})", False
    raise DashboardError(
        f"{source}: neither a dataset (dataset.json) nor an export folder with articles.parquet and spans.parquet "
        "(score with --format parquet or --dataset)"
    )


@dataclass
class Data:
    articles: Any  # pandas DataFrame, one row per article, with `week` and `outlet`
    examples: Any  # pandas DataFrame, the strongest spans per technique
    techniques: list[str]
    categories: list[str]
    total: int  # articles before filtering


def load(source: Path | str, filters: Filters | None = None, examples: int = EXAMPLES_PER_TECHNIQUE) -> Data:
    """The filtered articles and the strongest example spans, via DuckDB."""
    import duckdb

    filters = filters or Filters()
    source = Path(source)
    arts_sql, spans_sql, spans_keyed = _sources(source)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        try:
            total = con.execute(f"SELECT count(*) FROM {arts_sql}").fetchone()[0]
            columns = [d[0] for d in con.execute(f"SELECT * FROM {arts_sql} LIMIT 0").description]
        except duckdb.Error as err:
            raise DashboardError(f"{source}: cannot read the articles table ({str(err).splitlines()[0]})") from None
        for needed in ("id", "text_sha256", "scored_at"):
            if needed not in columns:
                raise DashboardError(f"{source}: the articles table has no {needed!r} column (not framescope exports)")
        techniques = [c.removeprefix("score_") for c in columns if c.startswith("score_")]
        categories = [c.removeprefix("category_") for c in columns if c.startswith("category_")]
        has = set(columns)
        when = "COALESCE(published_at, scored_at)" if "published_at" in has else "scored_at"
        outlet = f"COALESCE(NULLIF(source, ''), '{NO_OUTLET}')" if "source" in has else f"'{NO_OUTLET}'"
        where, params = [], []
        if filters.langs:
            where.append("list_contains(?, lang)")
            params.append(list(filters.langs))
        if filters.outlets:
            where.append(f"list_contains(?, {outlet})")
            params.append(list(filters.outlets))
        if filters.since:
            where.append(f"CAST({when} AS DATE) >= ?")
            params.append(filters.since)
        if filters.until:
            where.append(f"CAST({when} AS DATE) <= ?")
            params.append(filters.until)
        missing = "".join(f", NULL AS {c}" for c in ("title", "url") if c not in has)  # 1.0 exports
        con.execute(
            f"CREATE TEMP TABLE a AS SELECT *{missing}, {outlet} AS outlet, "
            f"CAST(date_trunc('week', {when}) AS DATE) AS week, CAST({when} AS DATE) AS day FROM {arts_sql} "
            + (f"WHERE {' AND '.join(where)}" if where else ""),
            params,
        )
        articles = con.execute("SELECT * FROM a ORDER BY week, outlet, id").df()
        join = "s.article_id = a.id" + (" AND s.text_sha256 = a.text_sha256" if spans_keyed else "")
        examples_df = con.execute(
            "SELECT s.technique, s.category, s.text, s.confidence, a.id, a.title, a.url, a.outlet, a.day, a.lang "
            f"FROM {spans_sql} s JOIN a ON {join} "
            "QUALIFY row_number() OVER (PARTITION BY s.technique ORDER BY s.confidence DESC, a.id, s.start) <= ? "
            "ORDER BY s.technique, s.confidence DESC",
            [examples],
        ).df()
    finally:
        con.close()
    return Data(articles, examples_df, techniques, categories, total)


# -- charts ---------------------------------------------------------------------------


def _label(text: str, limit: int = 40) -> str:
    """A chart label: shortened, and ``$`` escaped so matplotlib does not read it as mathtext."""
    text = str(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _svg(fig) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, scalable)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "framescope"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]  # CSS shrinks it to the page: max-width 100%, height auto


def heatmap(matrix, rows: Sequence[str], cols: Sequence[str], title: str, counts: Sequence[int] | None = None) -> str:
    """Shares in ``[0, 1]`` as a heatmap: one row per technique/category, one column per week/outlet."""
    import numpy as np
    from matplotlib.figure import Figure

    m = np.asarray(matrix, dtype=float)
    width = min(3.6 + 0.75 * len(cols), 16)
    height = 1.3 + 0.24 * len(rows)
    fig = Figure(figsize=(width, height), dpi=96)
    ax = fig.add_subplot()
    im = ax.imshow(m, aspect="auto", cmap="YlOrRd", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_yticks(range(len(rows)), [_label(r) for r in rows], fontsize=8)
    col_labels = [_label(c, 24) + (f"\n(n={counts[i]})" if counts is not None else "") for i, c in enumerate(cols)]
    ax.set_xticks(range(len(cols)), col_labels, fontsize=7.5, rotation=45 if len(cols) > 6 else 0, ha="right" if len(cols) > 6 else "center")
    if len(cols) <= 20:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                v = m[i, j]
                if v == v and v > 0:
                    ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=6.5, color="white" if v > 0.55 else "black")
    ax.set_title(title, fontsize=10, loc="left")
    cb = fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01, format=lambda x, _: f"{x:.0%}")
    cb.ax.tick_params(labelsize=7)
    return _svg(fig)


def lines(series: dict[str, Sequence[float]], xs: Sequence[str], title: str, colours: dict[str, str]) -> str:
    """One line per category over the weeks."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    fig = Figure(figsize=(10, 3.6), dpi=96)
    ax = fig.add_subplot()
    for name, ys in series.items():
        ax.plot(range(len(xs)), ys, marker="o", markersize=3.5, linewidth=1.8, label=_label(name), color=colours.get(name))
    ax.set_xticks(range(len(xs)), [_label(x, 24) for x in xs], fontsize=8, rotation=45 if len(xs) > 8 else 0)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.02)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title, fontsize=10, loc="left")
    return _svg(fig)


# -- the page -------------------------------------------------------------------------


def _report_href(report: str | None, article_id: str) -> str | None:
    """The article's page in the HTML report (``framescope report``/``score --html``) under ``report``."""
    if not report:
        return None
    name = hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:20] + ".html"  # as report._page_name
    return report.rstrip("/") + "/articles/" + name


def _category_names() -> dict[str, str]:
    try:
        from framescope.labels.taxonomy import load_taxonomy

        return {cid: str(meta.get("name") or cid) for cid, meta in load_taxonomy().categories.items()}
    except Exception:  # pragma: no cover - the default taxonomy ships with the package
        return {}


def technique_use(a, technique: str):
    """Per article, how much it uses ``technique``: ``prob_<T>`` where the article stage gave one,
    else 1.0 when a span of it was found (``score_<T> > 0``), else 0.0."""
    found = (a[f"score_{technique}"] > 0).astype(float)
    prob = f"prob_{technique}"
    if prob not in a.columns:
        return found
    return a[prob].astype(float).where(a[prob].notna(), found)


def category_use(a, uses_t: dict, categories) -> dict:
    """Per category and article: the highest use of its techniques (spans alone: ``category_<c> > 0``)."""
    import pandas as pd

    from framescope.labels.taxonomy import load_taxonomy

    try:
        of = {t: load_taxonomy().category_of(t) for t in uses_t}
    except Exception:  # a custom taxonomy: fall back to the exported category scores
        of = {}
    out = {}
    for c in categories:
        members = [uses_t[t] for t in uses_t if of.get(t) == c]
        out[c] = pd.concat(members, axis=1).max(axis=1) if members else (a[f"category_{c}"] > 0).astype(float)
    return out


def render_dashboard(data: Data, filters: Filters, report: str | None = None, source: str = "") -> str:
    """The page's HTML."""
    from framescope.inference.report import CATEGORY_COLOURS, _environment

    a = data.articles
    names = _category_names()
    charts: list[dict[str, str]] = []
    weeks: list[str] = []
    outlets_table: list[dict[str, Any]] = []
    if len(a):
        uses_t = {t: technique_use(a, t) for t in data.techniques}
        uses_c = category_use(a, uses_t, data.categories)
        week_keys = sorted(a["week"].dropna().unique())
        weeks = [str(w)[:10] for w in week_keys]  # YYYY-MM-DD of the Monday
        by_week = a.groupby("week")
        n_week = [int(by_week.size()[w]) for w in week_keys]
        share_tw = [[float(uses_t[t][a["week"] == w].mean()) for w in week_keys] for t in data.techniques]
        share_cw = {names.get(c, c): [float(uses_c[c][a["week"] == w].mean()) for w in week_keys] for c in data.categories}
        colours = {names.get(c, c): CATEGORY_COLOURS.get(c, "#4477aa") for c in data.categories}
        counts = a["outlet"].value_counts()
        outlets = sorted(counts.index[:MAX_OUTLETS], key=lambda o: (-counts[o], o))
        n_out = [int(counts[o]) for o in outlets]
        share_to = [[float(uses_t[t][a["outlet"] == o].mean()) for o in outlets] for t in data.techniques]
        share_co = [[float(uses_c[c][a["outlet"] == o].mean()) for o in outlets] for c in data.categories]
        more = f" (the {MAX_OUTLETS} with most articles)" if len(counts) > MAX_OUTLETS else ""
        charts = [
            {"id": "chart-category-week", "title": "Categories per week", "wide": True,
             "svg": lines(share_cw, [f"{w}\n(n={n})" for w, n in zip(weeks, n_week)],
                          "Share of articles using each category, per week (week starting)", colours)},
            {"id": "chart-technique-week", "title": "Techniques per week", "wide": len(weeks) > 8,
             "svg": heatmap(share_tw, data.techniques, weeks, "Share of articles using each technique, per week", n_week)},
            {"id": "chart-technique-outlet", "title": "Techniques per outlet", "wide": len(outlets) > 8,
             "svg": heatmap(share_to, data.techniques, outlets, f"Share of articles using each technique, per outlet{more}", n_out)},
            {"id": "chart-category-outlet", "title": "Categories per outlet", "wide": len(outlets) > 8,
             "svg": heatmap(share_co, [names.get(c, c) for c in data.categories], outlets,
                            f"Share of articles using each category, per outlet{more}", n_out)},
        ]
        for o in outlets:
            sel = a[a["outlet"] == o]
            top = sorted(((float(uses_t[t][a["outlet"] == o].mean()), t) for t in data.techniques), reverse=True)[:3]
            outlets_table.append({
                "outlet": o, "articles": len(sel),
                "langs": ", ".join(sorted({str(x) for x in sel["lang"].dropna()})),
                "first": str(min(sel["day"]))[:10], "last": str(max(sel["day"]))[:10],
                "top": [(t, s) for s, t in top if s > 0],
            })
    examples: list[dict[str, Any]] = []
    ex = data.examples
    for t in data.techniques:
        rows = ex[ex["technique"] == t] if len(ex) else ex
        if not len(rows):
            continue
        items = []
        for r in rows.itertuples():
            text = str(r.text)
            items.append({
                "text": text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…",
                "confidence": float(r.confidence), "id": r.id, "title": r.title if isinstance(r.title, str) else None,
                "outlet": r.outlet, "day": str(r.day)[:10],
                "lang": r.lang if isinstance(r.lang, str) else None, "href": _report_href(report, r.id),
            })
        examples.append({"technique": t, "category": names.get(str(rows.iloc[0]["category"]), ""), "spans": items})
    env = _environment()
    langs = sorted({str(x) for x in a["lang"].dropna()}) if len(a) else []
    return env.get_template("dashboard.html.j2").render(
        css="",  # the report's per-category colour rules: the dashboard colours in its charts
        source=source,
        filters=filters.describe(),
        n_articles=len(a),
        total=data.total,
        n_outlets=int(a["outlet"].nunique()) if len(a) else 0,
        weeks=weeks,
        langs=langs,
        charts=charts,
        examples=examples,
        outlets=outlets_table,
        report=report,
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def write_dashboard(
    source: Path | str, out_dir: Path | str, filters: Filters | None = None, report: str | None = None,
    examples: int = EXAMPLES_PER_TECHNIQUE,
) -> Path:
    """Build the page for ``source`` into ``out_dir/index.html`` (replaced atomically)."""
    from framescope.labels.atomic import atomic_open

    filters = filters or Filters()
    source, out_dir = Path(source), Path(out_dir)
    if report is None and (source / "index.html").is_file():
        # `score --html` wrote the report into the export folder: link to it relative to the page
        import os

        report = Path(os.path.relpath(source.resolve(), out_dir.resolve())).as_posix()
    data = load(source, filters, examples)
    page = render_dashboard(data, filters, report, source=str(source))
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / "index.html") as fh:
        fh.write(page)
    return out_dir / "index.html"


# -- command line ---------------------------------------------------------------------


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DashboardError(f"{option} {value!r}: expected a date YYYY-MM-DD") from None


def dashboard_cmd(
    source: Path = typer.Argument(..., help="An export folder of `framescope score` (with Parquet) or a --dataset folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write index.html into."),
    lang: Optional[List[str]] = typer.Option(None, "--lang", help="Only articles in this language (repeatable)."),
    outlet: Optional[List[str]] = typer.Option(None, "--outlet", help="Only articles of this outlet, the `source` column (repeatable)."),
    since: Optional[str] = typer.Option(None, "--since", help="Only articles published (else scored) on or after YYYY-MM-DD."),
    until: Optional[str] = typer.Option(None, "--until", help="Only articles published (else scored) on or before YYYY-MM-DD."),
    report: Optional[str] = typer.Option(
        None, "--report",
        help="Folder or URL of the HTML report (framescope report / score --html) to link examples to; "
        "default: SOURCE when it holds index.html.",
    ),
    examples: int = typer.Option(EXAMPLES_PER_TECHNIQUE, "--examples", min=1, help="Example spans per technique."),
) -> None:
    """Write a trends dashboard: techniques per week and outlet, strongest examples (static, no scripts)."""
    try:
        filters = Filters(list(lang or []), list(outlet or []), _date(since, "--since"), _date(until, "--until"))
        if not source.exists():
            raise DashboardError(f"{source}: no such folder")
        page = write_dashboard(source, out, filters, report, examples)
    except FramescopeError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(err.exit_code) from None
    typer.echo(f"dashboard: {page}")


def register(app: "typer.Typer") -> None:
    app.command("dashboard")(dashboard_cmd)
