"""The option vocabulary every ``framescope`` command shares, declared once.

One name means one thing in every command:

- ``--out/-o``: the folder (or file) a command writes;
- ``--format/-f``: the format of the *input* (annotated corpora; detected when omitted);
- ``--lang``: only the articles of these languages (repeatable);
- ``--model/-m``: a model folder or an MLflow model URI;
- ``--taxonomy/-t``: a built-in taxonomy name or a YAML file.

Spellings of earlier versions still work for one version as hidden aliases: ``--from``
(now ``--format``) in ``data``, ``evaluate`` and ``adapt``; ``--output`` (now ``--out``) in
``train``; ``--format/-f`` (now ``--export``) and ``--lang`` (now ``--default-lang``) in
``score``. A hidden alias is a second, hidden option whose value :func:`pick` merges into
the new one; giving both with different values is a usage error (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional, TypeVar

import typer

from framescope.errors import UsageError
from framescope.labels.formats import FORMATS

T = TypeVar("T")

FORMAT_HELP = f"Input format ({', '.join(FORMATS)}); detected from the layout when omitted."
TAXONOMY_HELP = "Taxonomy: a built-in name (semeval2023, ptc2020, semeval2023-categories) or a YAML file."
MODEL_HELP = "Model folder or MLflow URI (default: runs/quickstart/model)."

InputFormat = Annotated[Optional[str], typer.Option("--format", "-f", help=FORMAT_HELP)]
FromAlias = Annotated[Optional[str], typer.Option("--from", hidden=True, help="Old spelling of --format.")]
LangFilter = Annotated[Optional[List[str]], typer.Option("--lang", help="Only articles in this language (repeatable).")]
Taxonomy = Annotated[str, typer.Option("--taxonomy", "-t", help=TAXONOMY_HELP)]
ModelOption = Annotated[Optional[str], typer.Option("--model", "-m", help=MODEL_HELP)]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def out_option(help: str) -> type:
    """``--out/-o`` (required) with this command's own description of what it writes."""
    return Annotated[Path, typer.Option("--out", "-o", help=help)]


def pick(new: T | None, old: T | None, names: str) -> T | None:
    """The value of an option given under its name or under its old, hidden spelling.

    Both given with different values: a usage error (exit 2) rather than a silent choice.
    """
    if old is None:
        return new
    if new is not None and new != old:
        raise UsageError(f"{names}: given twice with different values ({new!r}, {old!r})")
    return old


# the fields of JSONL records / columns of CSV files and Parquet tables that ``score`` and ``score-spark`` read
IdColumn = Annotated[str, typer.Option("--id-column", "--id-field", help="JSONL field / CSV column of the article id.")]
TextColumn = Annotated[str, typer.Option("--text-column", "--text-field", help="JSONL field / CSV column of the text.")]
LangColumn = Annotated[
    str, typer.Option("--lang-column", "--lang-field", help="JSONL field / CSV column of the language.")
]
