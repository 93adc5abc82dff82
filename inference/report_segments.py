"""Cutting an article's text at span boundaries, and giving each span an underline lane.

The report draws every predicted span as an underline stripe in its category's colour.
Spans overlap, so the text is cut at every span start and end into segments, each knowing
the spans that cover it whole, and each span keeps one lane (a vertical offset of its
stripe) from its first character to its last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from framescope.model.scorer import ScoredSpan


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
