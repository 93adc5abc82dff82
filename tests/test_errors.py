"""Every user error belongs to the FramescopeError family, so the CLI maps it to its exit code."""

from __future__ import annotations

import pytest

from framescope.errors import EXIT_USAGE, FramescopeError
from framescope.inference.exports import SchemaError
from framescope.inference.journal import Journal, JournalError, JournalMismatch


@pytest.mark.parametrize("cls", [JournalError, JournalMismatch, SchemaError])
def test_errors_are_framescope_errors_with_exit_2(cls):
    assert issubclass(cls, FramescopeError)
    assert cls("x").exit_code == EXIT_USAGE


def test_schema_error_is_still_a_value_error():
    assert issubclass(SchemaError, ValueError)


def test_a_locked_journal_raises_a_journal_error(tmp_path):
    meta = {"schema_version": "1", "model": {"name": "m", "version": "1", "fingerprint": "f" * 64}}
    first = Journal(tmp_path).open(meta)
    try:
        with pytest.raises(JournalError, match="another framescope run"):
            Journal(tmp_path).open(meta)
    finally:
        first.close()
