"""Building and fitting a tagger: ``build_tagger(config)`` then ``fit_tagger(tagger, train, dev, config)``.

The model layer (:mod:`framescope.model`) holds what a tagger *is* and how it scores;
how its weights are learned lives here, above it: the linear baseline's per-channel
``SGDClassifier`` below, the transformer's Hugging Face ``Trainer`` loop in
:mod:`framescope.training.hf_trainer`. :data:`BUILDERS` and :data:`FITTERS` map the
model type to its constructor and fitter, so that ``train.py`` never branches on it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Callable, Sequence

import numpy as np

from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.model.targets import IGNORE, token_targets
from framescope.training.class_weights import positive_weight
from framescope.training.config import Config


def _new_linear(config: Config, taxonomy: Taxonomy):
    from framescope.model.linear import LinearTagger

    return LinearTagger(taxonomy, **asdict(config.linear), seed=config.seed)


def _new_transformer(config: Config, taxonomy: Taxonomy):
    """The pretrained encoder with a new classification head. The head's random
    initialisation is part of the experiment: seeded from the config, or two runs of one
    config would start from different heads (they did: first logged losses 2.080 and
    2.133) and end with different models."""
    from transformers import set_seed

    from framescope.model.transformer import TransformerTagger

    m = config.model
    set_seed(int(config.seed))
    return TransformerTagger.from_base(m.base, taxonomy, max_length=m.max_length, stride=m.stride, scheme=m.scheme)


#: model.type -> a new, unfitted tagger for a config
BUILDERS: dict[str, Callable] = {"linear": _new_linear, "transformer": _new_transformer}


def build_tagger(config: Config, taxonomy: Taxonomy):
    """The unfitted tagger a config describes (``model.type``: linear or transformer)."""
    return BUILDERS[config.model.type](config, taxonomy)


def fit_linear(tagger, docs: Sequence[Document]):
    """One logistic SGD classifier per channel on hashed token features; returns the tagger."""
    from sklearn.linear_model import SGDClassifier

    techniques = tagger.techniques
    offsets, x = tagger._matrix([d.text for d in docs])
    ys = [token_targets(o, tagger.taxonomy.resolve_spans(d.spans), techniques) for d, o in zip(docs, offsets)]
    y = np.concatenate(ys) if ys else np.zeros((0, 2 * len(techniques)), np.float32)
    keep = y[:, 0] != IGNORE if len(y) else np.zeros(0, bool)
    x, y = x[keep], y[keep]
    k2 = 2 * len(techniques)
    coef = np.zeros((k2, tagger.n_features), dtype=np.float32)
    intercept = np.full(k2, -20.0, dtype=np.float32)  # never fires without positives
    for c in range(k2):
        target = y[:, c].astype(np.int64)
        if target.min(initial=0) == target.max(initial=0):
            continue
        pos = max(int(target.sum()), 1)
        weight = positive_weight(pos, len(target) - pos, tagger.pos_weight_max)
        clf = SGDClassifier(
            loss="log_loss",
            alpha=tagger.alpha,
            max_iter=tagger.epochs,
            tol=None,
            class_weight={0: 1.0, 1: float(weight)},
            random_state=tagger.seed,
        )
        clf.fit(x, target)
        coef[c] = clf.coef_[0]
        intercept[c] = clf.intercept_[0]
    tagger.coef_, tagger.intercept_ = coef, intercept
    return tagger


def _fit_linear(tagger, train_docs, dev_docs, config, tracker=None, say=print) -> dict:
    fit_linear(tagger, train_docs)
    return {}


def _fit_transformer(tagger, train_docs, dev_docs, config, tracker=None, say=print) -> dict:
    from framescope.training.hf_trainer import run_trainer

    return run_trainer(tagger, train_docs, dev_docs, config, tracker=tracker, say=say)


#: model_type -> fitter(tagger, train_docs, dev_docs, config, tracker, say) -> training statistics
FITTERS: dict[str, Callable[..., dict]] = {"linear": _fit_linear, "transformer": _fit_transformer}


def fit_tagger(
    tagger,
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document],
    config: Config,
    tracker=None,
    say: Callable[[str], None] = print,
) -> dict:
    """Fit ``tagger`` in place on ``train_docs`` (``dev_docs`` drive early stopping where the
    model type has it); returns training statistics (empty for the linear baseline)."""
    return FITTERS[tagger.settings.model_type](tagger, train_docs, dev_docs, config, tracker=tracker, say=say)
