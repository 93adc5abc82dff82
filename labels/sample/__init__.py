"""The sample corpus written for framescope (Apache-2.0): the embedded default data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_path() -> Path:
    return Path(str(resources.files("framescope.labels") / "sample" / "sample.jsonl"))


def load_sample():
    """The sample corpus as validated documents."""
    from framescope.labels.io import read_documents

    return read_documents(sample_path(), "jsonl")
