"""The dashboard's charts: static SVG drawn by matplotlib, and the shares they show.

Charts are drawn to SVG and inlined because the page allows no scripts (see
:mod:`framescope.inference.dashboard`). The x axis of the time charts has one slot per
calendar week from the first to the last, so an empty week is an empty slot, and every
point shows its number of articles.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Sequence

from framescope.labels.colours import CATEGORY_COLOURS
from framescope.inference.views import UNDATED

if TYPE_CHECKING:
    from framescope.inference.dashboard import Data

MAX_OUTLETS = 15  # outlets with most articles shown in the per-outlet charts


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
    return svg[svg.index("<svg") :]  # CSS shrinks it to the page: max-width 100%, height auto


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
    ax.set_xticks(
        range(len(cols)),
        col_labels,
        fontsize=7.5,
        rotation=45 if len(cols) > 6 else 0,
        ha="right" if len(cols) > 6 else "center",
    )
    if len(cols) <= 20:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                v = m[i, j]
                if v == v and v > 0:
                    ax.text(
                        j, i, f"{v:.0%}", ha="center", va="center", fontsize=6.5, color="white" if v > 0.55 else "black"
                    )
    ax.set_title(title, fontsize=10, loc="left")
    cb = fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01, format=lambda x, _: f"{x:.0%}")
    cb.ax.tick_params(labelsize=7)
    return _svg(fig)


def lines(
    series: dict[str, Sequence[float]],
    xs: Sequence[str],
    title: str,
    colours: dict[str, str],
    counts: Sequence[int] | None = None,
) -> str:
    """One line per category over consecutive weeks; a NaN (a week without articles) breaks the line.

    The x axis has one slot per calendar week, so a gap is a gap; a marker's area grows
    with the week's number of articles, so a week of 2 does not look like a week of 30.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    fig = Figure(figsize=(10, 3.6), dpi=96)
    ax = fig.add_subplot()
    top = max(counts or [1]) or 1
    sizes = [12 + 90 * (n / top) for n in counts] if counts is not None else None
    for name, ys in series.items():
        colour = colours.get(name)
        ax.plot(range(len(xs)), ys, linewidth=1.6, label=_label(name), color=colour)
        ax.scatter(range(len(xs)), ys, s=sizes if sizes is not None else 14, color=colour, zorder=3)
    ax.set_xticks(range(len(xs)), [_label(x, 24) for x in xs], fontsize=8, rotation=45 if len(xs) > 8 else 0)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.02)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title, fontsize=10, loc="left")
    return _svg(fig)


def week_axis(weeks) -> list[date]:
    """Every Monday from the first to the last dated week: empty weeks stay on the axis."""
    from datetime import timedelta

    dated = sorted({(w.date() if hasattr(w, "date") else w) for w in weeks if w is not None and w == w})
    if not dated:
        return []
    out, w = [], dated[0]
    while w <= dated[-1]:
        out.append(w)
        w += timedelta(days=7)
    return out


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


