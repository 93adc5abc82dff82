"""What a model folder records besides its weights: everything inference needs to use it.

Stored as ``framescope.json`` next to the weights (safetensors) and the taxonomy
(``taxonomy.yaml``). JSON and YAML only: a model folder is untrusted input, so nothing
in it is ever unpickled or executed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from framescope import __version__
from framescope.errors import ModelError
from framescope.labels.atomic import atomic_open
from framescope.labels.taxonomy import Taxonomy

SETTINGS_FILE = "framescope.json"
TAXONOMY_FILE = "taxonomy.yaml"
#: ``extra`` key of a frozen word-embedding table referenced in the base (model/base_embeddings.py)
BASE_EMBEDDINGS_KEY = "base_embeddings"
FORMAT_VERSION = 1
PROFILES = ("balanced", "precise")
OFF = 2.0  # a threshold no probability reaches: the technique is switched off


@dataclass
class DecodingCalibration:
    """What calibration chooses on dev and decoding applies: thresholds, begin splits, smoothing.

    A technique without a threshold of its own (too little dev support) falls back to
    ``global_threshold``; that fallback is defined here, once, for calibration and scoring.
    """

    thresholds: dict[str, float] = field(default_factory=dict)
    global_threshold: float = 0.5
    begin_threshold: float = 0.5
    begin_thresholds: dict[str, float] = field(default_factory=dict)
    smoothing: dict[str, int] = field(default_factory=dict)  # tokens averaged before thresholding

    def threshold(self, technique: str) -> float:
        return float(self.thresholds.get(technique, self.global_threshold))

    def all_thresholds(self, techniques: Sequence[str]) -> dict[str, float]:
        return {t: self.threshold(t) for t in techniques}

    def all_begin_thresholds(self, techniques: Sequence[str]) -> dict[str, float]:
        return {t: float(self.begin_thresholds.get(t, self.begin_threshold)) for t in techniques}


_CALIBRATION_FIELDS = ("thresholds", "global_threshold", "begin_threshold", "begin_thresholds", "smoothing")


@dataclass
class TaggerSettings:
    model_type: str  # "transformer" or "linear"
    techniques: list[str]
    taxonomy: dict[str, str]  # identity: name, version, sha256
    thresholds: dict[str, float] = field(default_factory=dict)
    global_threshold: float = 0.5
    begin_threshold: float = 0.5
    begin_thresholds: dict[str, float] = field(default_factory=dict)
    smoothing: dict[str, int] = field(default_factory=dict)  # tokens averaged before thresholding
    # the "precise" profile (calibration.precise_thresholds); techniques absent are off.
    # None: a folder calibrated before profiles existed, which has only "balanced"
    precise_thresholds: dict[str, float] | None = None
    max_length: int = 256
    stride: int = 64
    encoding: str = "inside+begin per technique (sigmoid)"
    framescope_version: str = __version__
    format_version: int = FORMAT_VERSION
    name: str = "framescope"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def embeddings_reference(self) -> dict | None:
        """The base's embedding table this folder references instead of storing, or ``None``."""
        return self.extra.get(BASE_EMBEDDINGS_KEY)

    @property
    def calibration(self) -> DecodingCalibration:
        """The decoding calibration, typed (stored flat in ``framescope.json``, as it always was)."""
        return DecodingCalibration(**{f: getattr(self, f) for f in _CALIBRATION_FIELDS})

    @calibration.setter
    def calibration(self, cal: DecodingCalibration) -> None:
        for f in _CALIBRATION_FIELDS:
            setattr(self, f, getattr(cal, f))

    def threshold(self, technique: str) -> float:
        return self.calibration.threshold(technique)

    def all_thresholds(self, profile: str = "balanced") -> dict[str, float]:
        """Decoding thresholds of a profile: ``balanced`` (best F1 on dev) or ``precise``.

        In the precise profile a switched-off technique gets a threshold above 1: no
        probability reaches it.
        """
        if profile == "balanced":
            return self.calibration.all_thresholds(self.techniques)
        if profile == "precise":
            if self.precise_thresholds is None:
                raise ValueError(
                    "this model folder has no precise profile (calibrated before profiles; run framescope calibrate)"
                )
            return {t: float(self.precise_thresholds.get(t, OFF)) for t in self.techniques}
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")

    def all_begin_thresholds(self) -> dict[str, float]:
        return self.calibration.all_begin_thresholds(self.techniques)

    def save(self, folder: str | Path) -> None:
        with atomic_open(Path(folder) / SETTINGS_FILE) as fh:
            json.dump(asdict(self), fh, indent=2, ensure_ascii=False)
            fh.write("\n")

    @classmethod
    def load(cls, folder: str | Path) -> "TaggerSettings":
        """Read ``framescope.json``; anything that is not a settings object of the right types is a
        :class:`~framescope.errors.ModelError` naming the file and key (ranges and the
        technique lists are checked by :func:`framescope.model.folder_checks.check_settings`)."""
        path = Path(folder) / SETTINGS_FILE
        if not path.is_file():
            raise folder_error(folder, f"not a framescope model folder (no {SETTINGS_FILE})")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise folder_error(folder, f"{SETTINGS_FILE}: invalid JSON at line {err.lineno}: {err.msg}") from None
        except UnicodeDecodeError as err:
            raise folder_error(folder, f"{SETTINGS_FILE}: not valid UTF-8 at byte {err.start}") from None
        except OSError as err:
            raise folder_error(folder, f"{SETTINGS_FILE} cannot be read ({err.strerror or err})") from None
        if not isinstance(data, dict):
            raise folder_error(folder, f"{SETTINGS_FILE} must be a JSON object")
        missing = [k for k in ("model_type", "techniques", "taxonomy") if k not in data]
        if missing:
            raise folder_error(folder, f"{SETTINGS_FILE}: missing {', '.join(missing)}")
        _check_types(folder, data)
        version = data.get("format_version", 0)
        if version > FORMAT_VERSION:
            raise folder_error(
                folder,
                f"{SETTINGS_FILE}: model folder format {version} is newer than this framescope understands "
                f"({FORMAT_VERSION}); upgrade framescope",
            )
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def folder_error(folder: str | Path, message: str) -> ModelError:
    """The one shape of every refusal of a model folder: folder, file, key and what is wrong, one line."""
    return ModelError(" ".join(f"model folder {folder}: {message}; refusing to score with it".split()))


