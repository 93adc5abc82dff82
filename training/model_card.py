"""The model card: a ``README.md`` in the model folder, written from the run's own numbers.

Everything in the card comes from the run that produced the folder (config, data, dev
report, calibration), so that the card travels with the weights (the folder is what
MLflow logs and registers) and never describes another model's results.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

from framescope.labels.atomic import atomic_write_bytes
from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.training.config import Config
from framescope.training.model_card_sections import (
    RARE_SUPPORT,
    _CardFacts,
    _data_section,
    _front_matter,
    _how_to_load,
    _intended_use,
    _known_limits,
    _model_section,
    _results_section,
    _taxonomy_section,
    fmt,
)

# the card's order; each section is a function of the run's facts (model_card_sections.py)
SECTIONS = (
    _front_matter,
    _model_section,
    _data_section,
    _taxonomy_section,
    _results_section,
    _intended_use,
    _known_limits,
    _how_to_load,
)
__all__ = ["CARD_FILE", "RARE_SUPPORT", "SECTIONS", "fmt", "render_model_card", "write_model_card"]

CARD_FILE = "README.md"


def _resolved_counts(docs: Sequence[Document], taxonomy: Taxonomy) -> Counter:
    """Spans per technique after mapping onto the taxonomy (what the model was trained on)."""
    c: Counter = Counter()
    for d in docs:
        for s in d.spans:
            try:
                t = taxonomy.resolve(s.technique)
            except KeyError:
                t = None
            if t is not None:
                c[t] += 1
    return c


def _lang_counts(docs: Sequence[Document]) -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = {}
    for d in docs:
        a = out.setdefault(str(d.lang), [0, 0])
        a[0] += 1
        a[1] += len(d.spans)
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def render_model_card(
    config: Config,
    report: dict,
    calibration: dict,
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document],
    taxonomy: Taxonomy,
    train_stats: dict | None = None,
    *,
    techniques: Sequence[str] | None = None,
) -> str:
    """The model card (README.md of the model folder): the run's facts counted once, then
    each of :data:`SECTIONS` in turn."""
    train_langs = _lang_counts(train_docs)
    dev_langs = _lang_counts(dev_docs)
    facts = _CardFacts(
        config=config,
        report=report,
        calibration=calibration,
        train_docs=train_docs,
        dev_docs=dev_docs,
        taxonomy=taxonomy,
        train_stats=train_stats or {},
        name=config.mlflow.registered_model or config.name,
        data=config.data,
        model=config.model,
        techniques=list(techniques or taxonomy.names),
        train_langs=train_langs,
        dev_langs=dev_langs,
        train_support=_resolved_counts(train_docs, taxonomy),
        per=report.get("all", {}).get("per_technique", {}),
        cal_min=config.calibration.min_support,
        langs=sorted(set(train_langs) | set(dev_langs)),
    )
    lines: list[str] = []
    for section in SECTIONS:
        lines += section(facts)
    return "\n".join(lines)


def write_model_card(
    folder: Path,
    config: Config,
    report: dict,
    calibration: dict,
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document],
    taxonomy: Taxonomy,
    train_stats: dict,
) -> Path:
    """Write ``README.md`` into the model folder and return its path."""
    folder = Path(folder)
    techniques = None
    from framescope.errors import ModelError
    from framescope.model.settings import TaggerSettings

    try:
        techniques = TaggerSettings.load(folder).techniques
    except ModelError:
        pass
    text = render_model_card(
        config, report, calibration, train_docs, dev_docs, taxonomy, train_stats, techniques=techniques
    )
    path = folder / CARD_FILE
    atomic_write_bytes(path, text.encode("utf-8"))
    return path
