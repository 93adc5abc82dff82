"""The scikit-learn baseline: hashed lexical features and one linear model per channel.

It needs no pretrained weights and trains in seconds, which makes it the embedded
default behind the quickstart and a floor every transformer run must clear. It goes
through the same targets, decoding, calibration and metrics as the transformer.
Weights are stored as plain arrays in safetensors, never pickled. Fitting (one
``SGDClassifier`` per channel) is :func:`framescope.training.fit.fit_linear`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.feature_extraction import FeatureHasher

from framescope.labels.taxonomy import Taxonomy
from framescope.model import folder_checks as checks
from framescope.model.numeric import sigmoid
from framescope.model.settings import TaggerSettings, folder_error
from framescope.model.tagger import SpanTagger, TokenScores
from framescope.model.targets import word_offsets

WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class LinearSettings:
    """The linear tagger's hyper-parameters and their one set of defaults (a training
    config's ``linear`` section is this class): hashed feature columns, the SGD L2 strength,
    passes over the data, and the cap on a channel's positive-class weight."""

    n_features: int = 2**16
    alpha: float = 1.0e-3
    epochs: int = 15
    pos_weight_max: float = 10.0


def _shape(word: str) -> str:
    if word.isupper() and len(word) > 1:
        return "AA"
    if word[:1].isupper():
        return "Aa"
    if word.isdigit():
        return "0"
    if word.isalpha():
        return "a"
    return "p"


def token_features(text: str, offsets: np.ndarray, context: int = 2, bag: int = 6) -> list[list[str]]:
    """Per-token feature strings: the word, affixes, shape, neighbours and a bag of nearby words.

    The bag of nearby words lets clause-level techniques (Doubt, Appeal_to_Fear) that no
    single word signals still be picked up.
    """
    words = [text[a:b].lower() for a, b in offsets]
    feats = []
    n = len(words)
    for i, w in enumerate(words):
        f = ["b", f"w={w}", f"p3={w[:3]}", f"s3={w[-3:]}", f"sh={_shape(text[offsets[i][0] : offsets[i][1]])}"]
        for d in range(1, context + 1):
            f.append(f"w-{d}={words[i - d] if i - d >= 0 else '<s>'}")
            f.append(f"w+{d}={words[i + d] if i + d < n else '</s>'}")
        for j in range(max(0, i - bag), min(n, i + bag + 1)):
            f.append(f"n={words[j]}")
        feats.append(f)
    return feats


class LinearTagger(SpanTagger):
    """scikit-learn estimator conventions (hyperparameters in the constructor, ``coef_``), HF-style folders."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        n_features: int = LinearSettings.n_features,
        alpha: float = LinearSettings.alpha,
        epochs: int = LinearSettings.epochs,
        seed: int = 0,
        pos_weight_max: float = LinearSettings.pos_weight_max,
        settings: TaggerSettings | None = None,
    ):
        self.taxonomy = taxonomy
        self.n_features = n_features
        self.alpha = alpha
        self.epochs = epochs
        self.seed = seed
        self.pos_weight_max = pos_weight_max
        self.settings = settings or TaggerSettings(
            model_type="linear",
            techniques=taxonomy.names,
            taxonomy=taxonomy.identity.to_dict(),
            extra={"n_features": n_features},
        )
        self._hasher = FeatureHasher(n_features=n_features, input_type="string", alternate_sign=False)
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None

    def _matrix(self, texts: Sequence[str]):
        offsets = [word_offsets(t) for t in texts]
        rows = []
        for t, o in zip(texts, offsets):
            rows.extend(token_features(t, o))
        return offsets, self._hasher.transform(rows) if rows else None

    def token_scores(self, texts: Sequence[str], chunk: int = 20_000) -> list[TokenScores]:
        """Per-token probabilities; features are built ``chunk`` tokens at a time.

        Features look at most ``bag`` words either side, so scoring a chunk with that margin
        gives exactly the probabilities of a one-pass computation while memory stays bounded
        on a 10 MB article.
        """
        if self.coef_ is None:
            raise RuntimeError("LinearTagger is not fitted")
        margin = 8
        coef_t = self._coef_columns()
        out = []
        for text in texts:
            offsets = word_offsets(text)
            n = len(offsets)
            probs = np.zeros((n, len(self.coef_)), dtype=np.float32)
            for a in range(0, n, chunk):
                b = min(a + chunk, n)
                lo, hi = max(0, a - margin), min(n, b + margin)
                rows = token_features(text, offsets[lo:hi])[a - lo : a - lo + (b - a)]
                x = self._hasher.transform(rows)
                logits = np.asarray(x @ coef_t) + self.intercept_
                probs[a:b] = sigmoid(logits)
            out.append(TokenScores(offsets, probs, text))
        return out

    def _coef_columns(self) -> np.ndarray:
        """``coef_.T`` as a C-contiguous array, made once per set of weights.

        scipy's sparse-times-dense product flattens a dense operand that is not C-contiguous
        into a fresh copy on every call: with ``coef_.T`` that was a copy of the whole weight
        matrix (12 MB for the quickstart model) per article, 39% of the CPU time of scoring
        tiny articles. The same numbers in the same order: the products are bit-identical.
        """
        cached = getattr(self, "_coef_t", None)
        if cached is None or cached[0] is not self.coef_:
            cached = (self.coef_, np.ascontiguousarray(self.coef_.T))
            self._coef_t = cached
        return cached[1]

    def _save_weights(self, folder: Path) -> None:
        """``coef`` and ``intercept`` as plain arrays; the hashing size and alpha go into the settings."""
        save_file({"coef": self.coef_, "intercept": self.intercept_}, str(folder / WEIGHTS_FILE))
        self.settings.extra.update({"n_features": self.n_features, "alpha": self.alpha})

    @classmethod
    def _load_weights(cls, folder: Path, settings: TaggerSettings, taxonomy: Taxonomy, backend: str) -> "LinearTagger":
        if backend != "torch":
            raise folder_error(folder, f"the linear baseline has no {backend} backend")
        path = Path(folder) / WEIGHTS_FILE
        if not path.is_file():
            raise folder_error(folder, f"no {WEIGHTS_FILE}")
        try:
            weights = load_file(str(path))
        except Exception as err:  # safetensors raises its own error types for a damaged file
            raise folder_error(folder, f"{WEIGHTS_FILE} cannot be read ({err})") from None
        n_features = checks.check_linear_weights(folder, weights, settings)
        tagger = cls(taxonomy, n_features=n_features, settings=settings)
        tagger.coef_, tagger.intercept_ = weights["coef"], weights["intercept"]
        return tagger

    def _digest_weights(self, h) -> None:
        for attr in ("coef_", "intercept_"):
            arr = getattr(self, attr, None)
            if arr is not None:
                h.update(attr.encode())
                h.update(memoryview(arr.tobytes()))