def show(value: Any) -> str:
    """A value as an error message quotes it: ``repr`` on one line, cut at 60 characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


#: ``framescope.json`` key -> (the types its value may have, how the error names them)
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "model_type": ((str,), "a string"),
    "techniques": ((list,), "a list of technique names"),
    "taxonomy": ((dict,), "an object (name, version, sha256)"),
    "thresholds": ((dict,), "an object"),
    "global_threshold": ((int, float), "a number"),
    "begin_threshold": ((int, float), "a number"),
    "begin_thresholds": ((dict,), "an object"),
    "smoothing": ((dict,), "an object"),
    "precise_thresholds": ((dict, type(None)), "an object or null"),
    "max_length": ((int,), "a whole number"),
    "stride": ((int,), "a whole number"),
    "encoding": ((str,), "a string"),
    "framescope_version": ((str,), "a string"),
    "format_version": ((int,), "a whole number"),
    "name": ((str,), "a string"),
    "extra": ((dict,), "an object"),
}


def _check_types(folder: str | Path, data: dict) -> None:
    """Each known key of ``framescope.json`` holds a value of its type (``true`` is no number)."""
    for key, (types, what) in _TYPES.items():
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise folder_error(folder, f"{SETTINGS_FILE}: {key} must be {what}, not {show(value)}")


def save_taxonomy(taxonomy: Taxonomy, folder: str | Path) -> None:
    taxonomy.save(Path(folder) / TAXONOMY_FILE)


def load_folder_taxonomy(folder: str | Path, settings: TaggerSettings) -> Taxonomy:
    """The taxonomy saved with the model, checked against the identity the settings record."""
    try:
        tax = Taxonomy.from_file(Path(folder) / TAXONOMY_FILE)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise folder_error(folder, f"{TAXONOMY_FILE} does not load ({reason})") from None
    if tax.identity.sha256 != settings.taxonomy.get("sha256"):
        raise folder_error(
            folder,
            f"{TAXONOMY_FILE} does not match the taxonomy the model was trained with "
            f"({settings.taxonomy.get('name')}@{settings.taxonomy.get('version')})",
        )
    return tax
