"""The one tagger object: load, save, score, decode, fingerprint, whatever its weights.

A tagger turns texts into per-token probabilities over the ``[inside, begin]`` channels
(:mod:`framescope.model.targets`) with the tokens' character offsets; decoding and
calibration are shared, so the linear baseline and the transformer are compared on
exactly the same footing.

Hugging Face conventions: ``SpanTagger.from_pretrained(folder or models:/ or runs:/ URI,
backend=...)`` opens any framescope model folder (the settings say which class it is, see
:data:`MODEL_TYPES`; :mod:`framescope.model.registry` resolves MLflow URIs) and
``save_pretrained(folder)`` writes one. This base class reads and writes the settings, the
taxonomy and the article stage; a subclass only its weights (``_load_weights`` and
``_save_weights``). ``score(texts)`` returns
typed :class:`~framescope.model.result.ArticleResult` s, ``predict(texts)`` the spans, and
``fingerprint()`` a digest of everything that changes the numbers (the scoring journal's
resume key). Fitting, calibration and evaluation belong to :mod:`framescope.training`
(``fit_tagger``, ``calibrate_tagger``, ``evaluate_tagger``), which sits above this layer
as Hugging Face's ``Trainer`` sits beside ``PreTrainedModel``; what they choose is stored
in the tagger's settings (``settings.calibration``).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

from framescope.errors import ModelError, UsageError
from framescope.labels.atomic import fsync_dir
from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.model import folder_checks as checks
from framescope.model.decoding import PredictedSpan, decode_spans, word_bounds
from framescope.model.registry import is_mlflow_uri, registry_name_version, resolve_model_folder
from framescope.model.settings import SETTINGS_FILE, TaggerSettings, folder_error, load_folder_taxonomy, save_taxonomy

if TYPE_CHECKING:
    from framescope.model.article_stage import ArticleStage
    from framescope.model.result import ArticleResult

#: The forward passes a tagger can be loaded with (see :meth:`SpanTagger.from_pretrained`).
BACKENDS = ("torch", "torch-bf16", "onnx-fp32", "onnx-int8")
#: ``model_type`` in ``framescope.json`` -> the class that reads such a folder; imported on use,
#: so that loading the linear baseline never imports torch.
MODEL_TYPES = {
    "linear": "framescope.model.linear:LinearTagger",
    "transformer": "framescope.model.transformer:TransformerTagger",
}


def model_class(model_type: str, where: str | Path = "") -> type["SpanTagger"]:
    """The registered tagger class of a ``model_type``."""
    if model_type not in MODEL_TYPES:
        raise folder_error(
            where, f"{SETTINGS_FILE}: model_type must be one of {', '.join(MODEL_TYPES)}, not {model_type!r}"
        )
    module, name = MODEL_TYPES[model_type].split(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class TokenScores:
    """One article's tokens: trimmed character offsets ``[n, 2]`` and probabilities ``[n, 2K]``.

    ``text`` is the article itself: with it, decoding snaps spans to whole words
    (:func:`~framescope.model.decoding.snap_to_words`); every tagger passes it.
    """

    offsets: np.ndarray
    probs: np.ndarray
    text: str | None = None
    _words: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def words(self) -> np.ndarray | None:
        """The article's word boundaries (computed once: calibration decodes many times)."""
        if self._words is None and self.text is not None:
            self._words = word_bounds(self.text)
        return self._words


