"""Checks on CLI output shared by several test modules (not a test module itself).

The suite runs with ``--import-mode=importlib``, where test modules cannot import each
other; pyproject's ``pythonpath = ["tests"]`` makes this module importable instead.
"""

from __future__ import annotations


def one_error_line(res) -> str:
    """The command failed with one line ``error: ...`` and no traceback; that line."""
    out = res.output
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, out
    return lines[0]
