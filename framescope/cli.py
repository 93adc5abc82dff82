"""The ``framescope`` command line: one app, subcommands per stage.

data (validate, stats, convert); train, calibrate, evaluate; score, report, export-onnx;
and quickstart, which trains and then scores.
"""

from __future__ import annotations

import typer

from framescope import __version__

app = typer.Typer(
    name="framescope",
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


def _register() -> None:
    """Subcommands live next to the code they drive; imports stay lazy for a fast --help.

    Idempotent, so tests and embedding code may call it more than once.
    """
    if app.registered_commands:
        return
    from framescope.labels.cli import data_app
    from framescope.training.cli import calibrate_cmd, evaluate_cmd, train_cmd

    app.add_typer(data_app, name="data")
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("calibrate")(calibrate_cmd)
    from framescope.inference.cli import register as register_inference
    from framescope.quickstart import quickstart_cmd

    register_inference(app)
    app.command("quickstart")(quickstart_cmd)


def main() -> None:
    _register()
    app()
