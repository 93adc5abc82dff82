"""A static HTML report of scored articles: an index and one page per article.

``write_report(results, out_dir)`` takes the JSONL that ``framescope score`` writes
(or a list of :class:`~framescope.model.scorer.ArticleResult`) and writes
``index.html`` (articles sorted by overall score) and ``articles/<hash>.html`` (the
text with every predicted span highlighted in the colour of its category, overlaps
drawn as stacked underline stripes, and a bar chart of the technique scores).

The pages are self-contained: inline CSS, no JavaScript, no network, so they open from
``file://`` and can be mailed around. Every piece of text goes through Jinja2's
autoescaping, and each page carries a Content-Security-Policy that forbids scripts, so
an article that contains markup shows it as text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence


from framescope.labels.colours import CATEGORY_COLOURS, FALLBACK_COLOURS, UNKNOWN_COLOUR
from framescope.model.scorer import ArticleResult, ParagraphResult, ScoredSpan, TechniqueScore, technique_scores

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


# --------------------------------------------------------------------------------------
# Loading results
# --------------------------------------------------------------------------------------
def load_results(
    source: Path | str | Sequence[ArticleResult | Mapping[str, Any]],
    texts: Mapping[str, str] | None = None,
) -> list[ArticleResult]:
    """Results from a JSONL/JSON file, a folder holding ``results.jsonl``, or a list.

    JSONL lines follow the export schema (``schema_version`` 1.0); every field but the
    spans is optional. ``results.jsonl`` of ``framescope score`` leaves the article
    text out; it is then taken from ``texts`` (id -> text) or from the
    ``labelstudio.json`` written beside it, and only where it matches the record's
    ``text_sha256`` (or, without one, the length and every span's text). A record whose
    text is found nowhere still gets a page listing its spans.
    """
    loaded = _load(source)
    items = [r for r, _ in loaded]
    missing = [(k, check) for k, (r, check) in enumerate(loaded) if not r.text]
    if missing:
        candidates: list[Mapping[str, str]] = []
        if texts:
            candidates.append(texts)
        if isinstance(source, (str, os.PathLike)):
            sidecar = _sidecar_texts(Path(source))
            if sidecar:
                candidates.append(sidecar)
        for k, check in missing:
            r = items[k]
            for pool in candidates:
                text = pool.get(r.id)
                if isinstance(text, str) and text and _text_matches(r, check, text):
                    items[k] = dataclasses.replace(r, text=text)  # the caller's object stays as it was
                    break
    return items


def _text_matches(result: ArticleResult, check: Mapping[str, Any], text: str) -> bool:
    if check.get("sha256"):
        return hashlib.sha256(text.encode("utf-8")).hexdigest() == check["sha256"]
    if check.get("n_chars") is not None and int(check["n_chars"]) != len(text):
        return False
    return all(text[s.start : s.end] == s.text for s in result.spans if s.text)


def _sidecar_texts(path: Path) -> dict[str, str]:
    """Article texts from the Label Studio export that ``framescope score`` writes beside the JSONL."""
    folder = path if path.is_dir() else path.parent
    sidecar = folder / "labelstudio.json"
    if not sidecar.is_file():
        return {}
    try:
        tasks = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out: dict[str, str] = {}
    for task in tasks if isinstance(tasks, list) else []:
        data = task.get("data") if isinstance(task, Mapping) else None
        if isinstance(data, Mapping) and isinstance(data.get("text"), str) and data.get("id") is not None:
            out.setdefault(str(data["id"]), data["text"])
    return out


def _load(
    source: Path | str | Sequence[ArticleResult | Mapping[str, Any]],
) -> list[tuple[ArticleResult, dict[str, Any]]]:
    """Results, each with what a text found elsewhere must match (``text_sha256``, ``n_chars``)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            candidates = [path / "results.jsonl", *sorted(path.glob("*.jsonl"))]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise FileNotFoundError(f"{path}: no results.jsonl (or other .jsonl) in this folder")
            path = found
        raw = path.read_text(encoding="utf-8")
        rows: list[Any]
        stripped = raw.lstrip()
        if stripped.startswith("["):
            try:
                rows = json.loads(raw)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: not valid JSON ({err.msg})") from None
        else:
            rows = []
            # split on "\n" only: str.splitlines() would also cut at U+2028 inside strings
            for n, line in enumerate(raw.split("\n"), 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{n}: not valid JSON ({err.msg})") from None
        return [_from_dict(r, f"{path}:{i + 1}") for i, r in enumerate(rows)]
    out = []
    for i, item in enumerate(source):
        if isinstance(item, ArticleResult):
            out.append((item, {}))
        elif isinstance(item, Mapping):
            out.append(_from_dict(item, f"item {i}"))
        else:
            raise TypeError(f"item {i}: expected ArticleResult or mapping, got {type(item).__name__}")
    return out


def _num(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _from_dict(row: Any, where: str) -> tuple[ArticleResult, dict[str, Any]]:
    if not isinstance(row, Mapping):
        raise ValueError(f"{where}: expected a JSON object per article")
    text = row.get("text")
    text = text if isinstance(text, str) else ""
    raw_spans = row.get("spans") or []
    if isinstance(raw_spans, str):  # the flat CSV row keeps spans as a JSON string
        raw_spans = json.loads(raw_spans)
    spans = []
    for s in raw_spans:
        if not isinstance(s, Mapping) or "technique" not in s:
            continue
        start = int(_num(s.get("start"), -1))
        end = int(_num(s.get("end"), -1))
        span_text = s.get("text")
        if not isinstance(span_text, str):
            span_text = text[start:end] if 0 <= start < end <= len(text) else ""
        spans.append(
            ScoredSpan(
                technique=str(s["technique"]),
                category=str(s.get("category") or ""),
                start=start,
                end=end,
                text=span_text,
                confidence=_num(s.get("confidence")),
            )
        )
    techniques: dict[str, TechniqueScore] = {}
    for name, ts in (row.get("techniques") or {}).items():
        if isinstance(ts, Mapping):
            prob = ts.get("probability")
            techniques[str(name)] = TechniqueScore(
                score=_num(ts.get("score")),
                spans=int(_num(ts.get("spans"))),
                coverage=_num(ts.get("coverage")),
                probability=None if prob is None else _num(prob),
            )
        else:
            techniques[str(name)] = TechniqueScore(score=_num(ts), spans=0, coverage=0.0)
    if not techniques:  # derive from the spans, by the scorer's own definition
        techniques = technique_scores(spans, list(dict.fromkeys(s.technique for s in spans)), len(text))
        if not text:  # no text to measure coverage against
            techniques = {t: TechniqueScore(ts.score, ts.spans, 0.0) for t, ts in techniques.items()}
    categories = {str(k): _num(v) for k, v in (row.get("categories") or {}).items()}
    overall = row.get("overall_score", row.get("overall"))
    overall = _num(overall) if overall is not None else max((t.score for t in techniques.values()), default=0.0)
    kwargs = {}
    if row.get("scored_at"):
        kwargs["scored_at"] = str(row["scored_at"])
    if row.get("profile") is not None:
        kwargs["profile"] = str(row["profile"])
    paragraphs = []
    for p in row.get("paragraphs") or []:
        if isinstance(p, Mapping) and isinstance(p.get("probabilities"), Mapping):
            paragraphs.append(
                ParagraphResult(
                    int(_num(p.get("index"), -1)),
                    int(_num(p.get("start"), -1)),
                    int(_num(p.get("end"), -1)),
                    {str(k): _num(v) for k, v in p["probabilities"].items()},
                )
            )
    kwargs["paragraphs"] = paragraphs
    result = ArticleResult(
        id=str(row.get("id", where)),
        lang=None if row.get("lang") is None else str(row.get("lang")),
        text=text,
        spans=spans,
        techniques=techniques,
        categories=categories,
        overall=overall,
        model=str(row.get("model") or ""),
        model_version=str(row.get("model_version") or ""),
        **kwargs,
    )
    meta = {k: row.get(k) for k in ("title", "source", "url", "published_at") if row.get(k) is not None}
    return result, {"sha256": row.get("text_sha256"), "n_chars": row.get("n_chars"), "meta": meta}


# --------------------------------------------------------------------------------------
# Segmenting text at span boundaries
# --------------------------------------------------------------------------------------
@dataclass
class Segment:
    """A run of text between two consecutive span boundaries.

    ``active`` holds the indices (into the article's span list) of the spans covering
    the whole run, outermost (earliest start, then longest) first.
    """

    start: int
    end: int
    text: str
    active: list[int] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return len(self.active)


def valid_span(span: ScoredSpan, text: str) -> bool:
    return 0 <= span.start < span.end <= len(text)


def segment_text(text: str, spans: Sequence[ScoredSpan]) -> list[Segment]:
    """Split ``text`` at every span start and end; spans with bad offsets are left out."""
    good = [i for i, s in enumerate(spans) if valid_span(s, text)]
    cuts = {0, len(text)}
    for i in good:
        cuts.add(spans[i].start)
        cuts.add(spans[i].end)
    order = sorted(good, key=lambda i: (spans[i].start, -spans[i].end, i))
    bounds = sorted(cuts)
    out = []
    active: list[int] = []  # kept in ``order``: outermost first
    nxt = 0
    for a, b in zip(bounds, bounds[1:]):
        active = [i for i in active if spans[i].end > a]
        while nxt < len(order) and spans[order[nxt]].start <= a:
            active.append(order[nxt])
            nxt += 1
        # boundaries are cut points, so a span covering a covers the whole run [a, b)
        out.append(Segment(a, b, text[a:b], list(active)))
    return out


def assign_lanes(spans: Sequence[ScoredSpan], text: str) -> dict[int, int]:
    """Give each valid span the lowest underline lane free over its whole extent.

    A span keeps its lane from its first character to its last, so its stripe runs
    straight through the segments where other spans start and end.
    """
    lane_end: list[int] = []
    lanes: dict[int, int] = {}
    for i in sorted(
        (i for i, s in enumerate(spans) if valid_span(s, text)), key=lambda i: (spans[i].start, -spans[i].end, i)
    ):
        s = spans[i]
        for lane, end in enumerate(lane_end):
            if end <= s.start:
                lane_end[lane] = s.end
                lanes[i] = lane
                break
        else:
            lanes[i] = len(lane_end)
            lane_end.append(s.end)
    return lanes


# --------------------------------------------------------------------------------------
# View models
# --------------------------------------------------------------------------------------
def _slug(value: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-")
    return slug or "unknown"


def _pretty(name: str) -> str:
    return name.replace("_", " ")


def _hex_rgba(colour: str, alpha: float) -> str:
    c = colour.lstrip("#")
    r, g, b = int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    return f"rgba({r}, {g}, {b}, {alpha:.2f})"


class _Palette:
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


def _page_name(article_id: str, used: set[str]) -> str:
    n = 0
    while True:
        key = article_id if n == 0 else f"{article_id}\x00{n}"
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20] + ".html"
        if name not in used:
            used.add(name)
            return name
        n += 1


def _technique_rows(result: ArticleResult, palette: _Palette) -> list[dict[str, Any]]:
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


def _article_view(result: ArticleResult, palette: _Palette) -> dict[str, Any]:
    text = result.text or ""
    spans = result.spans
    lanes = assign_lanes(spans, text)
    span_views = []
    for i, s in enumerate(spans):
        cat = palette.add(palette.category_of(s))
        span_views.append(
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
    # a count badge at the start of each stretch where BADGE_DEPTH or more spans overlap
    # (two are easy to read from the stripes), showing the deepest overlap of the stretch
    run_start = None
    for k, seg in enumerate(segments + [{"depth": 0}]):
        if seg["depth"] >= 2 and run_start is None:
            run_start = k
        elif seg["depth"] < 2 and run_start is not None:
            deepest = max(s["depth"] for s in segments[run_start:k])
            if deepest >= BADGE_DEPTH:
                segments[run_start]["badge"] = deepest
            run_start = None
    techniques = _technique_rows(result, palette)
    detected = [t for t in techniques if t["score"] > 0 or t["spans"] > 0]
    undetected = [t for t in techniques if not (t["score"] > 0 or t["spans"] > 0)]
    # the article stage's calibrated probabilities, most likely first
    probable = sorted(
        (t for t in techniques if t["probability"] is not None), key=lambda t: (-t["probability"], t["name"])
    )
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
    cat_counts: dict[str, int] = {}
    for v in span_views:
        cat_counts[v["cat"]["id"]] = cat_counts.get(v["cat"]["id"], 0) + 1
    for cid in result.categories:
        palette.add(cid)
    legend = [
        {**c, "score": result.categories.get(c["id"]), "count": cat_counts.get(c["id"], 0)}
        for c in palette.cats.values()
        if c["id"] != "unknown" or cat_counts.get("unknown")
    ]
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
        "techniques": detected,
        "undetected": undetected,
        "probable": probable,
        "paragraphs": paragraphs,
        "profile": result.profile,
        "legend": legend,
        "model": result.model,
        "model_version": result.model_version,
        "scored_at": result.scored_at,
        "n_chars": len(text),
    }


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
def _environment():
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


def rank_key(rank_by: str | None, items: Sequence[ArticleResult]):
    """The index's order: ``(value, label)`` per article, highest first.

    ``rank_by``: ``prob_<Technique>`` (the calibrated article probability), ``score_<Technique>``
    (the best span) or ``overall``; default: the highest calibrated probability of any
    technique where the articles have them (what analysts should rank on), else ``overall``.
    """
    has_prob = any(ts.probability is not None for r in items for ts in r.techniques.values())
    if rank_by is None:
        rank_by = "max_prob" if has_prob else "overall"
    if rank_by == "overall":
        return (lambda r: r.overall), "overall score (best span)"
    if rank_by == "max_prob":
        return (
            lambda r: max((ts.probability for ts in r.techniques.values() if ts.probability is not None), default=0.0)
        ), "highest calibrated probability of any technique"
    kind, _, technique = rank_by.partition("_")
    known = {t for r in items for t in r.techniques}
    if kind not in ("prob", "score") or (items and technique not in known):
        raise ValueError(f"--rank-by {rank_by!r}: expected prob_<Technique>, score_<Technique> or overall")
    if kind == "prob":
        return (lambda r: _prob(r, technique)), f"calibrated probability of {technique}"
    return (lambda r: r.techniques[technique].score if technique in r.techniques else 0.0), f"best span of {technique}"


def _prob(result: ArticleResult, technique: str) -> float:
    ts = result.techniques.get(technique)
    return ts.probability if ts is not None and ts.probability is not None else 0.0


def render_report(
    results: Path | str | Sequence[ArticleResult | Mapping[str, Any]],
    taxonomy: Any = None,
    texts: Mapping[str, str] | None = None,
    meta: Mapping[str, Mapping[str, Any]] | None = None,
    rank_by: str | None = None,
) -> dict[str, str]:
    """The report as ``{relative path: HTML}``; ``write_report`` writes it to disk.

    ``meta``: per article id its ``title``, ``source``, ``url``, ``published_at`` for the
    index (read from the JSONL records when ``results`` is a file); ``rank_by``: see
    :func:`rank_key`.
    """
    items = load_results(results, texts=texts)
    if meta is None and isinstance(results, (str, os.PathLike)):
        meta = {r.id: check.get("meta") or {} for r, check in _load(results)}
    meta = meta or {}
    value, ranked_by = rank_key(rank_by, items)
    if taxonomy is None:
        try:
            from framescope.labels.taxonomy import load_taxonomy

            taxonomy = load_taxonomy()
        except Exception:  # pragma: no cover - the default taxonomy ships with the package
            taxonomy = None
    elif not hasattr(taxonomy, "categories"):
        from framescope.labels.taxonomy import load_taxonomy

        taxonomy = load_taxonomy(taxonomy)
    palette = _Palette(taxonomy)
    # the palette learns every category before any page is rendered: same colours everywhere
    for r in items:
        for s in r.spans:
            palette.add(palette.category_of(s))
        for cid in r.categories:
            palette.add(cid)

    order = sorted(range(len(items)), key=lambda i: (-value(items[i]), items[i].id, i))
    used: set[str] = set()
    pages = {i: "articles/" + _page_name(items[i].id, used) for i in range(len(items))}
    env = _environment()
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    models = sorted({f"{r.model} {r.model_version}".strip() for r in items if r.model or r.model_version})
    profiles = sorted({r.profile for r in items})
    files: dict[str, str] = {}
    rows = []
    article_tpl = env.get_template("article.html.j2")
    for rank, i in enumerate(order, 1):
        view = _article_view(items[i], palette)
        prev_page = pages[order[rank - 2]] if rank > 1 else None
        next_page = pages[order[rank]] if rank < len(order) else None
        files[pages[i]] = article_tpl.render(
            a=view,
            rank=rank,
            total=len(order),
            prev=prev_page and "../" + prev_page,
            next=next_page and "../" + next_page,
            css=_css(palette),
            low=LOW_CONFIDENCE,
            paragraph_shown=PARAGRAPH_SHOWN,
            generated=generated,
        )
        m = meta.get(items[i].id) or {}
        rows.append(
            {
                "rank": rank,
                "value": value(items[i]),
                "title": m.get("title") or None,
                "outlet": m.get("source") or None,
                "date": str(m.get("published_at") or "")[:10] or None,
                "url": m.get("url") if _is_web_url(m.get("url")) else None,
                "id": view["id"],
                "lang": view["lang"],
                "overall": view["overall"],
                "pct": max(0.0, min(1.0, view["overall"])) * 100.0,
                "n_spans": view["n_spans"],
                "top": view["techniques"][:3],
                "more": max(0, len(view["techniques"]) - 3),
                "href": pages[i],
                "chars": view["n_chars"],
            }
        )
    files["index.html"] = env.get_template("index.html.j2").render(
        rows=rows,
        legend=list(palette.cats.values()),
        models=models,
        profiles=profiles,
        generated=generated,
        css=_css(palette),
        taxonomy=str(taxonomy.identity) if taxonomy is not None else "",
        ranked_by=ranked_by,
    )
    return files


def _is_web_url(url: Any) -> bool:
    """Only http(s) links reach the page: a ``javascript:`` URL from a feed must not become a link."""
    return isinstance(url, str) and url.lower().startswith(("http://", "https://"))


def _css(palette: _Palette) -> str:
    """Per-category colour rules. Only sanitised class names and hex/rgba colours go in."""
    lines = []
    for c in palette.cats.values():
        lines.append(f".{c['cls']}{{--c:{c['colour']};--bg:{c['bg']};}}")
    return "\n".join(lines)


def write_report(
    results: Path | str | Sequence[ArticleResult | Mapping[str, Any]],
    out_dir: Path | str,
    taxonomy: Any = None,
    texts: Mapping[str, str] | None = None,
    meta: Mapping[str, Mapping[str, Any]] | None = None,
    rank_by: str | None = None,
) -> Path:
    """Write the HTML report into ``out_dir`` and return the path of its ``index.html``.

    ``results``: a JSONL export of ``framescope score`` (or a folder holding
    ``results.jsonl``), or a list of ``ArticleResult``. ``taxonomy``: a Taxonomy, a
    built-in name or a YAML path, for category names and order (default semeval2023).
    ``texts``: article texts by id, for results that leave the text out (see
    :func:`load_results`).

    A new ``out_dir`` is built in a temporary sibling folder and renamed into place, so
    it appears whole or not at all. Into an existing folder each file is replaced
    atomically, article pages first and ``index.html`` last, so the index never links
    to a page that is not there yet.
    """
    from framescope.labels.atomic import atomic_open

    files = render_report(results, taxonomy, texts, meta, rank_by)
    out = Path(out_dir)
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        try:
            for rel, html in files.items():
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(html, encoding="utf-8")
            os.chmod(tmp, 0o755)
            os.rename(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    else:
        if not out.is_dir():
            raise NotADirectoryError(f"{out}: exists and is not a folder")
        foreign = [rel for rel in files if (out / rel).exists() and not written_by_framescope(out / rel)]
        if foreign:  # never overwrite what framescope did not write
            raise ValueError(f"{out / foreign[0]}: exists and is not a framescope report page; choose another --out")
        for rel in sorted(files, key=lambda r: r == "index.html"):
            with atomic_open(out / rel) as fh:
                fh.write(files[rel])
    return out / "index.html"


def dataset_results(dataset: Path | str) -> tuple[list[ArticleResult], dict[str, dict[str, Any]]]:
    """The latest version of every article of a dataset, with its spans, paragraphs, text and metadata.

    Read through the shared views (:mod:`framescope.inference.views`), so the report has
    exactly the articles the dashboard counts and links to (page names hash the id).
    """
    from framescope.inference import views
    from framescope.inference.dataset import is_dataset

    if not is_dataset(dataset):
        raise ValueError(f"{dataset}: not a dataset (no dataset.json)")
    con, info = views.connect(dataset)
    try:

        def rows(sql: str) -> list[dict[str, Any]]:
            cur = con.execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

        arts = rows("SELECT * FROM articles_latest ORDER BY id")
        spans = rows('SELECT * FROM spans_latest ORDER BY article_id, start, "end", technique')
        paras = rows("SELECT * FROM paragraphs_latest ORDER BY article_id, paragraph")
        texts = {r["article_id"]: r["text"] for r in rows("SELECT article_id, text FROM texts_latest")}
    finally:
        con.close()
    by_id: dict[str, list] = {}
    for s in spans:
        by_id.setdefault(s["article_id"], []).append(s)
    paras_of: dict[str, list] = {}
    for p in paras:
        paras_of.setdefault(p["article_id"], []).append(p)
    items, meta = [], {}
    for a in arts:
        items.append(
            _dataset_article(
                a,
                by_id.get(a["id"], []),
                paras_of.get(a["id"], []),
                texts.get(a["id"]) or "",
                info["techniques"],
                info["categories"],
            )
        )
        meta[a["id"]] = {
            "title": a.get("title"),
            "source": a.get("outlet"),
            "url": a.get("url"),
            "published_at": a["published_date"].isoformat() if a.get("published_date") else None,
        }
    return items, meta


def _dataset_article(
    a: dict, spans: list[dict], paras: list[dict], text: str, techniques: Sequence[str], categories: Sequence[str]
) -> ArticleResult:
    scored = [
        ScoredSpan(s["technique"], s["category"], int(s["start"]), int(s["end"]), s["text"], float(s["confidence"]))
        for s in spans
    ]
    counted = technique_scores(scored, list(techniques), len(text) or int(a.get("n_chars") or 0))
    tech = {
        t: TechniqueScore(
            float(a[f"score_{t}"]),
            counted[t].spans,
            counted[t].coverage if text else 0.0,
            probability=a.get(f"prob_{t}"),
        )
        for t in techniques
    }
    paragraphs = [
        ParagraphResult(
            int(p["paragraph"]),
            int(p["start"]),
            int(p["end"]),
            {t: float(p[f"prob_{t}"]) for t in techniques if p.get(f"prob_{t}") is not None},
        )
        for p in paras
    ]
    return ArticleResult(
        id=a["id"],
        lang=a.get("lang"),
        text=text,
        spans=scored,
        techniques=tech,
        categories={c: float(a[f"category_{c}"]) for c in categories},
        overall=float(a["overall_score"]),
        model=str(a.get("model") or ""),
        model_version=str(a.get("model_version") or ""),
        profile=str(a.get("profile") or "balanced"),
        paragraphs=paragraphs,
        scored_at=a["scored_at"].isoformat() if hasattr(a["scored_at"], "isoformat") else str(a["scored_at"]),
    )


def written_by_framescope(page: Path) -> bool:
    """A page of an earlier report: its head names framescope as the generator (the one check,
    used before overwriting a page and by :mod:`framescope.inference.outdir`)."""
    try:
        with open(page, encoding="utf-8", errors="replace") as fh:
            head = fh.read(2000)
    except OSError:
        return False
    return '<meta name="generator" content="framescope">' in head
