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

A report over a run of any size is written in bounded memory: the results are read once
for the ranking and then once per page (:mod:`framescope.inference.report_build`); the
article texts, which ``results.jsonl`` leaves out, are read from the run's journal
(:mod:`framescope.inference.report_texts`). The pieces: cutting text at span boundaries
(:mod:`~framescope.inference.report_segments`), what a page shows
(:mod:`~framescope.inference.report_pages`), reading results
(:mod:`~framescope.inference.report_source`), a dataset's articles
(:mod:`~framescope.inference.report_dataset`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence


from framescope.labels.colours import CATEGORY_COLOURS  # noqa: F401 - importable from here, as before
from framescope.model.scorer import ArticleResult
from framescope.inference.report_build import ReportBuilder, ranking
from framescope.inference.report_dataset import dataset_results  # noqa: F401 - importable from here, as before
from framescope.inference.report_pages import (  # noqa: F401 - the report's names, importable from here
    BADGE_DEPTH,
    LOW_CONFIDENCE,
    MAX_LANES,
    PARAGRAPH_SHOWN,
    PARAGRAPH_TOP,
    PREVIEW_CHARS,
    TEMPLATES,
    page_name,
)
from framescope.inference.report_pages import Palette as _Palette  # noqa: F401
from framescope.inference.report_pages import article_view as _article_view  # noqa: F401
from framescope.inference.report_pages import environment as _environment  # noqa: F401
from framescope.inference.report_segments import Segment, assign_lanes, segment_text, valid_span  # noqa: F401
from framescope.inference.report_source import ResultSource

Results = Path | str | Iterable[ArticleResult | Mapping[str, Any]]


# --------------------------------------------------------------------------------------
# Loading results
# --------------------------------------------------------------------------------------
def load_results(source: Results, texts: Mapping[str, str] | None = None) -> list[ArticleResult]:
    """Results from a JSONL/JSON file, a folder holding ``results.jsonl``, or a list.

    JSONL lines follow the export schema (``schema_version`` 1.0); every field but the
    spans is optional. ``results.jsonl`` of ``framescope score`` leaves the article
    text out; it is then taken from ``texts`` (id -> text) or from the journal of the
    run that wrote the file, and only where it matches the record's ``text_sha256``
    (or, without one, the length and every span's text). A record whose text is found
    nowhere still gets a page listing its spans.
    """
    src = ResultSource(source, _parse_row, texts)
    return [r if r.text else src.with_text(r, check) for r, check in list(src.scan())]


def _parse_row(row: Any, where: str) -> tuple[ArticleResult, dict[str, Any]]:
    """A row read back by the record's tolerant parser, with what a text found elsewhere must
    match (its ``text_sha256`` or ``n_chars``) and the metadata the report shows."""
    result = ArticleResult.from_dict(row, where)
    meta = {
        k: result.metadata[k] for k in ("title", "source", "url", "published_at") if result.metadata.get(k) is not None
    }
    return result, {"sha256": result.text_sha256, "n_chars": result.n_chars, "meta": meta}


# --------------------------------------------------------------------------------------
# Rendering and writing
# --------------------------------------------------------------------------------------
def rank_key(rank_by: str | None, items: Sequence[ArticleResult]):
    """The index's order: the value to sort by (highest first) and its label (see
    :func:`framescope.inference.report_build.ranking`)."""
    has_prob = any(ts.probability is not None for r in items for ts in r.techniques.values())
    return ranking(rank_by, has_prob, {t for r in items for t in r.techniques} if items else None)


def _builder(results: Results, taxonomy: Any, texts, meta, rank_by: str | None) -> ReportBuilder:
    return ReportBuilder(ResultSource(results, _parse_row, texts), taxonomy, meta, rank_by)


def render_report(
    results: Results,
    taxonomy: Any = None,
    texts: Mapping[str, str] | None = None,
    meta: Mapping[str, Mapping[str, Any]] | None = None,
    rank_by: str | None = None,
) -> dict[str, str]:
    """The report as ``{relative path: HTML}``, every page in memory; ``write_report`` writes
    it to disk a page at a time.

    ``meta``: per article id its ``title``, ``source``, ``url``, ``published_at`` for the
    index (read from the JSONL records when ``results`` is a file); ``rank_by``: see
    :func:`rank_key`.
    """
    builder = _builder(results, taxonomy, texts, meta, rank_by)
    files = dict(builder.articles())
    files["index.html"] = "".join(builder.index())
    return files


def write_report(
    results: Results,
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
    :func:`load_results`). Pages are rendered and written one at a time, so memory does
    not grow with the number of articles.

    A new ``out_dir`` is built in a temporary sibling folder and renamed into place, so
    it appears whole or not at all. Into an existing folder each file is replaced
    atomically, article pages first and ``index.html`` last, so the index never links
    to a page that is not there yet.
    """
    builder = _builder(results, taxonomy, texts, meta, rank_by)  # every refusal comes before anything is written
    out = Path(out_dir)
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        try:
            _write_pages(builder, tmp, atomic=False)
            os.chmod(tmp, 0o755)
            os.rename(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    else:
        if not out.is_dir():
            raise NotADirectoryError(f"{out}: exists and is not a folder")
        foreign = [rel for rel in builder.names() if (out / rel).exists() and not written_by_framescope(out / rel)]
        if foreign:  # never overwrite what framescope did not write
            raise ValueError(f"{out / foreign[0]}: exists and is not a framescope report page; choose another --out")
        _write_pages(builder, out, atomic=True)
    return out / "index.html"


def _write_pages(builder: ReportBuilder, folder: Path, atomic: bool) -> None:
    """The article pages in rank order, then ``index.html``; ``atomic``: each replaces its file by a rename."""
    from framescope.labels.atomic import atomic_open

    def write(rel: str, pieces: Iterable[str]) -> None:
        if atomic:
            with atomic_open(folder / rel) as fh:
                fh.writelines(pieces)
            return
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", encoding="utf-8") as fh:
            fh.writelines(pieces)

    for rel, html in builder.articles():
        write(rel, [html])
    write("index.html", builder.index())


def written_by_framescope(page: Path) -> bool:
    """A page of an earlier report: its head names framescope as the generator (the one check,
    used before overwriting a page and by :mod:`framescope.inference.outdir`)."""
    try:
        with open(page, encoding="utf-8", errors="replace") as fh:
            head = fh.read(2000)
    except OSError:
        return False
    return '<meta name="generator" content="framescope">' in head
