"""Semantic checks on documents: offsets inside the text, known techniques, unique ids.

Overlapping spans, also across techniques, are legal: they are what real data looks like.
An *exact* duplicate (same offsets, same technique) is reported as a warning: it is almost
always an annotation-tool or merge accident and would count twice against recall in
evaluation, but published corpora contain some (PTC-2020 train has one), so it must not
make those corpora unreadable.
"""

from __future__ import annotations

from typing import Iterable

from framescope.labels.document import Document, Problem
from framescope.labels.taxonomy import Taxonomy, load_taxonomy


def validate(docs: Iterable[Document], taxonomy: Taxonomy | str | None = None) -> list[Problem]:
    taxonomy = load_taxonomy(taxonomy)
    problems: list[Problem] = []
    first_seen: dict[str, Document] = {}
    for doc in docs:
        if doc.id in first_seen:
            prev = first_seen[doc.id].source
            where = f" (first at {prev})" if prev is not None else ""
            problems.append(Problem(f"duplicate id {doc.id!r}{where}", doc.source, doc_id=doc.id))
        else:
            first_seen[doc.id] = doc
        n = len(doc.text)
        seen_spans: set[tuple[int, int, str]] = set()
        for span in doc.spans:
            loc = span.source or doc.source
            key = (span.start, span.end, span.technique)
            if key in seen_spans:
                problems.append(
                    Problem(
                        f"exact duplicate span ({span.technique} annotated twice at the same offsets)",
                        loc,
                        doc_id=doc.id,
                        span=(span.start, span.end),
                        level="warning",
                    )
                )
            seen_spans.add(key)
            if not (0 <= span.start < span.end <= n):
                if span.start >= span.end:
                    why = "start must be before end"
                elif span.start < 0:
                    why = "start is negative"
                else:
                    why = f"end is past the end of the article ({n} characters)"
                problems.append(Problem(why, loc, doc_id=doc.id, span=(span.start, span.end)))
            if not taxonomy.is_known(span.technique):
                problems.append(
                    Problem(
                        f"unknown technique {span.technique!r} in taxonomy {taxonomy.name}",
                        loc,
                        doc_id=doc.id,
                        span=(span.start, span.end),
                    )
                )
    return problems
