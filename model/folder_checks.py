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
from typing import Any, Callable, Mapping, Sequence

from framescope.errors import ModelError
from framescope.labels.taxonomy import Taxonomy
from framescope.model.settings import SETTINGS_FILE, TAXONOMY_FILE, TaggerSettings, folder_error, show

CONFIG_FILE = "config.json"


def _fail(folder: str | Path, message: str) -> ModelError:
    return folder_error(folder, message)


def _names(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# -- values: what each kind of number in a folder may be ----------------------------------------


def is_number(v: Any) -> bool:
    """A finite real number (``true`` is no number, NaN and infinities are refused)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_probability(v: Any) -> bool:
    return is_number(v) and 0.0 <= v <= 1.0


def is_whole(v: Any, low: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def require(folder: str | Path, file: str, key: str, value: Any, ok: Callable[[Any], bool], rule: str) -> None:
    """Refuse ``file``'s ``key`` unless ``ok(value)``: one line naming the file, the key, the rule and the value."""
    if not ok(value):
        raise _fail(folder, f"{file}: {key} must be {rule}, not {show(value)}")


PROBABILITY = (is_probability, "a number from 0 to 1")


# -- framescope.json -------------------------------------------------------------------------------


def check_settings(folder: str | Path, settings: TaggerSettings, taxonomy: Taxonomy) -> None:
    """``framescope.json`` agrees with ``taxonomy.yaml`` and holds only values it can score with.

    The technique list orders the model's output channels, and the taxonomy gives each
    technique its category; a technique only one of them knows would either be scored under
    the wrong name or fail deep inside the exports. A threshold that is NaN, negative or a
    string would silently give no spans, other spans or a traceback.
    """
    _check_techniques(folder, settings, taxonomy)
    _check_calibration(folder, settings)
    require(folder, SETTINGS_FILE, "max_length", settings.max_length, lambda v: is_whole(v, 1), "a whole number >= 1")
    require(folder, SETTINGS_FILE, "stride", settings.stride, is_whole, "a whole number >= 0")
    _check_extra(folder, settings.extra)


def _check_techniques(folder: str | Path, settings: TaggerSettings, taxonomy: Taxonomy) -> None:
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


def _check_calibration(folder: str | Path, settings: TaggerSettings) -> None:
    """Both profiles' thresholds, the begin thresholds and the smoothing: known techniques, sane values."""
    tables = {
        "thresholds": settings.thresholds,
        "begin_thresholds": settings.begin_thresholds,
        "precise_thresholds": settings.precise_thresholds if settings.precise_thresholds is not None else {},
        "smoothing": settings.smoothing,
    }
    techniques = set(settings.techniques)
    for key, table in tables.items():
        if not isinstance(table, dict):
            raise _fail(folder, f"{SETTINGS_FILE}: {key} must be an object, not {show(table)}")
        stray = [t for t in table if t not in techniques]
        if stray:
            raise _fail(folder, f"{SETTINGS_FILE}: {key} for techniques the model does not have: {_names(stray)}")
    for key in ("thresholds", "begin_thresholds", "precise_thresholds"):
        for tech, value in tables[key].items():
            require(folder, SETTINGS_FILE, f"{key}.{tech}", value, *PROBABILITY)
    for key in ("global_threshold", "begin_threshold"):
        require(folder, SETTINGS_FILE, key, getattr(settings, key), *PROBABILITY)
    for tech, value in settings.smoothing.items():
        require(
            folder, SETTINGS_FILE, f"smoothing.{tech}", value, lambda v: is_whole(v, 1), "a whole number of tokens >= 1"
        )


def _check_extra(folder: str | Path, extra: dict) -> None:
    """The recorded hyper-parameters and figures that scoring or evaluation read back, where present."""
    if "alpha" in extra:
        require(
            folder, SETTINGS_FILE, "extra.alpha", extra["alpha"], lambda v: is_number(v) and v > 0, "a positive number"
        )
    if "constant_guess_share" in extra:
        require(folder, SETTINGS_FILE, "extra.constant_guess_share", extra["constant_guess_share"], *PROBABILITY)
    for key in ("scheme", "base_model", "config_name", "train_fingerprint"):
        if key in extra:
            require(folder, SETTINGS_FILE, f"extra.{key}", extra[key], lambda v: isinstance(v, str), "a string")
    shares = extra.get("train_technique_shares_by_lang", {})
    require(
        folder,
        SETTINGS_FILE,
        "extra.train_technique_shares_by_lang",
        shares,
        lambda v: isinstance(v, dict),
        "an object",
    )
    for group, table in shares.items():
        key = f"extra.train_technique_shares_by_lang.{group}"
        require(folder, SETTINGS_FILE, key, table, lambda v: isinstance(v, dict), "an object of technique shares")
        for tech, value in table.items():
            require(folder, SETTINGS_FILE, f"{key}.{tech}", value, *PROBABILITY)


# -- the article stage -----------------------------------------------------------------------------

#: ``article_stage.json`` key -> (the rule its value must meet, how the error states it)
_STAGE_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "C": (lambda v: is_number(v) and v > 0, "a positive number"),
    "stacker_C": (lambda v: is_number(v) and v > 0, "a positive number"),
    "top_k": (lambda v: is_whole(v, 1), "a whole number >= 1"),
    "paragraph_top_k": (lambda v: is_whole(v, 1), "a whole number >= 1"),
    "share_threshold": PROBABILITY,
    "token_features": (lambda v: isinstance(v, bool), "true or false"),
    "length_feature": (lambda v: isinstance(v, bool), "true or false"),
    "paragraph_evidence": (lambda v: isinstance(v, bool), "true or false"),
    "refit": (lambda v: isinstance(v, bool), "true or false"),
    "folds": (lambda v: is_whole(v, 1), "a whole number >= 1"),
    "min_positives": (is_whole, "a whole number >= 0"),
    "prior_strength": (lambda v: is_number(v) and v >= 0, "a number >= 0"),
    "priors": (lambda v: isinstance(v, dict), "an object"),
    "centers": (lambda v: isinstance(v, dict), "an object"),
    "fit_info": (lambda v: isinstance(v, dict), "an object"),
}


