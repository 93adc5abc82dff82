"""Category colours: one palette for everything that colours techniques by category.

The HTML report, the dashboard and the Label Studio labeling config
(``framescope labelstudio config``) all take their colours from here, so a category
looks the same in a model's report and in the annotation tool that reviews it.
"""

from __future__ import annotations

from typing import Iterable

# Colour-blind-safe hues (Paul Tol's "bright"/"vibrant" schemes) for the six SemEval-2023
# categories; other taxonomies' categories take the fallback palette in order.
CATEGORY_COLOURS: dict[str, str] = {
    "attack_on_reputation": "#cc3311",
    "justification": "#0077bb",
    "simplification": "#009988",
    "distraction": "#aa3377",
    "call": "#ee7733",
    "manipulative_wording": "#b59a00",
}
FALLBACK_COLOURS = [
    "#4477aa",
    "#ee6677",
    "#228833",
    "#ccbb44",
    "#66ccee",
    "#8c564b",
    "#332288",
    "#117733",
    "#882255",
    "#44aa99",
    "#999933",
    "#dd7788",
    "#6699cc",
    "#997700",
]
UNKNOWN_COLOUR = "#777777"


def category_colours(categories: Iterable[str]) -> dict[str, str]:
    """A colour per category id, in the given order: the named hues first, the fallbacks in turn.

    The same rule as the report's palette, so the same taxonomy gets the same colours.
    """
    out: dict[str, str] = {}
    fallback = 0
    for cid in categories:
        if cid in out:
            continue
        if not cid or cid == "unknown":
            out[cid] = UNKNOWN_COLOUR
        elif cid in CATEGORY_COLOURS:
            out[cid] = CATEGORY_COLOURS[cid]
        else:
            out[cid] = FALLBACK_COLOURS[fallback % len(FALLBACK_COLOURS)]
            fallback += 1
    return out