def _day(value) -> date | None:
    """A DATE from DuckDB (a pandas Timestamp, a date or NaT/None) as a ``date``, None when missing."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def _pivot(agg, key: str, rows: Sequence[str], cols: Sequence[Any], value: str = "share") -> list[list[float]]:
    """``agg`` rows (``key``, technique, share) as a matrix; NaN where a cell has no articles."""
    cell = {
        (r.technique, _day(getattr(r, key)) if key == "week" else getattr(r, key)): getattr(r, value)
        for r in agg.itertuples()
    }
    return [[float(cell.get((t, c), float("nan"))) for c in cols] for t in rows]


def _outlet_table(a, uses_t: dict, techniques: Sequence[str], outlets: Sequence[str]) -> list[dict[str, Any]]:
    """Per outlet: articles, languages, first and last publication date (undated counted apart), top techniques."""
    table = []
    for o in outlets:
        mine = a["outlet"] == o
        sel = a[mine]
        days = [d for d in (_day(x) for x in sel["published_date"]) if d is not None]
        top = sorted(((float(uses_t[t][mine].mean()), t) for t in techniques), reverse=True)[:3]
        table.append(
            {
                "outlet": o,
                "articles": len(sel),
                "undated": len(sel) - len(days),
                "langs": ", ".join(sorted({str(x) for x in sel["lang"].dropna()})),
                "first": min(days).isoformat() if days else "–",
                "last": max(days).isoformat() if days else "–",
                "top": [(t, v) for v, t in top if v > 0],
            }
        )
    return table


@dataclass
class _Axis:
    """The weeks of the time charts: every calendar week, then an "undated" column where needed."""

    week_of: Any  # per article its week (a date) or NaN
    weeks: list[date]  # every Monday from the first week to the last
    undated: int  # articles without a publication date
    cols: list[Any]  # the weeks, then None for the undated articles
    labels: list[str]
    counts: list[int]  # articles per column

    @classmethod
    def of(cls, articles) -> "_Axis":
        week_of = articles["week"].map(_day)
        weeks = week_axis(list(week_of))
        undated = int(week_of.isna().sum())
        cols: list[Any] = list(weeks) + ([None] if undated else [])
        labels = [w.isoformat() for w in weeks] + ([UNDATED] if undated else [])
        counts = [int((week_of == w).sum()) for w in weeks] + ([undated] if undated else [])
        return cls(week_of, weeks, undated, cols, labels, counts)


def _charts(data: "Data", names: dict[str, str], focus: Sequence[str]) -> tuple[list, list, list, dict]:
    """The charts: over time, per outlet, and outlet by week; plus the outlet table and the axis facts."""
    a = data.articles
    uses_t = {t: technique_use(a, t) for t in data.techniques}
    uses_c = category_use(a, uses_t, data.categories)
    axis = _Axis.of(a)
    counts = a["outlet"].value_counts()
    outlets = sorted(counts.index[:MAX_OUTLETS], key=lambda o: (-counts[o], o))
    more = f" (the {MAX_OUTLETS} with most articles)" if len(counts) > MAX_OUTLETS else ""
    over_time = _over_time(data, names, axis, uses_c)
    over_time += _per_outlet(data, names, outlets, [int(counts[o]) for o in outlets], more, uses_t, uses_c)
    by_week = _outlets_by_week(data, names, focus, axis, outlets, uses_c)
    facts = {
        "weeks": axis.labels,
        "empty_weeks": [w.isoformat() for w, n in zip(axis.weeks, axis.counts) if n == 0],
        "undated": axis.undated,
    }
    return over_time, by_week, _outlet_table(a, uses_t, data.techniques, outlets), facts


def _over_time(data: "Data", names: dict[str, str], axis: _Axis, uses_c: dict) -> list[dict[str, Any]]:
    """Categories per week (lines) and techniques per week (heatmap)."""
    share_cw = {
        names.get(c, c): [
            float(uses_c[c][axis.week_of == w].mean()) if n else float("nan") for w, n in zip(axis.weeks, axis.counts)
        ]
        for c in data.categories
    }
    colours = {names.get(c, c): CATEGORY_COLOURS.get(c, "#4477aa") for c in data.categories}
    n = axis.undated
    left_out = f"; {n} undated article{'s' if n != 1 else ''} not on the time axis" if n else ""
    return [
        {
            "id": "chart-category-week",
            "title": "Categories per week",
            "wide": True,
            "svg": lines(
                share_cw,
                [f"{w.isoformat()}\n(n={k})" for w, k in zip(axis.weeks, axis.counts)],
                f"Share of articles using each category, per week (week starting, UTC; marker area = articles{left_out})",
                colours,
                axis.counts[: len(axis.weeks)],
            ),
        },
        {
            "id": "chart-technique-week",
            "title": "Techniques per week",
            "wide": len(axis.cols) > 8,
            "svg": heatmap(
                _pivot(data.week_technique, "week", data.techniques, axis.cols),
                data.techniques,
                axis.labels,
                "Share of articles using each technique, per week (blank: no articles)",
                axis.counts,
            ),
        },
    ]


def _per_outlet(
    data: "Data", names: dict[str, str], outlets: list, n_out: list[int], more: str, uses_t: dict, uses_c: dict
) -> list[dict[str, Any]]:
    """Techniques and categories per outlet (heatmaps)."""
    a = data.articles
    share_to = [[float(uses_t[t][a["outlet"] == o].mean()) for o in outlets] for t in data.techniques]
    share_co = [[float(uses_c[c][a["outlet"] == o].mean()) for o in outlets] for c in data.categories]
    return [
        {
            "id": "chart-technique-outlet",
            "title": "Techniques per outlet",
            "wide": len(outlets) > 8,
            "svg": heatmap(
                share_to, data.techniques, outlets, f"Share of articles using each technique, per outlet{more}", n_out
            ),
        },
        {
            "id": "chart-category-outlet",
            "title": "Categories per outlet",
            "wide": len(outlets) > 8,
            "svg": heatmap(
                share_co,
                [names.get(c, c) for c in data.categories],
                outlets,
                f"Share of articles using each category, per outlet{more}",
                n_out,
            ),
        },
    ]


def _outlets_by_week(
    data: "Data", names: dict[str, str], focus: Sequence[str], axis: _Axis, outlets: list, uses_c: dict
) -> list[dict[str, Any]]:
    """Per category, and per technique in ``focus``, a heatmap of outlets by week."""
    a, week_of = data.articles, axis.week_of
    by_week = []
    for c in data.categories:
        m = [
            [
                float(uses_c[c][(a["outlet"] == o) & (week_of == w if w is not None else week_of.isna())].mean())
                for w in axis.cols
            ]
            for o in outlets
        ]
        title = f"Share of each outlet's articles using {names.get(c, c)}, per week"
        by_week.append(
            _outlet_week(f"chart-outlet-week-{c}", f"{names.get(c, c)}: outlets by week", m, title, outlets, axis)
        )
    agg = data.outlet_week_technique
    for t in focus:
        sub = agg[agg["technique"] == t]
        cell = {(r.outlet, _day(r.week)): r.share for r in sub.itertuples()}
        m = [[float(cell.get((o, w), float("nan"))) for w in axis.cols] for o in outlets]
        title = f"Share of each outlet's articles using {t}, per week"
        by_week.append(_outlet_week(f"chart-outlet-week-{t}", f"{t}: outlets by week", m, title, outlets, axis))
    return by_week


def _outlet_week(chart_id: str, title: str, matrix: list, caption: str, outlets: list, axis: _Axis) -> dict[str, Any]:
    return {
        "id": chart_id,
        "title": title,
        "wide": True,
        "svg": heatmap(matrix, outlets, axis.labels, caption, axis.counts),
    }
