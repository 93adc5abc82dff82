"""What a paragraph is: one definition for metrics, the article stage and the exports.

SemEval-2023 subtask 3 labels paragraphs, and it cuts an article into paragraphs at line
ends; framescope scores paragraph probabilities (schema 1.1) and computes paragraph F1 on
exactly those units, so both import this function instead of splitting text their own way.
"""

from __future__ import annotations


def paragraph_offsets(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of the paragraphs (lines) of ``text``.

    A paragraph is a line: ``text`` is split on ``"\\n"``; a ``"\\r"`` before the
    ``"\\n"`` stays part of the line (so CRLF text keeps its exact offsets and spans
    annotated on the raw text line up). Offsets are computed on ``text`` itself, never
    on a normalised copy. Empty and whitespace-only lines are left out: they cannot
    carry a technique and SemEval-2023 does not score them.
    """
    out: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        end = pos + len(line)
        if line.strip():
            out.append((pos, end))
        pos = end + 1  # skip the "\n"
    return out
