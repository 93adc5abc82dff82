"""Building the report in two passes, so its memory does not grow with the number of articles.

The first pass (:class:`ReportBuilder` itself) reads every result once and keeps per
article only what orders and names the pages: its rank value, id, page name and where
to read it back. :meth:`ReportBuilder.articles` then renders the pages in rank order,
reading each result back, and :meth:`ReportBuilder.index` streams ``index.html`` row by
row. Every check that can refuse a report (unreadable records, an unknown ``--rank-by``,
a taxonomy that does not load) happens in the first pass, before anything is written.
"""

from __future__ import annotations

from array import array
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping

from framescope.model.scorer import ArticleResult
from framescope.inference.report_pages import (
    LOW_CONFIDENCE,
    PARAGRAPH_SHOWN,
    Palette,
    article_view,
    css,
    environment,
    index_row,
    page_name,
)
from framescope.inference.report_source import ResultSource

Value = Callable[[ArticleResult], float]


def ranking(rank_by: str | None, has_prob: bool, known: set[str] | None) -> tuple[Value, str]:
    """The index's order: the value to sort by (highest first) and its label.

    ``rank_by``: ``prob_<Technique>`` (the calibrated article probability), ``score_<Technique>``
    (the best span) or ``overall``; default: the highest calibrated probability of any
    technique where the articles have them (``has_prob``: what analysts should rank on),
    else ``overall``. ``known``: the techniques of the articles (None: not checked).
    """
    if rank_by is None:
        rank_by = "max_prob" if has_prob else "overall"
    if rank_by == "overall":
        return (lambda r: r.overall), "overall score (best span)"
    if rank_by == "max_prob":
        return _max_prob, "highest calibrated probability of any technique"
    kind, _, technique = rank_by.partition("_")
    if kind not in ("prob", "score") or (known is not None and technique not in known):
        raise ValueError(f"--rank-by {rank_by!r}: expected prob_<Technique>, score_<Technique> or overall")
    if kind == "prob":
        return (lambda r: _prob(r, technique)), f"calibrated probability of {technique}"
    return (lambda r: r.techniques[technique].score if technique in r.techniques else 0.0), f"best span of {technique}"


def _max_prob(result: ArticleResult) -> float:
    return max((ts.probability for ts in result.techniques.values() if ts.probability is not None), default=0.0)


def _prob(result: ArticleResult, technique: str) -> float:
    ts = result.techniques.get(technique)
    return ts.probability if ts is not None and ts.probability is not None else 0.0


def resolve_taxonomy(taxonomy: Any) -> Any:
    """A Taxonomy from a Taxonomy, a built-in name or a YAML path; None: the default one."""
    from framescope.labels.taxonomy import load_taxonomy

    if taxonomy is None:
        try:
            return load_taxonomy()
        except Exception:  # pragma: no cover - the default taxonomy ships with the package
            return None
    return taxonomy if hasattr(taxonomy, "categories") else load_taxonomy(taxonomy)


class _Rows:
    """The index's rows, made one at a time as the template reaches them (it asks their number first)."""

    def __init__(self, count: int, make: Callable[[], Iterator[dict[str, Any]]]):
        self.count, self.make = count, make

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.make()