def check_stage_settings(folder: str | Path, data: Mapping[str, Any]) -> None:
    """The hyper-parameters in ``article_stage.json``: each of its type and range (keys a format-2
    folder lacks take their defaults). A ``top_k`` of 0 or a NaN ``share_threshold`` would
    load and silently change every probability."""
    from framescope.model.article_stage import LEVELS, STAGE_SETTINGS

    techniques = data.get("techniques")
    if not (isinstance(techniques, list) and techniques and all(isinstance(t, str) for t in techniques)):
        raise _fail(folder, f"{STAGE_SETTINGS}: techniques must be a non-empty list of names, not {show(techniques)}")
    for key, (ok, rule) in _STAGE_RULES.items():
        if key in data:
            require(folder, STAGE_SETTINGS, key, data[key], ok, rule)
    thresholds = data.get("thresholds", {level: 0.5 for level in LEVELS})
    if not (isinstance(thresholds, dict) and set(thresholds) == set(LEVELS)):
        raise _fail(
            folder, f"{STAGE_SETTINGS}: thresholds must be an object of {' and '.join(LEVELS)}, not {show(thresholds)}"
        )
    for level, value in thresholds.items():
        require(folder, STAGE_SETTINGS, f"thresholds.{level}", value, *PROBABILITY)


def check_stage_arrays(folder: str | Path, level: str, arrays: Mapping[str, Any]) -> None:
    """One level's arrays in ``article_stage.safetensors`` (shapes already checked): the weights
    finite, the idf positive, ``active`` flags 0 or 1. A NaN stacker weight would score NaN."""
    import numpy as np

    from framescope.model.article_stage import STAGE_WEIGHTS

    for name in ("coef", "intercept", "idf", "idf_unseen", "stacker"):
        arr = arrays[name]
        key = f"{STAGE_WEIGHTS} {level}.{name}"
        if not np.issubdtype(arr.dtype, np.floating):
            raise _fail(folder, f"{key} must be floating point, not {arr.dtype}")
        if not np.isfinite(arr).all():
            raise _fail(folder, f"{key} holds NaN or infinite values")
        if name.startswith("idf") and not (arr > 0).all():
            raise _fail(folder, f"{key} must be positive")
    active = arrays["active"]
    if not (np.issubdtype(active.dtype, np.integer) and np.isin(active, (0, 1)).all()):
        raise _fail(folder, f"{STAGE_WEIGHTS} {level}.active must hold 0 or 1 per technique")


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
    except OSError as err:
        raise _fail(folder, f"{CONFIG_FILE} cannot be read ({err.strerror or err})") from None
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
        raise _fail(
            folder, f"{SETTINGS_FILE}: extra.n_channels is {n_channels}, not 2 x {len(settings.techniques)} techniques"
        )
    max_pos = config.get("max_position_embeddings")
    if isinstance(max_pos, int) and settings.max_length > max_pos:
        raise _fail(
            folder, f"{SETTINGS_FILE}: max_length {settings.max_length} exceeds the encoder's {max_pos} positions"
        )
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
            raise _fail(folder, f"model.safetensors {name} must be floating point, not {arr.dtype}")
        if not np.isfinite(arr).all():
            raise _fail(folder, f"model.safetensors {name} holds NaN or infinite values")
    return n_features


def check_onnx_outputs(folder: str | Path, path: str | Path, session, settings: TaggerSettings, n_labels: int) -> None:
    """The ONNX graph takes ``input_ids``/``attention_mask`` (or ``inputs_embeds`` for ``input_ids``
    where the folder references its embedding table in the base) and gives ``logits [.., .., n_labels]``."""
    inputs = {i.name for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    name = Path(path).name
    allowed = [{"input_ids", "attention_mask"}]
    if settings.embeddings_reference is not None:
        allowed.append({"inputs_embeds", "attention_mask"})
    if inputs not in allowed:
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
