"""The Label Studio labeling config that framescope reads and writes (``framescope labelstudio config``).

Spans are ``<Label>`` values of the ``label`` control over the ``text`` field; the article as a
whole gets a multiple ``<Choices>`` named ``article``. The names live here, once, because the
reader (:mod:`framescope.labels.formats.labelstudio_tasks`) and the writers
(:mod:`framescope.labels.formats.labelstudio`) must agree with the config a project was set up with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable
from xml.sax.saxutils import quoteattr

if TYPE_CHECKING:
    from framescope.labels.taxonomy import Taxonomy

FROM_NAME = "label"
TO_NAME = "text"
ARTICLE_NAME = "article"  # the article-level <Choices>


def labeling_config(technique_names: Iterable[str], taxonomy: "Taxonomy | None" = None) -> str:
    """The Label Studio labeling config XML for these techniques.

    Spans are ``<Label>`` values of the ``label`` control over ``$text`` (what :func:`labelstudio.read`
    reads and :func:`labelstudio.write_predictions` writes); the article as a whole gets a multiple
    ``<Choices>`` named ``article`` with the same techniques (read into
    ``meta["article_techniques"]``). With a ``taxonomy``, both are grouped by category in
    the taxonomy's order, under a header per category, and each label takes its category's
    colour (:mod:`framescope.labels.colours`, the report's palette); techniques the taxonomy
    does not know come last, in grey.
    """
    groups = _groups(list(technique_names), taxonomy)
    label_lines, choice_lines = [], []
    for title, colour, names in groups:
        label_lines += _group_xml(title, names, "Label", colour)
        choice_lines += _group_xml(title, names, "Choice", None)
    inline = "false" if taxonomy is not None else "true"
    return (
        "<View>\n"
        f'  <Labels name="{FROM_NAME}" toName="{TO_NAME}" showInline="{inline}">\n'
        + "".join(f"    {line}\n" for line in label_lines)
        + "  </Labels>\n"
        f'  <Text name="{TO_NAME}" value="$text"/>\n'
        '  <Header value="Techniques in the article as a whole"/>\n'
        f'  <Choices name="{ARTICLE_NAME}" toName="{TO_NAME}" choice="multiple" showInline="true">\n'
        + "".join(f"    {line}\n" for line in choice_lines)
        + "  </Choices>\n"
        "</View>\n"
    )


def _groups(names: list[str], taxonomy: "Taxonomy | None") -> list[tuple[str | None, str | None, list[str]]]:
    """(header, colour, techniques) per category in taxonomy order; one untitled group without a taxonomy."""
    if taxonomy is None:
        return [(None, None, names)]
    from framescope.labels.colours import UNKNOWN_COLOUR, category_colours

    known = [n for n in names if n in taxonomy.names]
    order = list(taxonomy.categories) + [taxonomy.category_of(n) for n in known]
    colours = category_colours(order)
    out = []
    for cid in dict.fromkeys(order):
        members = [n for n in known if taxonomy.category_of(n) == cid]
        if members:
            title = str(taxonomy.categories.get(cid, {}).get("name") or cid.replace("_", " ").capitalize())
            out.append((title, colours[cid], members))
    other = [n for n in names if n not in taxonomy.names]
    if other:
        out.append(("Other", UNKNOWN_COLOUR, other))
    return out


def _group_xml(title: str | None, names: list[str], tag: str, colour: str | None) -> list[str]:
    lines = [f'<Header value={quoteattr(title)} size="6"/>'] if title is not None else []
    paint = f" background={quoteattr(colour)}" if colour else ""
    return lines + [f"<{tag} value={quoteattr(str(name))}{paint}/>" for name in names]
