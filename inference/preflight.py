"""Every check that can refuse a ``score`` run, made before anything is written.

The command line (:mod:`framescope.cli.score`) calls :func:`preflight` first and
:func:`~framescope.inference.batch.run_score` only with the scorer it returns, so a refused
run leaves ``--out`` and ``--dataset`` exactly as they were (docs/failures.md).
"""

from __future__ import annotations

from pathlib import Path

from framescope.errors import UsageError


def preflight(
    inputs,
    *,
    model: str | None,
    out: Path,
    formats: str,
    html: bool,
    batch_size: int,
    lang: str | None,
    backend: str,
    profile: str,
    dataset: Path | None,
):
    """Every check that can refuse a ``score`` run, before anything is written; the loaded scorer.

    The options, ``--out`` (whose files, inputs outside it), the model (loads exactly, has a
    usable name) and ``--dataset`` (which needs the model's techniques) are all checked here, so a
    refused run leaves ``--out`` and the dataset exactly as they were (docs/failures.md).
    """
    from framescope.errors import OutputError
    from framescope.inference import outdir
    from framescope.inference.batch import _check_options, load_model

    _check_options(formats, html, batch_size, lang)
    outdir.check_out_dir(out, inputs)
    scorer = load_model(model, backend, profile)
    check_model_identity(scorer, model)
    if dataset is not None:
        from framescope.inference.dataset import DatasetError, DatasetIOError, check_dataset_target
        from framescope.inference.exports import SCHEMA_VERSION

        try:
            check_dataset_target(dataset, list(scorer.techniques), out, SCHEMA_VERSION)
        except DatasetError as err:
            kind = OutputError if isinstance(err, DatasetIOError) else UsageError
            raise kind(f"--dataset {dataset}: {err}") from None
    return scorer


def check_model_identity(scorer, model: str | None) -> None:
    """Refuse (exit 2) a model whose name or version would not fit the exports' string columns.

    The name comes from the model folder's ``framescope.json`` (or a training ``--set``); a
    number or a list there would otherwise fail only when the exports are written, after scoring.
    """
    from framescope.errors import ModelError
    from framescope.inference.batch import DEFAULT_MODEL

    for key, value in (("name", scorer.name), ("version", scorer.version)):
        if not isinstance(value, str) or (key == "name" and not value.strip()):
            shown = model or DEFAULT_MODEL
            raise ModelError(f"--model {shown}: the model's {key} must be a non-empty string, found {value!r}")