class ReportBuilder:
    """A report over ``source``: the first pass runs here, the pages come from :meth:`articles` and :meth:`index`.

    ``meta``: per article id its ``title``, ``source``, ``url``, ``published_at`` for the
    index (default: read from the records of a results file); ``rank_by``: see :func:`ranking`.
    """

    def __init__(
        self,
        source: ResultSource,
        taxonomy: Any = None,
        meta: Mapping[str, Mapping[str, Any]] | None = None,
        rank_by: str | None = None,
    ):
        self.source = source
        self.meta = meta if meta is not None else None if source.from_file else {}
        self.pages: list[str] = []  # per article (source order): the name of its page under articles/
        self._dups: dict[str, int] = {}  # an id with several records: its last one (whose metadata the index shows)
        self._colours: dict[tuple[str, str | None], None] = {}  # what teaches the palette, in first-seen order
        ids, values = self._first_pass(rank_by)
        self.value, self.ranked_by = ranking(rank_by, self._has_prob, self._known if ids else None)
        if values is None:  # the default order: known only now that every article was read
            values = self._by_prob if self._has_prob else self._by_overall
        self.order = array("q", sorted(range(len(ids)), key=lambda i: (-values[i], ids[i], i)))
        del self._by_overall, self._by_prob
        self.taxonomy = resolve_taxonomy(taxonomy)
        self.palette = self._learn_palette()
        self.n_chars = array("q", [0]) * len(self.order)
        self.env = environment()
        self.generated = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def _first_pass(self, rank_by: str | None) -> tuple[list[str], array | None]:
        """Read every result once: ids, page names, rank values and what the index's header lists."""
        try:
            value = None if rank_by is None else ranking(rank_by, True, None)[0]
        except ValueError:
            value = None  # refused after the pass, as an unknown technique is
        ids: list[str] = []
        values, self._by_overall, self._by_prob = array("d"), array("d"), array("d")
        used: set[str] = set()
        self._has_prob, self._known = False, set()
        self.models, self.profiles = set(), set()
        for k, (r, _check) in enumerate(self.source.scan()):
            ids.append(r.id)
            name = page_name(r.id, used)
            if name != page_name(r.id):
                self._dups[r.id] = k
            self.pages.append(name)  # the same string as in ``used``: stored once
            if value is not None:
                values.append(value(r))
            self._by_overall.append(r.overall)
            self._by_prob.append(_max_prob(r))
            self._has_prob = self._has_prob or any(ts.probability is not None for ts in r.techniques.values())
            self._known.update(r.techniques)
            if r.model or r.model_version:
                self.models.add(f"{r.model} {r.model_version}".strip())
            self.profiles.add(r.profile)
            for s in r.spans:
                self._colours.setdefault((s.category, s.technique if not s.category else ""), None)
            for cid in r.categories:
                self._colours.setdefault((cid, None), None)
        return ids, (values if value is not None else None)

    def _learn_palette(self) -> Palette:
        """Every category gets its colour before any page is rendered: the same colours everywhere."""
        from types import SimpleNamespace

        palette = Palette(self.taxonomy)
        for category, technique in self._colours:
            if technique is None:
                palette.add(category)
            else:
                palette.add(palette.category_of(SimpleNamespace(category=category, technique=technique)))
        return palette

    def names(self) -> list[str]:
        """The files of the report, relative to its folder: the pages in rank order, then ``index.html``."""
        return [self._page(k) for k in self.order] + ["index.html"]

    def _page(self, k: int) -> str:
        return "articles/" + self.pages[k]

    def articles(self) -> Iterator[tuple[str, str]]:
        """``(relative path, HTML)`` of each article page, in rank order, rendered one at a time."""
        template = self.env.get_template("article.html.j2")
        order, page = self.order, self._page
        for rank, k in enumerate(order, 1):
            result, _ = self.source.get(k)
            view = article_view(result, self.palette)
            self.n_chars[k] = view["n_chars"]
            prev_page = page(order[rank - 2]) if rank > 1 else None
            next_page = page(order[rank]) if rank < len(order) else None
            yield (
                page(k),
                template.render(
                    a=view,
                    rank=rank,
                    total=len(order),
                    prev=prev_page and "../" + prev_page,
                    next=next_page and "../" + next_page,
                    css=css(self.palette),
                    low=LOW_CONFIDENCE,
                    paragraph_shown=PARAGRAPH_SHOWN,
                    generated=self.generated,
                ),
            )

    def index(self) -> Iterator[str]:
        """``index.html`` in pieces, its rows read back one at a time; after :meth:`articles` has run
        (the pages complete the palette and measure the texts)."""
        return self.env.get_template("index.html.j2").generate(
            rows=_Rows(len(self.order), self._rows),
            legend=list(self.palette.cats.values()),
            models=sorted(self.models),
            profiles=sorted(self.profiles),
            generated=self.generated,
            css=css(self.palette),
            taxonomy=str(self.taxonomy.identity) if self.taxonomy is not None else "",
            ranked_by=self.ranked_by,
        )

    def _rows(self) -> Iterator[dict[str, Any]]:
        for rank, k in enumerate(self.order, 1):
            result, check = self.source.get(k, with_text=False)
            meta = self._meta(result.id, check)
            yield index_row(rank, self.value(result), result, self.n_chars[k], meta, self._page(k), self.palette)

    def _meta(self, article_id: str, check: Mapping[str, Any]) -> Mapping[str, Any]:
        if self.meta is not None:
            return self.meta.get(article_id) or {}
        last = self._dups.get(article_id)
        if last is not None:  # a repeated id shows the metadata of its last record on every page
            check = self.source.get(last, with_text=False)[1]
        return check.get("meta") or {}
