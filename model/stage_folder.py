"""The article stage in a model folder: ``article_stage.json`` (settings, priors, centres) and
``article_stage.safetensors`` (per level: the lexical models' arrays, the ``active`` flags and
the stacker's weights). Nothing is pickled.

A model folder is untrusted input and must load exactly: settings that do not parse,
another stage format, missing or unexpected arrays, arrays of the wrong shape or priors of
the wrong length are a :class:`~framescope.errors.ModelError`, never a stage that scores
with zeros. Format-2 folders (every hashed column stored) are read as format 3 with every
column kept, so they score as they did.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from framescope.errors import ModelError
from framescope.labels.atomic import atomic_open
from framescope.model import folder_checks as checks
from framescope.model.stage_settings import (
    LEVELS,
    POOLED,
    READABLE_FORMATS,
    STAGE_SETTINGS,
    STAGE_WEIGHTS,
    StageSettings,
    check_vectorizer,
)

Arrays = dict[str, dict[str, np.ndarray]]


def save_stage(folder: str | Path, settings: StageSettings, weights: Arrays) -> None:
    """Write the stage's two files into ``folder``."""
    folder = Path(folder)
    tensors = {
        f"{level}.{name}": np.ascontiguousarray(arr) for level, ws in weights.items() for name, arr in ws.items()
    }
    save_file(tensors, str(folder / STAGE_WEIGHTS))
    with atomic_open(folder / STAGE_SETTINGS) as fh:
        json.dump(asdict(settings), fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def load_stage(folder: str | Path) -> tuple[StageSettings, Arrays] | None:
    """The folder's stage settings and arrays, checked; ``None`` for a folder without a stage."""
    folder = Path(folder)
    if not (folder / STAGE_SETTINGS).exists():
        if (folder / STAGE_WEIGHTS).exists():
            raise ModelError(f"model folder {folder}: {STAGE_WEIGHTS} without {STAGE_SETTINGS}")
        return None
    try:
        settings = _read_settings(folder)
        tensors = load_file(str(folder / STAGE_WEIGHTS))
    except ModelError:
        raise
    except Exception as err:  # JSON, dataclass or safetensors errors alike: the folder is broken
        raise ModelError(f"model folder {folder}: the article stage does not load ({err})") from None
    _check_names(folder, settings, tensors)
    weights = {}
    for level in LEVELS:
        weights[level] = _level_arrays(folder, settings, level, tensors)
        checks.check_stage_arrays(folder, level, weights[level])
        _check_priors(folder, settings, level)
        _check_centres(folder, settings, level)
    return settings, weights


def _read_settings(folder: Path) -> StageSettings:
    """``article_stage.json`` as settings (``ValueError`` or ``ModelError`` when it does not check out)."""
    data = json.loads((folder / STAGE_SETTINGS).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("format") not in READABLE_FORMATS:
        raise ValueError(
            f"stage format {data.get('format', 1)}, this framescope reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}: train the model again"
        )
    unknown = sorted(set(data) - set(StageSettings.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown keys {', '.join(unknown)}")
    check_vectorizer(data.get("n_features"), data.get("ngram_range"))
    checks.check_stage_settings(folder, data)  # every value's type and range, one line naming the key
    # format-2 folders written before these inputs existed: load them as they were fitted
    data.setdefault("length_feature", False)
    data.setdefault("paragraph_evidence", False)
    data.setdefault("refit", False)
    return StageSettings(**data)


def _check_names(folder: Path, s: StageSettings, tensors: dict[str, np.ndarray]) -> None:
    names = ("coef", "intercept", "idf", "active", "stacker") + (("columns", "idf_unseen") if s.format >= 3 else ())
    want = {f"{level}.{name}" for level in LEVELS for name in names}
    if set(tensors) != want:
        missing, extra = sorted(want - set(tensors)), sorted(set(tensors) - want)
        raise ModelError(f"model folder {folder}: {STAGE_WEIGHTS} lacks {missing} / has unexpected {extra}")


def _level_arrays(folder: Path, s: StageSettings, level: str, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One level's arrays, each of the shape the settings give it (format 2: every column kept)."""
    if s.format >= 3:
        columns = tensors[f"{level}.columns"]
        _check_columns(folder, level, columns, s.n_features)
    else:  # format 2 stored every hashed column (so none is unseen: its idf is never used)
        tensors[f"{level}.columns"] = columns = np.arange(s.n_features, dtype=np.int32)
        tensors[f"{level}.idf_unseen"] = np.ones(1, np.float32)
    k, d = len(s.techniques), len(columns)
    shapes = {
        "columns": (d,),
        "coef": (k, d),
        "intercept": (k,),
        "idf": (d,),
        "idf_unseen": (1,),
        "active": (k,),
        "stacker": (s.n_inputs(level) + 1,),
    }
    for name, shape in shapes.items():
        arr = tensors[f"{level}.{name}"]
        if tuple(arr.shape) != shape:
            raise ModelError(
                f"model folder {folder}: {STAGE_WEIGHTS} {level}.{name} has shape {tuple(arr.shape)}, "
                f"not {shape} ({k} techniques)"
            )
    return {name: tensors[f"{level}.{name}"] for name in shapes}


def _check_columns(folder: Path, level: str, columns: np.ndarray, n_features: int) -> None:
    ok = (
        columns.ndim == 1
        and columns.dtype == np.int32
        and (len(columns) == 0 or (columns[0] >= 0 and columns[-1] < n_features and bool(np.all(np.diff(columns) > 0))))
    )
    if not ok:
        raise ModelError(
            f"model folder {folder}: {STAGE_WEIGHTS} {level}.columns must be increasing int32 "
            f"column numbers below n_features {n_features}"
        )


def _check_priors(folder: Path, s: StageSettings, level: str) -> None:
    k = len(s.techniques)
    priors = s.priors.get(level) if isinstance(s.priors, dict) else None

    def shares(p: Any) -> bool:
        return isinstance(p, list) and len(p) == k and all(isinstance(v, (int, float)) and 0 < v < 1 for v in p)

    if not isinstance(priors, dict) or POOLED not in priors or not all(shares(p) for p in priors.values()):
        raise ModelError(
            f"model folder {folder}: {STAGE_SETTINGS} priors.{level} must map languages and {POOLED!r} to {k} shares in (0, 1)"
        )


def _check_centres(folder: Path, s: StageSettings, level: str) -> None:
    k, m = len(s.techniques), s.n_inputs(level)
    centers = s.centers.get(level) if isinstance(s.centers, dict) else None

    def table(c: Any) -> bool:
        return np.asarray(c, dtype=object).shape == (k, m) and all(checks.is_number(v) for row in c for v in row)

    if not isinstance(centers, dict) or POOLED not in centers or not all(table(c) for c in centers.values()):
        raise ModelError(
            f"model folder {folder}: {STAGE_SETTINGS} centers.{level} must map languages and {POOLED!r} to {k} x {m} numbers"
        )


def digest(h, settings: StageSettings, weights: Arrays) -> None:
    """Feed the stage's settings and arrays into the hash ``h`` (the model's fingerprint)."""
    h.update(json.dumps(asdict(settings), sort_keys=True, default=str).encode("utf-8"))
    for level in sorted(weights):
        for name in sorted(weights[level]):
            h.update(f"stage.{level}.{name}".encode())
            h.update(memoryview(np.ascontiguousarray(weights[level][name]).tobytes()))