class SpanTagger:
    settings: TaggerSettings
    taxonomy: Taxonomy
    #: set by from_pretrained for a model opened by MLflow URI: results then name the URI
    source_uri: str | None = None
    #: ``(name, version)`` in the MLflow Model Registry when known (:meth:`set_identity`)
    registry_identity: tuple[str, str] | None = None
    #: the second stage (article and paragraph probabilities), when the folder has one
    stage: "ArticleStage | None" = None

    # -- loading and saving ----------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, path_or_uri: str | Path, backend: str = "torch", expected_taxonomy: str | None = None
    ) -> "SpanTagger":
        """Open a model folder (or an MLflow ``models:/``/``runs:/`` URI) written by ``save_pretrained``.

        ``backend`` picks the forward pass: ``torch`` (the safetensors weights, fp32),
        ``torch-bf16`` (the same weights under bfloat16 autocast: fast where the CPU has
        AVX-512 BF16 or AMX), ``onnx-fp32`` or ``onnx-int8`` (``model.onnx`` /
        ``model.int8.onnx`` written by ``framescope export-onnx``; needs the ``onnx`` extra).
        The linear baseline has only ``torch``. ``expected_taxonomy`` (a taxonomy name or
        file) refuses a model trained on another taxonomy. Called on a subclass, the folder
        must hold that kind of model.

        This class reads the settings, the taxonomy and the article stage; the subclass named
        by the settings reads its weights (:meth:`_load_weights`). The folder is untrusted
        input: every file and value is checked, and whatever does not load exactly raises
        :class:`~framescope.errors.ModelError` (one line naming the file and key), the only
        error loading raises.
        """
        if backend not in BACKENDS:
            raise ModelError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        text = str(path_or_uri)
        folder = resolve_model_folder(text)
        settings = TaggerSettings.load(folder)  # read once, handed to the class that reads the weights
        impl = model_class(settings.model_type, folder)
        if not issubclass(impl, cls):
            raise folder_error(folder, f"a {settings.model_type} model, not a {cls.__name__}")
        taxonomy = load_folder_taxonomy(folder, settings)
        checks.check_settings(folder, settings, taxonomy)
        tagger = impl._load_weights(folder, settings, taxonomy, backend)
        tagger.stage = _load_stage(folder, tagger.techniques)
        if is_mlflow_uri(text):
            tagger.source_uri = text
            tagger.registry_identity = registry_name_version(text)
        if expected_taxonomy is not None:
            from framescope.labels.taxonomy import load_taxonomy

            want, have = load_taxonomy(expected_taxonomy).identity, taxonomy.identity
            if want.sha256 != have.sha256:
                raise folder_error(folder, f"model taxonomy {have} is not the expected {want}")
        return tagger

    @classmethod
    def _load_weights(cls, folder: Path, settings: TaggerSettings, taxonomy: Taxonomy, backend: str) -> "SpanTagger":
        """The subclass's half of loading: its weights (checked), as a tagger of ``settings``."""
        raise NotImplementedError

    def save_pretrained(self, folder: str | Path) -> None:
        """Write the model folder: the weights (the subclass's :meth:`_save_weights`), the
        taxonomy, the article stage when there is one, and the settings.

        The folder is written whole into a hidden sibling and renamed into place, so an
        interrupted save (a crash, a full disk) leaves the previous folder as it was, or no
        folder: never one that loads half-written. An existing folder is replaced whole
        (files of the old model, such as its ONNX export, go with it), and only if it is a
        model folder or empty.
        """
        with _staged_folder(Path(folder)) as staging:
            self._save_weights(staging)
            save_taxonomy(self.taxonomy, staging)
            if self.stage is not None:
                self.stage.save_pretrained(staging)
            self.settings.save(staging)  # last: what makes a folder a model folder

    def _save_weights(self, folder: Path) -> None:
        """The subclass's half of saving: its weights (and what they need, e.g. a tokenizer)."""
        raise NotImplementedError

    # -- identity ----------------------------------------------------------------------------
    @property
    def techniques(self) -> list[str]:
        return list(self.settings.techniques)

    @property
    def backend(self) -> str:
        return "torch"

    @property
    def name(self) -> str:
        """What results and exports call the model: its registry name, else its MLflow URI, else
        the name in its settings."""
        if self.registry_identity is not None:
            return self.registry_identity[0]
        return self.source_uri or self.settings.name

    @property
    def version(self) -> str:
        """The registry version scored with when known, else the version the settings record."""
        if self.registry_identity is not None:
            return self.registry_identity[1]
        return str(self.settings.extra.get("model_version", self.settings.framescope_version))

    def set_identity(self, name: str, version: str) -> None:
        """Name the model as the registry does (the MLflow pyfunc learns it only when served)."""
        self.registry_identity = (name, version)

    def fingerprint(self) -> str:
        """SHA-256 over the settings, the backend and the weights (the scoring journal's resume key).

        Anything that can change the numbers is in it: a resumed run must not mix models or
        backends (bf16, int8).
        """
        h = hashlib.sha256()
        h.update(json.dumps(asdict(self.settings), sort_keys=True, default=str).encode("utf-8"))
        if self.backend != "torch":
            h.update(f"backend={self.backend}".encode())
        self._digest_weights(h)
        if self.stage is not None:  # the stage changes the probabilities: part of the identity
            self.stage.digest(h)
        return h.hexdigest()

    def _digest_weights(self, h) -> None:
        raise NotImplementedError

    # -- scoring -----------------------------------------------------------------------------
    def token_scores(self, texts: Sequence[str]) -> list[TokenScores]:
        raise NotImplementedError

    def set_threads(self, threads: int | None) -> None:
        """Cap the BLAS/OpenMP pools numpy and scikit-learn use (``threadpoolctl``).

        Forward passes with a pool of their own (torch, ONNX Runtime) extend this.
        """
        if threads:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=int(threads))

    def decode(
        self,
        scores: TokenScores,
        thresholds: dict[str, float] | None = None,
        begin_thresholds: dict[str, float] | float | None = None,
        smoothing: dict[str, int] | int | None = None,
        profile: str = "balanced",
    ) -> list[PredictedSpan]:
        """Spans of one article, on whole words; by default with the calibration stored in the
        settings for ``profile`` (explicit ``thresholds`` override it)."""
        return decode_spans(
            scores.probs,
            scores.offsets,
            self.techniques,
            thresholds or self.settings.all_thresholds(profile),
            begin_thresholds if begin_thresholds is not None else self.settings.all_begin_thresholds(),
            smoothing if smoothing is not None else self.settings.smoothing,
            text=scores.text,
        )

    def predict(
        self, texts: Sequence[str] | Iterable[Document], profile: str = "balanced"
    ) -> list[list[PredictedSpan]]:
        """Spans per text, with the model's calibrated thresholds of ``profile``."""
        texts = [t.text if isinstance(t, Document) else t for t in texts]
        return [self.decode(s, profile=profile) for s in self.token_scores(texts)]

    def score(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        langs: Sequence[str | None] | None = None,
        profile: str = "balanced",
    ) -> list["ArticleResult"]:
        """Typed article results: spans with categories and text, technique/category/overall
        scores, and the article stage's probabilities (article and paragraphs) when there is one.

        ``profile`` picks the span thresholds (``balanced`` or ``precise``); the probabilities
        do not depend on it.
        """
        from framescope.model.scorer import article_result

        texts = list(texts)
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        langs = list(langs) if langs is not None else [None] * len(texts)
        token_scores = self.token_scores(texts)
        staged = self.stage.predict(texts, token_scores, langs) if self.stage is not None else [None] * len(texts)
        return [
            article_result(self, id_, lang, text, self.decode(ts, profile=profile), st, profile)
            for text, id_, lang, ts, st in zip(texts, ids, langs, token_scores, staged)
        ]


