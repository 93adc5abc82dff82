"""The dashboard's example spans: the strongest spans of each technique, in their sentence.

Each example shows the sentence around the span, cut from the article's text: the
dataset's texts, or for an export folder of ``framescope score`` the run's journal
(:mod:`framescope.inference.report_texts`). It links to the article's page in the HTML
report, named by the report's own :func:`~framescope.inference.report_pages.page_name`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from framescope.inference.dashboard_charts import _day
from framescope.inference.views import UNDATED

if TYPE_CHECKING:
    from framescope.inference.dashboard import Data

EXAMPLE_CHARS = 280
CONTEXT_CHARS = 160  # at most this many characters of the sentence on each side of an example span
SENTENCE_ENDS = (".", "!", "?", "…", "\n")


def span_context(text: str, start: int, end: int, limit: int = CONTEXT_CHARS) -> tuple[str, str]:
    """The sentence around ``text[start:end]``: what precedes it back to the sentence start, what follows to its end.

    A sentence ends at ``.``, ``!``, ``?``, ``…`` or a line break; each side is cut to
    ``limit`` characters (with an ellipsis), so a span in a long paragraph stays readable.
    """
    if not (0 <= start <= end <= len(text)):
        return "", ""
    left = max((text.rfind(c, 0, start) for c in SENTENCE_ENDS), default=-1) + 1
    rights = [i for i in (text.find(c, end) for c in SENTENCE_ENDS) if i >= 0]
    right = min(rights) + 1 if rights else len(text)
    before = text[left:start].lstrip()
    after = text[end:right].rstrip()
    if len(before) > limit:
        before = "…" + before[-limit:]
    if len(after) > limit:
        after = after[:limit] + "…"
    return before, after


def _add_context(examples, source: Path) -> None:
    """``context_before``/``context_after`` per example: from the dataset's texts, else the run's journal.

    A text is used only where the span's offsets cut the span's own text out of it:
    another version's text gives no context rather than a wrong one.
    """
    from framescope.inference.report_texts import RunTexts

    run_texts: RunTexts | None | bool = False  # False: not looked for yet
    before, after = [], []
    for r in examples.itertuples():
        start, end = int(r.start), int(r.end)
        text = r.article_text if isinstance(r.article_text, str) else None
        if text is None:
            run_texts = RunTexts.of(source) if run_texts is False else run_texts
            text = run_texts.text(r.id, lambda t, a=start, b=end, s=r.text: t[a:b] == s) if run_texts else None
        if text is not None and text[start:end] != r.text:
            text = None
        b, a = span_context(text, int(r.start), int(r.end)) if text else ("", "")
        before.append(b)
        after.append(a)
    examples["context_before"] = before
    examples["context_after"] = after


def _report_href(report: str | None, article_id: str) -> str | None:
    """The article's page in the HTML report (``framescope report``/``score --html``) under ``report``."""
    if not report:
        return None
    from framescope.inference.report_pages import page_name

    return report.rstrip("/") + "/articles/" + page_name(article_id)


def _examples(data: "Data", names: dict[str, str], report: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ex = data.examples
    for t in data.techniques:
        rows = ex[ex["technique"] == t] if len(ex) else ex
        if not len(rows):
            continue
        items = []
        for r in rows.itertuples():
            text = str(r.text)
            day = _day(r.day)
            items.append(
                {
                    "text": text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…",
                    "before": r.context_before,
                    "after": r.context_after,
                    "confidence": float(r.confidence),
                    "id": r.id,
                    "title": r.title if isinstance(r.title, str) else None,
                    "outlet": r.outlet,
                    "day": day.isoformat() if day else UNDATED,
                    "lang": r.lang if isinstance(r.lang, str) else None,
                    "href": _report_href(report, r.id),
                }
            )
        out.append({"technique": t, "category": names.get(str(rows.iloc[0]["category"]), ""), "spans": items})
    return out
