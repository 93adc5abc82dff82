"""Checks that a model folder is internally consistent before anything is scored with it.

A model folder is untrusted input assembled from several files: ``framescope.json`` (the
technique list, thresholds, scheme), ``taxonomy.yaml``, Hugging Face's ``config.json``
(``num_labels``/``id2label``) and the weights. If they disagree, the libraries underneath do
not stop: transformers initialises missing layers at random and prints a table to stderr,
numpy happily multiplies arrays of a neighbouring model, and a technique the taxonomy does
not know surfaces later as a ``KeyError``. Each check here turns such a disagreement into a
:class:`~framescope.errors.ModelError` (exit code 2) naming the folder, the file and what
does not match, so that nothing is ever scored with weights that were not loaded exactly.

The checks are plain functions called by the loaders (``from_pretrained`` of each tagger
and the ONNX backend), kept in one module so that every loader applies the same rules.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from framescope.errors import ModelError
from framescope.labels.taxonomy import Taxonomy
from framescope.model.settings import SETTINGS_FILE, TAXONOMY_FILE, TaggerSettings

CONFIG_FILE = "config.json"


def _fail(folder: str | Path, message: str) -> ModelError:
    return ModelError(f"model folder {folder}: {message}; refusing to score with it")


def _names(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_settings(folder: str | Path, settings: TaggerSettings, taxonomy: Taxonomy) -> None:
    """``framescope.json`` agrees with ``taxonomy.yaml``: same techniques, thresholds for known ones.

    The technique list orders the model's output channels, and the taxonomy gives each
    technique its category; a technique only one of them knows would either be scored under
    the wrong name or fail deep inside the exports.
    """
    techniques = settings.techniques
    if not isinstance(techniques, list) or not techniques or not all(isinstance(t, str) for t in techniques):
        raise _fail(folder, f"{SETTINGS_FILE}: 'techniques' must be a non-empty list of names")
    twice = sorted({t for t in techniques if techniques.count(t) > 1})
    if twice:
        raise _fail(folder, f"{SETTINGS_FILE} lists techniques more than once: {_names(twice)}")
    known = set(taxonomy.names)
    unknown = [t for t in techniques if t not in known]
    missing = [t for t in taxonomy.names if t not in set(techniques)]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"{SETTINGS_FILE} lists techniques that {TAXONOMY_FILE} does not define: {_names(unknown)}")
        if missing:
            parts.append(f"{TAXONOMY_FILE} techniques missing from {SETTINGS_FILE}: {_names(missing)}")
        raise _fail(folder, "; ".join(parts))
    for key in ("thresholds", "begin_thresholds", "smoothing"):
        table = getattr(settings, key)
        if not isinstance(table, dict):
            raise _fail(folder, f"{SETTINGS_FILE}: {key!r} must be an object")
        stray = [t for t in table if t not in set(techniques)]
        if stray:
            raise _fail(folder, f"{SETTINGS_FILE}: {key} for techniques the model does not have: {_names(stray)}")
    for key, table in (("thresholds", settings.thresholds), ("begin_thresholds", settings.begin_thresholds)):
        bad = [t for t, v in table.items() if not (_is_number(v) and 0.0 <= v <= 1.0)]
        if bad:
            raise _fail(folder, f"{SETTINGS_FILE}: {key} must be numbers from 0 to 1 (not for {_names(bad)})")
    for key in ("global_threshold", "begin_threshold"):
        v = getattr(settings, key)
        if not (_is_number(v) and 0.0 <= v <= 1.0):
            raise _fail(folder, f"{SETTINGS_FILE}: {key} must be a number from 0 to 1, not {v!r}")
    bad_smoothing = [t for t, v in settings.smoothing.items() if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1)]
    if bad_smoothing:
        raise _fail(folder, f"{SETTINGS_FILE}: smoothing must be whole numbers of tokens >= 1 (not for {_names(bad_smoothing)})")


def check_transformer_config(folder: str | Path, settings: TaggerSettings) -> dict:
    """``config.json`` has the head ``framescope.json`` describes; returns the parsed config.

    ``id2label`` must be exactly the labels the settings' scheme gives their techniques: a
    head with another size would be re-initialised by transformers, and one with the same size
    in another order would score every technique under a neighbour's name.
    """
    from framescope.model.schemes import FOLDER_DEFAULT, SCHEMES

    folder = Path(folder)
    scheme = settings.extra.get("scheme", FOLDER_DEFAULT) if isinstance(settings.extra, dict) else None
    if scheme not in SCHEMES:
        raise _fail(folder, f"{SETTINGS_FILE}: extra.scheme must be one of {', '.join(SCHEMES)}, not {scheme!r}")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise _fail(folder, f"no {CONFIG_FILE} (a transformer folder is written by save_pretrained)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _fail(folder, f"{CONFIG_FILE} is not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise _fail(folder, f"{CONFIG_FILE} must be a JSON object")
    want = SCHEMES[scheme].labels(settings.techniques)
    id2label = config.get("id2label")
    if not isinstance(id2label, dict):
        raise _fail(folder, f"{CONFIG_FILE} has no id2label; the head must have {len(want)} labels for scheme {scheme}")
    try:
        have = [id2label[str(i)] for i in range(len(id2label))]
    except KeyError:
        raise _fail(folder, f"{CONFIG_FILE}: id2label keys must be 0..{len(id2label) - 1}") from None
    if len(have) != len(want):
        raise _fail(
            folder,
            f"{CONFIG_FILE} has {len(have)} labels but {SETTINGS_FILE} ({len(settings.techniques)} techniques, "
            f"scheme {scheme}) needs {len(want)}",
        )
    wrong = [i for i, (a, b) in enumerate(zip(have, want)) if a != b]
    if wrong:
        i = wrong[0]
        raise _fail(
            folder,
            f"{CONFIG_FILE} id2label[{i}] is {have[i]!r} where {SETTINGS_FILE} (scheme {scheme}) needs {want[i]!r}"
            + (f" ({len(wrong)} labels differ)" if len(wrong) > 1 else ""),
        )
    n_channels = settings.extra.get("n_channels")
    if n_channels is not None and n_channels != 2 * len(settings.techniques):
        raise _fail(folder, f"{SETTINGS_FILE}: extra.n_channels is {n_channels}, not 2 x {len(settings.techniques)} techniques")
    max_pos = config.get("max_position_embeddings")
    if isinstance(max_pos, int) and settings.max_length > max_pos:
        raise _fail(folder, f"{SETTINGS_FILE}: max_length {settings.max_length} exceeds the encoder's {max_pos} positions")
    return config


def check_tokenizer(folder: str | Path, tokenizer, config: Mapping[str, Any]) -> None:
    """Every token id the tokenizer can produce has a row in the embedding matrix."""
    vocab = config.get("vocab_size")
    if isinstance(vocab, int) and len(tokenizer) > vocab:
        raise _fail(folder, f"the tokenizer has {len(tokenizer)} tokens but {CONFIG_FILE} vocab_size is {vocab}")


def check_loading_info(folder: str | Path, info: Mapping[str, Any]) -> None:
    """transformers' ``output_loading_info``: every weight loaded, none left over, none resized.

    Any missing key means a layer was freshly (randomly) initialised; any unexpected key
    means the file holds weights of another model or head.
    """
    problems = []
    missing = sorted(info.get("missing_keys") or [])
    unexpected = sorted(info.get("unexpected_keys") or [])
    mismatched = list(info.get("mismatched_keys") or [])
    errors = list(info.get("error_msgs") or [])
    if missing:
        problems.append(f"weights missing from the safetensors file (would be random): {_names(missing, 3)}")
    if unexpected:
        problems.append(f"weights the model does not use: {_names(unexpected, 3)}")
    if mismatched:
        shown = ", ".join(
            f"{m[0]} {tuple(m[1])} in the file vs {tuple(m[2])} in {CONFIG_FILE}" if len(m) == 3 else str(m)
            for m in mismatched[:3]
        )
        problems.append(f"weights of the wrong shape: {shown}")
    if errors:
        problems.append(f"loading errors: {'; '.join(map(str, errors[:3]))}")
    if problems:
        raise _fail(folder, "the weights do not fit the model: " + "; ".join(problems))


def check_linear_weights(folder: str | Path, weights: Mapping[str, Any], settings: TaggerSettings) -> int:
    """The linear baseline's arrays: exactly ``coef [2K, n_features]`` and ``intercept [2K]``, finite.

    Returns ``n_features``.
    """
    import numpy as np

    extra = settings.extra if isinstance(settings.extra, dict) else {}
    n_features = extra.get("n_features")
    if not (isinstance(n_features, int) and not isinstance(n_features, bool) and n_features > 0):
        raise _fail(folder, f"{SETTINGS_FILE}: extra.n_features must be a positive integer, not {n_features!r}")
    keys = set(weights)
    if keys != {"coef", "intercept"}:
        parts = []
        if {"coef", "intercept"} - keys:
            parts.append(f"missing {', '.join(sorted({'coef', 'intercept'} - keys))}")
        if keys - {"coef", "intercept"}:
            parts.append(f"unexpected {_names(sorted(keys - {'coef', 'intercept'}), 3)}")
        raise _fail(folder, f"model.safetensors must hold exactly coef and intercept ({'; '.join(parts)})")
    k2 = 2 * len(settings.techniques)
    coef, intercept = weights["coef"], weights["intercept"]
    if coef.shape != (k2, n_features) or intercept.shape != (k2,):
        raise _fail(
            folder,
            f"weights have shapes coef {tuple(coef.shape)} and intercept {tuple(intercept.shape)}, but "
            f"{SETTINGS_FILE} ({len(settings.techniques)} techniques, n_features {n_features}) needs "
            f"({k2}, {n_features}) and ({k2},)",
        )
    for name, arr in (("coef", coef), ("intercept", intercept)):
        if not np.issubdtype(arr.dtype, np.floating):
            raise _fail(folder, f"{name} must be floating point, not {arr.dtype}")
        if not np.isfinite(arr).all():
            raise _fail(folder, f"{name} holds NaN or infinite values")
    return n_features


def check_onnx_outputs(folder: str | Path, path: str | Path, session, settings: TaggerSettings, n_labels: int) -> None:
    """The ONNX graph takes ``input_ids``/``attention_mask`` and gives ``logits [.., .., n_labels]``."""
    inputs = {i.name for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    name = Path(path).name
    if inputs != {"input_ids", "attention_mask"}:
        raise _fail(folder, f"{name} takes inputs {sorted(inputs)}, not input_ids and attention_mask")
    if "logits" not in outputs:
        raise _fail(folder, f"{name} has no 'logits' output (outputs: {sorted(outputs)})")
    width = outputs["logits"][-1] if outputs["logits"] else None
    if width != n_labels:
        raise _fail(
            folder,
            f"{name} gives {width} logits per token but {SETTINGS_FILE} ({len(settings.techniques)} techniques) "
            f"needs {n_labels}: export it again with `framescope export-onnx {folder}`",
        )
