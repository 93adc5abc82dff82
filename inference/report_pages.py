"""What one page of the HTML report shows: colours per category, page names, view models, templates.

:func:`article_view` turns one :class:`~framescope.model.scorer.ArticleResult` into the
plain dict the ``article.html.j2`` template renders (segments, underline lanes, the
technique table, paragraphs, legend), and :func:`index_row` gives its line of the index.
The :class:`Palette` gives every category one colour and CSS class for the whole report;
:func:`page_name` is the one rule for an article page's file name, which the trends
dashboard uses too when it links to the report.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from framescope.labels.colours import CATEGORY_COLOURS, FALLBACK_COLOURS, UNKNOWN_COLOUR
from framescope.model.scorer import ArticleResult, ScoredSpan
from framescope.inference.report_segments import assign_lanes, segment_text

TEMPLATES = Path(__file__).resolve().parent / "templates"

# Underline stripes beyond this many overlapping lanes share the last lane's position.
MAX_LANES = 5
LOW_CONFIDENCE = 0.5
# Stretches where at least this many spans overlap get a count badge.
BADGE_DEPTH = 3
# The paragraph list shows per paragraph up to PARAGRAPH_TOP techniques with at least this probability.
PARAGRAPH_SHOWN = 0.5
PARAGRAPH_TOP = 3
PREVIEW_CHARS = 90


def _preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _slug(value: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-")
    return slug or "unknown"


def _pretty(name: str) -> str:
    return name.replace("_", " ")


def _hex_rgba(colour: str, alpha: float) -> str:
    c = colour.lstrip("#")
    r, g, b = int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    return f"rgba({r}, {g}, {b}, {alpha:.2f})"


def page_name(article_id: str, used: set[str] | None = None) -> str:
    """The file name of an article's page under ``articles/``: a hash of its id, so any id is a safe name.

    ``used``: the names already given in this report; a repeated id gets the next free
    name (the id with a counter). The dashboard links to ``page_name(id)``, the name of
    an id's first page.
    """
    n = 0
    while True:
        key = article_id if n == 0 else f"{article_id}\x00{n}"
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20] + ".html"
        if used is None:
            return name
        if name not in used:
            used.add(name)
            return name
        n += 1


class Palette:
    """Category id -> display name, CSS class and colours, in taxonomy order."""

    def __init__(self, taxonomy: Any):
        self.taxonomy = taxonomy
        self.cats: dict[str, dict[str, str]] = {}
        self._fallback = 0
        if taxonomy is not None:
            for cid, meta in taxonomy.categories.items():
                self.add(cid, str(meta.get("name") or cid))
            if not taxonomy.categories:
                for t in taxonomy.techniques:
                    self.add(t.category)

    def add(self, cid: str, name: str | None = None) -> dict[str, str]:
        if cid in self.cats:
            return self.cats[cid]
        if not cid or cid == "unknown":
            colour = UNKNOWN_COLOUR
        elif cid in CATEGORY_COLOURS:
            colour = CATEGORY_COLOURS[cid]
        else:
            colour = FALLBACK_COLOURS[self._fallback % len(FALLBACK_COLOURS)]
            self._fallback += 1
        cls = f"cat-{_slug(cid or 'unknown')}"
        taken = {c["cls"] for c in self.cats.values()}
        base, n = cls, 2
        while cls in taken:
            cls, n = f"{base}-{n}", n + 1
        entry = {
            "id": cid or "unknown",
            "name": name or _pretty(cid or "unknown").capitalize(),
            "cls": cls,
            "colour": colour,
            "bg": _hex_rgba(colour, 0.16),
            "bg_strong": _hex_rgba(colour, 0.30),
        }
        self.cats[cid] = entry
        return entry

    def category_of(self, span: ScoredSpan) -> str:
        if span.category:
            return span.category
        if self.taxonomy is not None:
            try:
                return self.taxonomy.category_of(span.technique)
            except KeyError:
                pass
        return "unknown"

    def technique_category(self, technique: str, spans: Iterable[ScoredSpan]) -> str:
        for s in spans:
            if s.technique == technique:
                return self.category_of(s)
        if self.taxonomy is not None:
            try:
                return self.taxonomy.category_of(technique)
            except KeyError:
                pass
        return "unknown"


# --------------------------------------------------------------------------------------
# The article page
# --------------------------------------------------------------------------------------
def _technique_rows(result: ArticleResult, palette: Palette) -> list[dict[str, Any]]:
    rows = []
    for name, ts in result.techniques.items():
        cat = palette.add(palette.technique_category(name, result.spans))
        rows.append(
            {
                "name": name,
                "label": _pretty(name),
                "score": ts.score,
                "pct": max(0.0, min(1.0, ts.score)) * 100.0,
                "probability": ts.probability,
                "spans": ts.spans,
                "coverage": ts.coverage,
                "cat": cat,
            }
        )
    rows.sort(key=lambda r: (-r["score"], -r["spans"], r["name"]))
    return rows


def _span_views(spans: list[ScoredSpan], text: str, palette: Palette) -> list[dict[str, Any]]:
    """One dict per span, in the result's order; ``placed``: its offsets fit the text, so it has a lane."""
    lanes = assign_lanes(spans, text)
    views = []
    for i, s in enumerate(spans):
        cat = palette.add(palette.category_of(s))
        views.append(
            {
                "index": i,
                "technique": s.technique,
                "label": _pretty(s.technique),
                "cat": cat,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "confidence": s.confidence,
                "low": s.confidence < LOW_CONFIDENCE,
                "lane": min(lanes.get(i, 0), MAX_LANES - 1),
                "placed": i in lanes,
            }
        )
    return views


