"""The ``framescope`` command line: one app, subcommands per stage (data, train, score).

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
from typing import Optional

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
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Find propaganda and framing techniques in news text."""


labelstudio_app = typer.Typer(
    help="Label Studio: the labeling config for a model's or a taxonomy's techniques.", no_args_is_help=True
)


@labelstudio_app.command("config")
def labelstudio_config_cmd(
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="A model folder: its techniques, in its output order."
    ),
    taxonomy: Optional[str] = typer.Option(
        None, "--taxonomy", "-t", help="A built-in taxonomy name or a YAML file (default: semeval2023)."
    ),
) -> None:
    """Print the labeling config XML (techniques grouped and coloured by category, article-level choices).

    Paste it into a project's Settings -> Labeling Interface -> Code; docs/labelstudio.md has the loop.
    """
    from framescope.errors import ModelError, UsageError
    from framescope.labels.formats.labelstudio import labeling_config
    from framescope.labels.taxonomy import load_taxonomy

    if model is not None and taxonomy is not None:
        raise UsageError("give --model or --taxonomy, not both")
    if model is None:
        try:
            tax = load_taxonomy(taxonomy)
        except ValueError as err:
            raise UsageError(str(err)) from None
        typer.echo(labeling_config(tax.names, tax), nl=False)
        return
    from framescope.model.settings import TaggerSettings, load_folder_taxonomy

    try:
        settings = TaggerSettings.load(model)
        tax = load_folder_taxonomy(model, settings)
    except (OSError, ValueError) as err:
        raise ModelError(f"{model}: cannot read the model's techniques: {err}") from None
    typer.echo(labeling_config(settings.techniques, tax), nl=False)


def register_cmd(
    model_dir: str = typer.Argument(..., help="A model folder (framescope train or quickstart wrote it)."),
    name: str = typer.Option("framescope", "--name", "-n", help="Registered model name."),
    alias: Optional[str] = typer.Option(
        "candidate", "--alias", "-a", help="Alias to point at the new version ('' for none)."
    ),
    experiment: str = typer.Option("framescope-register", "--experiment", help="MLflow experiment of the logging run."),
) -> None:
    """Log an existing model folder as an MLflow pyfunc model and register it as a new version.

    The tracking and registry URIs are MLflow's (MLFLOW_TRACKING_URI); docs/service.md serves the result.
    """
    from framescope.errors import FramescopeError, ModelError
    from framescope.training.tracking import register_folder

    try:
        run_id, uri, version = register_folder(model_dir, name, alias or None, experiment)
    except FramescopeError:
        raise
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise ModelError(f"{model_dir}: cannot register: {err}") from None
    typer.echo(f"logged {uri} (MLflow run {run_id})")
    typer.echo(f"registered: models:/{name}/{version}" + (f" (alias @{alias})" if alias else ""))


def _register() -> None:
    """Subcommands live next to the code they drive; imports stay lazy for a fast --help.

    Idempotent, so tests and embedding code may call it more than once.
    """
    if app.registered_commands:
        return
    from framescope.labels.cli import data_app
    from framescope.training.cli import adapt_cmd, calibrate_cmd, evaluate_cmd, train_cmd

    app.add_typer(data_app, name="data")
    from framescope.encoders_cli import encoders_app

    app.add_typer(encoders_app, name="encoders")
    app.add_typer(labelstudio_app, name="labelstudio")
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("calibrate")(calibrate_cmd)
    app.command("adapt")(adapt_cmd)
    app.command("register")(register_cmd)
    from framescope.inference.cli import register as register_inference
    from framescope.quickstart import quickstart_cmd

    register_inference(app)
    app.command("quickstart")(quickstart_cmd)


def main() -> None:
    _register()
    app()