def _load_stage(folder: Path, techniques: list[str]) -> "ArticleStage | None":
    """The folder's article stage (``None`` when it has none), for the tagger's techniques."""
    from framescope.model.article_stage import ArticleStage

    stage = ArticleStage.from_pretrained(folder)
    if stage is not None and stage.techniques != techniques:
        raise folder_error(folder, "the article stage's techniques are not the tagger's")
    return stage


def check_save_target(folder: str | Path) -> Path:
    """The folder ``save_pretrained(folder)`` would replace (a link's target), if it may: absent,
    empty or a model folder. Anything else is a UsageError, so that replacing the folder whole
    never deletes a user's files; callers that train for long check this before they start."""
    target = Path(folder)
    if target.is_symlink():
        target = target.resolve()  # replace the folder the link points at, not the link
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / SETTINGS_FILE).is_file():
        raise UsageError(
            f"{target}: not a framescope model folder (no {SETTINGS_FILE}) and not empty; refusing to replace it"
        )
    return target


@contextmanager
def _staged_folder(target: Path) -> Iterator[Path]:
    """An empty hidden sibling of ``target`` to write a model folder into; renamed to ``target``
    once the block completes, removed if it fails."""
    target = check_save_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(target, "saving")
    staging.mkdir()
    try:
        yield staging
        for path in staging.iterdir():  # durable before the rename makes them visible
            if path.is_file():
                _fsync(path)
        fsync_dir(staging)
        _replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_folder(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is moved aside first and deleted
    only once the new folder is in place (put back if the rename fails)."""
    old = None
    if target.exists():
        old = _sibling(target, "old")
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _sibling(target: Path, what: str) -> Path:
    """A hidden, unused name beside ``target`` (``.model.1a2b3c4d.saving``)."""
    return target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.{what}"
