"""Evaluation metrics for framescope.

The scoring logic lives in :mod:`framescope.training.metrics.spans` as plain
functions. The sub-folders ``framescope_*/`` hold thin ``evaluate`` modules that
delegate to those functions, so the same numbers are available through
``evaluate`` (e.g. for ``transformers.Trainer`` or the ``evaluate`` combine/push
tooling) without any network access: :func:`load_metric` points
``evaluate.load`` at the local folder instead of the Hugging Face Hub.

``evaluate`` is imported lazily so that importing the plain functions stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .spans import (
    merge_intervals,
    normalize_spans,
    paragraph_micro_f1,
    paragraph_offsets,
    span_identification_prf,
    span_lengths,
    span_prf,
    token_seqeval,
)

if TYPE_CHECKING:  # pragma: no cover
    import evaluate

__all__ = [
    "METRICS_DIR",
    "METRIC_NAMES",
    "load_metric",
    "merge_intervals",
    "normalize_spans",
    "paragraph_micro_f1",
    "paragraph_offsets",
    "span_identification_prf",
    "span_lengths",
    "span_prf",
    "token_seqeval",
]

METRICS_DIR: Path = Path(__file__).resolve().parent
"""Folder holding the local ``evaluate`` module folders (``METRICS_DIR / name``)."""

METRIC_NAMES: tuple[str, ...] = (
    "framescope_span_f1",
    "framescope_span_identification",
    "framescope_paragraph_f1",
    "framescope_seqeval",
)
"""Names accepted by :func:`load_metric`."""


def load_metric(name: str, **kwargs: object) -> "evaluate.EvaluationModule":
    """Load one of framescope's ``evaluate`` modules from its local folder.

    ``name`` is one of :data:`METRIC_NAMES`; the ``framescope_`` prefix may be left
    out (``"span_f1"``). The module is loaded with ``evaluate.load(<folder>)``, which
    reads the script from disk and never contacts the Hub, so it works with
    ``HF_HUB_OFFLINE=1``. Extra keyword arguments go to ``evaluate.load`` (e.g.
    ``experiment_id`` for distributed evaluation).
    """
    import evaluate

    key = name if name.startswith("framescope_") else f"framescope_{name}"
    if key not in METRIC_NAMES:
        raise ValueError(f"unknown framescope metric {name!r}; expected one of {METRIC_NAMES}")
    path = METRICS_DIR / key
    if not (path / f"{key}.py").is_file():  # pragma: no cover - packaging error
        raise FileNotFoundError(f"metric module script missing: {path / (key + '.py')}")
    return evaluate.load(str(path), **kwargs)  # type: ignore[arg-type]
