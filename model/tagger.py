"""The one tagger object: load, save, score, decode, fingerprint, whatever its weights.

A tagger turns texts into per-token probabilities over the ``[inside, begin]`` channels
(:mod:`framescope.model.targets`) with the tokens' character offsets; decoding and
calibration are shared, so the linear baseline and the transformer are compared on
exactly the same footing.

Hugging Face conventions: ``SpanTagger.from_pretrained(folder or models:/ or runs:/ URI,
backend=...)`` opens any framescope model folder (the settings say which class it is, see
:data:`MODEL_TYPES`) and ``save_pretrained(folder)`` writes one. ``score(texts)`` returns
typed :class:`~framescope.model.scorer.ArticleResult` s, ``predict(texts)`` the spans, and
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from framescope.errors import ModelError
from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.model.decoding import PredictedSpan, decode_spans, word_bounds
from framescope.model.settings import SETTINGS_FILE, TaggerSettings

if TYPE_CHECKING:
    from framescope.model.article_stage import ArticleStage
    from framescope.model.scorer import ArticleResult

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
        raise ValueError(f"{where}: unknown model_type {model_type!r}")
    module, name = MODEL_TYPES[model_type].split(":")
    return getattr(importlib.import_module(module), name)


def is_mlflow_uri(text: str) -> bool:
    return text.startswith(("models:/", "runs:/"))


def registry_name_version(uri: str) -> tuple[str, str] | None:
    """``(name, version)`` of ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` (the alias asked of the
    registry), so that exports name the registry version scored with; None for other URIs."""
    rest = uri.removeprefix("models:/")
    if rest == uri:
        return None
    name, _, version = rest.partition("/")
    if "@" in name:
        import mlflow

        name, _, alias = name.partition("@")
        try:
            version = str(mlflow.MlflowClient().get_model_version_by_alias(name, alias).version)
        except Exception:  # the artifacts were downloaded, so this is rare: keep the URI as the name
            return None
    return (name, version) if version.isdigit() else None


def require_existing_store(uri: str) -> None:
    """Refuse to look ``uri`` (``models:/...``, ``runs:/...``) up in a store that does not exist.

    MLflow's default store is ``sqlite:///mlflow.db`` in the working directory, and merely
    asking a missing SQLite store for a model creates the database file: a typo in a cron
    job's working directory would leave an empty ``mlflow.db`` behind and report "model
    not found". Only SQLite stores are checked; a server or a file store is asked as is.
    """
    from urllib.parse import unquote

    import mlflow

    store = mlflow.get_registry_uri() if uri.startswith("models:/") else mlflow.get_tracking_uri()
    if not store.startswith("sqlite:///"):
        return
    # sqlite:///relative.db or sqlite:////absolute/path.db (SQLAlchemy's spelling)
    name = unquote(store[len("sqlite:///"):].split("?", 1)[0])
    if name in ("", ":memory:"):
        return
    path = Path(name)
    if not path.is_file():
        raise ModelError(
            f"{uri}: there is no MLflow store at {path} (MLflow's default: mlflow.db in the working directory); "
            "set MLFLOW_TRACKING_URI to the store the model was registered in"
        )


def resolve_model_folder(path_or_uri: str | Path) -> Path:
    """A local model folder: the path itself, or the folder inside a downloaded MLflow model."""
    text = str(path_or_uri)
    if not is_mlflow_uri(text):
        return Path(text)
    import mlflow

    require_existing_store(text)  # a lookup would otherwise create ./mlflow.db
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=text)
    except mlflow.exceptions.MlflowException as err:
        raise ModelError(f"{text}: {err.message}") from None
    folder = Path(local) / "artifacts" / "model_dir"
    if not folder.exists():
        candidates = list(Path(local).rglob(SETTINGS_FILE))
        if not candidates:
            raise FileNotFoundError(f"{text}: no framescope model folder inside the MLflow model")
        folder = candidates[0].parent
    return folder


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
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        text = str(path_or_uri)
        folder = resolve_model_folder(text)
        settings = TaggerSettings.load(folder)  # read once, handed to the class that reads the weights
        impl = model_class(settings.model_type, folder)
        if not issubclass(impl, cls):
            raise ValueError(f"{folder}: a {settings.model_type} model, not a {cls.__name__}")
        tagger = impl._from_folder(folder, settings, backend)
        from framescope.model.article_stage import ArticleStage

        tagger.stage = ArticleStage.from_pretrained(folder)  # None when the folder has no stage
        if tagger.stage is not None and tagger.stage.techniques != tagger.techniques:
            raise ModelError(f"model folder {folder}: the article stage's techniques are not the tagger's")
        if is_mlflow_uri(text):
            tagger.source_uri = text
            tagger.registry_identity = registry_name_version(text)
        if expected_taxonomy is not None:
            from framescope.labels.taxonomy import load_taxonomy

            want = load_taxonomy(expected_taxonomy).identity
            have = tagger.taxonomy.identity
            if want.sha256 != have.sha256:
                raise ValueError(f"{folder}: model taxonomy {have} is not the expected {want}")
        return tagger

    @classmethod
    def _from_folder(cls, folder: Path, settings: TaggerSettings, backend: str) -> "SpanTagger":
        raise NotImplementedError

    def save_pretrained(self, folder: str | Path) -> None:
        raise NotImplementedError

    def save_stage(self, folder: str | Path) -> None:
        """Write the article stage beside the weights; a stale stage of an earlier run goes."""
        from framescope.model.article_stage import STAGE_SETTINGS, STAGE_WEIGHTS

        if self.stage is not None:
            self.stage.save_pretrained(folder)
            return
        for name in (STAGE_SETTINGS, STAGE_WEIGHTS):
            (Path(folder) / name).unlink(missing_ok=True)

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

    def predict(self, texts: Sequence[str] | Iterable[Document], profile: str = "balanced") -> list[list[PredictedSpan]]:
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


def load_tagger(path_or_uri: str | Path, backend: str = "torch") -> SpanTagger:
    """``SpanTagger.from_pretrained(path_or_uri, backend=backend)`` (the older name, kept for callers)."""
    return SpanTagger.from_pretrained(path_or_uri, backend=backend)
