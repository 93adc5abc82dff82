"""The scikit-learn baseline: hashed lexical features and one linear model per channel.

It needs no pretrained weights and trains in seconds, which makes it the embedded
default behind the quickstart and a floor every transformer run must clear. It goes
through the same targets, decoding, calibration and metrics as the transformer.
Weights are stored as plain arrays in safetensors, never pickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import SGDClassifier

from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.training.settings import (
    TaggerSettings,
    load_folder_taxonomy,
    save_taxonomy,
)
from framescope.training.tagger import SpanTagger, TokenScores
from framescope.training.targets import IGNORE, token_targets, word_offsets

WEIGHTS_FILE = "model.safetensors"


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
        f = ["b", f"w={w}", f"p3={w[:3]}", f"s3={w[-3:]}", f"sh={_shape(text[offsets[i][0]:offsets[i][1]])}"]
        for d in range(1, context + 1):
            f.append(f"w-{d}={words[i - d] if i - d >= 0 else '<s>'}")
            f.append(f"w+{d}={words[i + d] if i + d < n else '</s>'}")
        for j in range(max(0, i - bag), min(n, i + bag + 1)):
            f.append(f"n={words[j]}")
        feats.append(f)
    return feats


class LinearTagger(SpanTagger):
    """scikit-learn estimator conventions: ``fit`` then ``predict``; HF-style folders."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        n_features: int = 2**16,
        alpha: float = 1e-3,
        epochs: int = 10,
        seed: int = 0,
        pos_weight_max: float = 10.0,
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

    def fit(self, docs: Sequence[Document]) -> "LinearTagger":
        techniques = self.techniques
        offsets, x = self._matrix([d.text for d in docs])
        ys = [
            token_targets(o, self.taxonomy.resolve_spans(d.spans), techniques)
            for d, o in zip(docs, offsets)
        ]
        y = np.concatenate(ys) if ys else np.zeros((0, 2 * len(techniques)), np.float32)
        keep = y[:, 0] != IGNORE if len(y) else np.zeros(0, bool)
        x, y = x[keep], y[keep]
        k2 = 2 * len(techniques)
        coef = np.zeros((k2, self.n_features), dtype=np.float32)
        intercept = np.full(k2, -20.0, dtype=np.float32)  # never fires without positives
        for c in range(k2):
            target = y[:, c].astype(np.int64)
            if target.min(initial=0) == target.max(initial=0):
                continue
            # positives weighted by sqrt(neg/pos), capped: rare techniques are heard without
            # the fully "balanced" weighting that saturates every probability at 1.0
            pos = max(int(target.sum()), 1)
            weight = min(np.sqrt((len(target) - pos) / pos), self.pos_weight_max)
            clf = SGDClassifier(
                loss="log_loss",
                alpha=self.alpha,
                max_iter=self.epochs,
                tol=None,
                class_weight={0: 1.0, 1: float(weight)},
                random_state=self.seed,
            )
            clf.fit(x, target)
            coef[c] = clf.coef_[0]
            intercept[c] = clf.intercept_[0]
        self.coef_, self.intercept_ = coef, intercept
        return self

    def token_scores(self, texts: Sequence[str], progress: bool = False, chunk: int = 20_000) -> list[TokenScores]:
        """Per-token probabilities; features are built ``chunk`` tokens at a time.

        Features look at most ``bag`` words either side, so scoring a chunk with that margin
        gives exactly the probabilities of a one-pass computation while memory stays bounded
        on a 10 MB article.
        """
        if self.coef_ is None:
            raise RuntimeError("LinearTagger is not fitted")
        margin = 8
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
                logits = np.asarray(x @ self.coef_.T) + self.intercept_
                probs[a:b] = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
            out.append(TokenScores(offsets, probs, text))
        return out

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({"coef": self.coef_, "intercept": self.intercept_}, str(folder / WEIGHTS_FILE))
        self.settings.extra.update({"n_features": self.n_features, "alpha": self.alpha})
        save_taxonomy(self.taxonomy, folder)
        self.settings.save(folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "LinearTagger":
        settings = TaggerSettings.load(folder)
        taxonomy = load_folder_taxonomy(folder, settings)
        tagger = cls(taxonomy, n_features=int(settings.extra["n_features"]), settings=settings)
        weights = load_file(str(Path(folder) / WEIGHTS_FILE))
        tagger.coef_, tagger.intercept_ = weights["coef"], weights["intercept"]
        if tagger.coef_.shape != (2 * len(settings.techniques), tagger.n_features):
            raise ValueError(f"{folder}: weights do not match the settings' techniques")
        return tagger

