"""Errors a user can act on, and the exit code each one ends a command with.

Automation (cron jobs, pipelines) reads exit codes, so they mean the same for every
``framescope`` command (documented in docs/failures.md):

====  ==========================================================================
code  meaning
====  ==========================================================================
0     everything done (all articles scored, all files valid)
1     done, but some items failed: exports were written, the failures are listed
      (``errors.*``), or ``data validate`` found problems in the data
2     usage, input or model error: nothing (new) was written
3     I/O failure (read-only or full disk, permission denied) with a one-line reason
4     internal error: a bug in framescope (the only case that prints a traceback)
====  ==========================================================================

This module sits at the package root, below every layer, and imports nothing, so that
``labels``, ``model``, ``training`` and ``inference`` can all raise these errors. A user
error is shown as one line, never as a Python traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_IO = 3
EXIT_INTERNAL = 4


class FramescopeError(Exception):
    """A user error: reported as one line, ends the command with :attr:`exit_code`."""

    exit_code: int = EXIT_USAGE


class UsageError(FramescopeError):
    """Wrong arguments or options (a bad ``--out``, an unknown ``--format``...)."""


class InputError(FramescopeError):
    """An input file or folder that cannot be read as a whole (not one bad article)."""


class ModelError(FramescopeError):
    """A model folder or URI that does not load exactly (missing or unexpected weights,
    settings that contradict the taxonomy or ``config.json``): nothing is scored with it."""


class OutputError(FramescopeError):
    """Writing failed (read-only or full disk, permission denied)."""

    exit_code = EXIT_IO
