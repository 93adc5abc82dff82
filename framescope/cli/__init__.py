"""The ``framescope`` command line: one app, one module per command group in this package.

``data`` (validate, stats, convert), ``train`` (train, evaluate, calibrate, adapt, register),
``score`` (score, export-onnx), ``spark`` (score-spark), ``report`` (report, dashboard,
dataset views), ``encoders``, ``labelstudio`` and ``quickstart``; the option names they share
are declared once in :mod:`framescope.cli.options`.

Every command ends with the exit codes of :mod:`framescope.errors` (docs/failures.md).
Commands raise :class:`~framescope.errors.FramescopeError` for user errors; the root
group below turns them, and failed writes (:class:`OSError`), into one line on stderr
and the documented exit code, so no user error ends in a Python traceback and
automation can tell "some articles failed" (1) from "nothing was done" (2) and "the
disk is full" (3). Only a bug still shows a traceback, with its own exit code (4).
"""

from __future__ import annotations

import errno
import traceback
from typing import Annotated

import typer
from typer.core import TyperGroup

from framescope import __version__
from framescope.errors import EXIT_INTERNAL, EXIT_IO, EXIT_USAGE, FramescopeError

# errors of a path that is not there or not of the right kind: the user named it (exit 2);
# any other OSError is the system refusing a read or write: permissions, read-only or full disk (exit 3)
_PATH_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP}


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _from_cli_library(err: BaseException) -> bool:
    """typer's and click's own exceptions (exit, abort, usage errors): they handle them themselves."""
    return type(err).__module__.split(".")[0] in ("typer", "click")


class _Group(TyperGroup):
    """The root command group: maps user errors to one line and the documented exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Exception as err:
            if _from_cli_library(err):
                raise
            if isinstance(err, FramescopeError):
                _fail(str(err), err.exit_code)
            if isinstance(err, OSError):
                where = f"{err.filename}: " if err.filename else ""
                named = isinstance(err, (FileNotFoundError, NotADirectoryError, IsADirectoryError))
                _fail(f"{where}{err.strerror or err}", EXIT_USAGE if named or err.errno in _PATH_ERRNOS else EXIT_IO)
            traceback.print_exc()
            _fail("internal error (a bug in framescope; please report it with the traceback above)", EXIT_INTERNAL)


app = typer.Typer(
    name="framescope",
    cls=_Group,
    help="Find propaganda and framing techniques in news text.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"framescope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Find propaganda and framing techniques in news text."""


def _register() -> None:
    """Add every command group; each module imports its heavy code lazily, for a fast ``--help``.

    Idempotent, so tests and embedding code may call it more than once.
    """
    if app.registered_commands:
        return
    from framescope.cli import data, encoders, labelstudio, quickstart, report, score, spark, train

    for module in (data, train, score, spark, report, encoders, labelstudio, quickstart):
        module.register(app)


def main() -> None:
    _register()
    app()
