"""Checks of one input record's values, shared by ``framescope score`` and the scoring service.

``framescope score`` (:mod:`framescope.inference.inputs`, :mod:`framescope.inference.batch`)
and the MLflow pyfunc (:mod:`framescope.model.mlflow_model`) sit in layers that cannot
import each other, and a served model must refuse, null or warn about exactly what the
command line does, with the same words. So the pure checks live here, below both.

A *problem* refuses the record (an error row in ``score``, HTTP 400 from the service); a
*warning* keeps it, with the value nulled.
"""

from __future__ import annotations

from functools import cache

#: How much of a bad value a message quotes (a 1 MB ``lang`` must not become a 1 MB message).
SHOWN_CHARS = 40


def lone_surrogate(value: str) -> int | None:
    """The index of the first lone surrogate in ``value`` (no UTF-8 text can hold one), else None.

    JSON may escape one (``"\\ud800"``) and a file name that is not UTF-8 carries them
    (Python's ``surrogateescape``); either would fail only later, when the journal, an
    export or a response encodes the value.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        return err.start
    return None


def surrogate_problem(field: str, value: str) -> str | None:
    """Why ``value`` of ``field`` is not text (a lone surrogate), else None."""
    pos = lone_surrogate(value)
    if pos is None:
        return None
    return (
        f"{field!r} holds a lone surrogate (U+{ord(value[pos]):04X} at character {pos}), which is not "
        "valid Unicode text; fix the record's escape sequence"
    )


def text_problem(text: object, field: str = "text") -> str | None:
    """Why ``text`` (the value of ``field``) cannot be scored as an article, else None:
    missing, not a string, a NUL character, nothing but blanks, a lone surrogate."""
    if text is None:
        return f"no {field!r} field"
    if not isinstance(text, str):
        return f"{field!r} is not a string"
    if "\x00" in text:
        return "text contains a NUL character"
    if not text.lstrip("\ufeff").strip():
        return "empty article"
    return surrogate_problem(field, text)


def structured_problem(field: str, value: object, what: str) -> str | None:
    """Why a JSON object or array cannot be ``field`` (``what``: "an id", "a language"), else None."""
    if isinstance(value, (dict, list)):
        kind = "object" if isinstance(value, dict) else "array"
        return f"{field!r} is a JSON {kind}; {what} must be a string or a number"
    return None


@cache
def is_iso639_1(code: str) -> bool:
    """A two-letter ISO 639-1 language code, lower case (``de``, ``en``), per pycountry's ISO tables."""
    import pycountry

    return len(code) == 2 and code.isascii() and code.islower() and pycountry.languages.get(alpha_2=code) is not None


def shown(value: str) -> str:
    """``value`` quoted for a message, cut after :data:`SHOWN_CHARS` characters."""
    return repr(value) if len(value) <= SHOWN_CHARS else repr(value[:SHOWN_CHARS]) + f"… ({len(value):,} characters)"


def lang_warning(lang: str) -> str | None:
    """The warning for a record's language (already lower-cased) that is not an ISO 639-1 code,
    else None; the article is then scored and exported with ``lang`` null."""
    if is_iso639_1(lang):
        return None
    return f"lang {shown(lang)} is not an ISO 639-1 code; exported as null"
