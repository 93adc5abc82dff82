"""``framescope labelstudio config``: the labeling config for a model's or a taxonomy's techniques."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

labelstudio_app = typer.Typer(
    help="Label Studio: the labeling config for a model's or a taxonomy's techniques.", no_args_is_help=True
)


@labelstudio_app.command("config")
def labelstudio_config_cmd(
    model: Annotated[
        Optional[str], typer.Option("--model", "-m", help="A model folder: its techniques, in its output order.")
    ] = None,
    taxonomy: Annotated[
        Optional[str],
        typer.Option("--taxonomy", "-t", help="A built-in taxonomy name or a YAML file (default: semeval2023)."),
    ] = None,
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


def register(app: typer.Typer) -> None:
    app.add_typer(labelstudio_app, name="labelstudio")