def _segments(text: str, spans: list[ScoredSpan], span_views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The text cut at span boundaries, each piece with the spans covering it and its tint."""
    segments = []
    for seg in segment_text(text, spans):
        views = [span_views[i] for i in seg.active]
        tip = "\n".join(f"{v['label']} · {v['cat']['name']} · {v['confidence']:.2f}" for v in views)
        segments.append(
            {
                "text": seg.text,
                "spans": views,
                "depth": seg.depth,
                "tip": tip,
                # the innermost span tints the background, stronger where spans overlap
                "bg": views[-1]["cat"]["bg_strong" if seg.depth > 1 else "bg"] if views else "",
                "badge": 0,
            }
        )
    _add_badges(segments)
    return segments


def _add_badges(segments: list[dict[str, Any]]) -> None:
    """A count badge at the start of each stretch where BADGE_DEPTH or more spans overlap
    (two are easy to read from the stripes), showing the deepest overlap of the stretch."""
    run_start = None
    for k, seg in enumerate(segments + [{"depth": 0}]):
        if seg["depth"] >= 2 and run_start is None:
            run_start = k
        elif seg["depth"] < 2 and run_start is not None:
            deepest = max(s["depth"] for s in segments[run_start:k])
            if deepest >= BADGE_DEPTH:
                segments[run_start]["badge"] = deepest
            run_start = None


def _paragraphs(
    result: ArticleResult, text: str, techniques: list[dict[str, Any]], palette: Palette
) -> list[dict[str, Any]]:
    """Per paragraph its preview and up to PARAGRAPH_TOP likely techniques."""
    labels = {t["name"]: t for t in techniques}
    paragraphs = []
    for p in result.paragraphs:
        top = sorted(((v, k) for k, v in p.probabilities.items() if v >= PARAGRAPH_SHOWN), reverse=True)[:PARAGRAPH_TOP]
        paragraphs.append(
            {
                "index": p.index,
                "start": p.start,
                "end": p.end,
                "preview": _preview(text[p.start : p.end]) if 0 <= p.start < p.end <= len(text) else "",
                "top": [
                    {
                        "name": k,
                        "label": _pretty(k),
                        "p": v,
                        "cat": labels[k]["cat"] if k in labels else palette.add("unknown"),
                    }
                    for v, k in top
                ],
            }
        )
    return paragraphs


def _legend(result: ArticleResult, span_views: list[dict[str, Any]], palette: Palette) -> list[dict[str, Any]]:
    """Every category of the report with this article's score and span count ("unknown" only where used)."""
    cat_counts: dict[str, int] = {}
    for v in span_views:
        cat_counts[v["cat"]["id"]] = cat_counts.get(v["cat"]["id"], 0) + 1
    for cid in result.categories:
        palette.add(cid)
    return [
        {**c, "score": result.categories.get(c["id"]), "count": cat_counts.get(c["id"], 0)}
        for c in palette.cats.values()
        if c["id"] != "unknown" or cat_counts.get("unknown")
    ]


def article_view(result: ArticleResult, palette: Palette) -> dict[str, Any]:
    """What ``article.html.j2`` shows of one article; new categories are added to ``palette``."""
    text = result.text or ""
    spans = result.spans
    span_views = _span_views(spans, text, palette)
    segments = _segments(text, spans, span_views)
    techniques = _technique_rows(result, palette)
    scored = [t for t in techniques if t["score"] > 0 or t["spans"] > 0]
    # the article stage's calibrated probabilities, most likely first
    probable = sorted(
        (t for t in techniques if t["probability"] is not None), key=lambda t: (-t["probability"], t["name"])
    )
    paragraphs = _paragraphs(result, text, techniques, palette)
    legend = _legend(result, span_views, palette)
    max_lane = max((v["lane"] for v in span_views if v["placed"]), default=-1)
    return {
        "id": result.id,
        "lang": result.lang or "",
        "text": text,
        "has_text": bool(text),
        "overall": result.overall,
        "n_spans": len(spans),
        "n_unplaced": sum(1 for v in span_views if not v["placed"]),
        "max_overlap": max((seg["depth"] for seg in segments), default=0),
        "lanes": max_lane + 1,
        "lane_px": 4 * max(0, min(max_lane + 1, MAX_LANES) - 1),
        "segments": segments,
        "spans": sorted(span_views, key=lambda v: (v["start"], -v["end"], v["index"])),
        "techniques": scored,
        "undetected": [t for t in techniques if not (t["score"] > 0 or t["spans"] > 0)],
        "probable": probable,
        "paragraphs": paragraphs,
        "profile": result.profile,
        "legend": legend,
        "model": result.model,
        "model_version": result.model_version,
        "scored_at": result.scored_at,
        "n_chars": len(text),
    }


def index_row(
    rank: int,
    value: float,
    result: ArticleResult,
    n_chars: int,
    meta: Mapping[str, Any],
    href: str,
    palette: Palette,
) -> dict[str, Any]:
    """The article's line in ``index.html``: rank, rank value, metadata and its three best techniques.

    ``n_chars``: the length of the text its page showed (0 where none was found).
    """
    detected = [t for t in _technique_rows(result, palette) if t["score"] > 0 or t["spans"] > 0]
    return {
        "rank": rank,
        "value": value,
        "title": meta.get("title") or None,
        "outlet": meta.get("source") or None,
        "date": str(meta.get("published_at") or "")[:10] or None,
        "url": meta.get("url") if _is_web_url(meta.get("url")) else None,
        "id": result.id,
        "lang": result.lang or "",
        "overall": result.overall,
        "pct": max(0.0, min(1.0, result.overall)) * 100.0,
        "n_spans": len(result.spans),
        "top": detected[:3],
        "more": max(0, len(detected) - 3),
        "href": href,
        "chars": n_chars,
    }


def _is_web_url(url: Any) -> bool:
    """Only http(s) links reach the page: a ``javascript:`` URL from a feed must not become a link."""
    return isinstance(url, str) and url.lower().startswith(("http://", "https://"))


# --------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------
def environment():
    """The Jinja2 environment of the report and the dashboard: autoescaping, strict undefined."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = lambda v, spec=".2f": format(v, spec) if v is not None else "–"
    return env


def css(palette: Palette) -> str:
    """Per-category colour rules. Only sanitised class names and hex/rgba colours go in."""
    lines = []
    for c in palette.cats.values():
        lines.append(f".{c['cls']}{{--c:{c['colour']};--bg:{c['bg']};}}")
    return "\n".join(lines)
