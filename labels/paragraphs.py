"""What a paragraph is: one definition for metrics, the article stage and the exports.

SemEval-2023 subtask 3 labels paragraphs, and it cuts an article into paragraphs at line
ends; framescope scores paragraph probabilities (schema 1.1) and computes paragraph F1 on
exactly those units, so both import this function instead of splitting text their own way.
"""

from __future__ import annotations

import re

#: The line boundaries of Python's ``str.splitlines`` (Unicode's mandatory breaks): CRLF as one
#: boundary, then LF, CR, VT, FF, FS, GS, RS, NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR.
LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def paragraph_offsets(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of the paragraphs (lines) of ``text``.

    A paragraph is a line, and a line ends at any Unicode line boundary (those of
    ``str.splitlines``): a text written with CR only, or with U+2028, U+2029 or NEL between
    its paragraphs, is cut the same way as one written with ``"\\n"``. The boundary itself
    is not part of the paragraph, so a CRLF paragraph ends before its ``"\\r"``. For text
    that breaks lines with ``"\\n"`` only, as the SemEval-2023 and PTC-2020 articles do
    (none of them holds another boundary), this is exactly their line split. Offsets are
    computed on ``text`` itself, never on a normalised copy, so spans annotated on the raw
    text line up. Empty and whitespace-only lines are left out: they cannot carry a
    technique and SemEval-2023 does not score them.
    """
    out: list[tuple[int, int]] = []
    pos = 0
    for brk in [*LINE_BREAK.finditer(text), None]:
        end = len(text) if brk is None else brk.start()
        if text[pos:end].strip():
            out.append((pos, end))
        if brk is not None:
            pos = brk.end()
    return out
