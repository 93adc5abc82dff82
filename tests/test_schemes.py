"""The scheme registry: every head ends in framescope's [inside.., begin..] channels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from framescope.model.schemes import FOLDER_DEFAULT, SCHEMES, folder_scheme, get_scheme
from framescope.model.targets import IGNORE


def test_unknown_scheme_names_the_choices():
    with pytest.raises(ValueError, match="multilabel-softmax, multilabel, bio"):
        get_scheme("crf")


def test_a_folder_without_a_scheme_is_read_as_sigmoid_multilabel():
    """What today's loader made of folders written before model.scheme existed."""
    assert FOLDER_DEFAULT == "multilabel"
    assert folder_scheme({}).name == "multilabel"
    assert folder_scheme({"scheme": "bio"}).name == "bio"


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_scheme_labels_targets_channels_and_loss_agree(name):
    scheme = get_scheme(name)
    techniques = ["A", "B", "C"]
    k = len(techniques)
    labels = scheme.labels(techniques)
    # targets of 4 tokens: A begins at 0 and runs to 1, B and C overlap on 2, token 3 ignored
    y = np.zeros((4, 2 * k), np.float32)
    y[[0, 1], 0] = 1
    y[0, k] = 1
    y[2, [1, 2]] = 1
    y[2, [k + 1, k + 2]] = 1
    y[3] = IGNORE
    t = scheme.targets(y)
    assert len(t) == 4
    if scheme.float_targets:
        assert t.shape[1] == len(labels) and (t[3] == IGNORE).all()
    else:
        assert t[3] == -100 and t.dtype == np.int64
    logits = torch.randn(1, 4, len(labels), generator=torch.Generator().manual_seed(0))
    probs = scheme.channel_probs(logits)
    assert probs.shape == (1, 4, 2 * k) and bool(((probs >= 0) & (probs <= 1 + 1e-6)).all())
    loss = scheme.loss(logits, torch.as_tensor(t)[None])
    assert loss.ndim == 0 and torch.isfinite(loss)
