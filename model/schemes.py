"""The transformer head's target schemes: one class each, found by name in a small registry.

Every scheme ends in framescope's ``[inside.., begin..]`` channels (:mod:`framescope.model.targets`),
so decoding and calibration never need to know which one produced them. What differs,
and what each class owns: the head's output labels, the per-token training targets built
from the multi-label targets, the step from logits to channel probabilities, the loss,
and the one-line descriptions the settings and the model card carry.

* ``multilabel-softmax`` (:class:`SoftTargetSoftmax`, the default of the shipped configs):
  one softmax over ``O, B-t, I-t`` per token, trained with cross-entropy against *soft*
  targets that share the token's probability mass equally among all the techniques it
  carries (Mahajan et al. 2018 found this normalised k-hot softmax beats per-class
  sigmoids for multi-label training). Overlaps are kept in the targets, and since every
  technique's score ``p(B-t) + p(I-t)`` is thresholded on its own, a token can come out
  with several.
* ``multilabel`` (:class:`SigmoidMultilabel`): ``2K`` independent sigmoid channels
  (inside/begin per technique) with a class-weighted BCE. Measured on the SemEval-2023
  dev split it learns less in the same budget than the softmax (docs/results.md), so it
  is kept as an option, not the default.
* ``bio`` (:class:`Bio`): the textbook single-label recipe (hard BIO tags, overlaps
  resolved by the last span written), as a reference to beat.

torch is imported inside the methods that need it: configs name a scheme, and reading a
config (``framescope quickstart`` trains the torch-free linear baseline) must not load torch.

A model folder written before ``model.scheme`` was recorded has sigmoid heads:
:data:`FOLDER_DEFAULT` keeps reading such folders as ``multilabel``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from framescope.model.targets import IGNORE

if TYPE_CHECKING:
    import torch

#: What a model folder without ``extra["scheme"]`` was trained with (folders predating the setting).
FOLDER_DEFAULT = "multilabel"
#: What ``framescope train`` uses when the config does not say (``model.scheme``).
CONFIG_DEFAULT = "multilabel-softmax"


class Scheme:
    """The interface; see the module docstring for the three implementations."""

    name: str = ""
    #: settings.encoding of a folder trained with this scheme
    encoding: str = ""
    #: how the model card explains the probabilities
    description: str = ""
    #: float target rows (sigmoid, soft softmax) rather than one integer tag per token
    float_targets: bool = True
    #: per-epoch dev evaluation calibrates thresholds (False: the reference decodes at 0.5)
    calibrated: bool = True
    #: positives weighted in the loss by sqrt(neg/pos), capped (training.pos_weight_max)
    weighted: bool = False

    def labels(self, techniques: Sequence[str]) -> list[str]:
        """The head's output labels, in logit order."""
        return ["O"] + [f"B-{t}" for t in techniques] + [f"I-{t}" for t in techniques]

    def configure(self, model_config) -> None:
        """Adjust the Hugging Face config of a fresh head (e.g. its problem type)."""

    def targets(self, y: np.ndarray) -> np.ndarray:
        """Multi-label ``[n, 2K]`` targets -> this head's per-token training targets."""
        raise NotImplementedError

    def ignored(self, n_tokens: int, width: int) -> np.ndarray:
        """Label rows for a window's special tokens, which the loss skips."""
        return np.full((n_tokens, width), IGNORE, dtype=np.float32)

    def channel_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits ``[..., n_labels]`` -> channel probabilities ``[..., 2K]``."""
        import torch

        k = (logits.shape[-1] - 1) // 2
        return bio_channels(torch.softmax(logits, dim=-1), k)

    def loss(
        self, logits: torch.Tensor, labels: torch.Tensor, pos_weight: torch.Tensor | None = None, gamma: float = 0.0
    ) -> torch.Tensor:
        raise NotImplementedError


class SigmoidMultilabel(Scheme):
    name = "multilabel"
    encoding = "inside+begin per technique (sigmoid)"
    description = "independent sigmoids, so techniques overlap freely"
    weighted = True

    def labels(self, techniques: Sequence[str]) -> list[str]:
        return [f"I-{t}" for t in techniques] + [f"B-{t}" for t in techniques]

    def configure(self, model_config) -> None:
        model_config.problem_type = "multi_label_classification"

    def targets(self, y: np.ndarray) -> np.ndarray:
        return y

    def channel_probs(self, logits: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.sigmoid(logits)

    def loss(self, logits, labels, pos_weight=None, gamma=0.0):
        """Sigmoid BCE (optionally focal) over the labelled tokens only."""
        import torch

        mask = labels[..., 0] != IGNORE
        x = logits[mask]
        y = labels[mask]
        if x.numel() == 0:
            return logits.sum() * 0.0
        if gamma > 0:
            p = torch.sigmoid(x)
            ce = torch.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=pos_weight)
            pt = torch.where(y > 0.5, p, 1 - p)
            return ((1 - pt) ** gamma * ce).mean()
        return torch.nn.functional.binary_cross_entropy_with_logits(x, y, pos_weight=pos_weight)


class SoftTargetSoftmax(Scheme):
    name = "multilabel-softmax"
    encoding = "softmax over O/B-t/I-t with soft multi-label targets; inside = p(B-t)+p(I-t)"
    description = (
        "inside = p(B-t) + p(I-t) of a softmax trained on soft targets shared among a token's "
        "techniques; each technique is thresholded on its own, so spans may overlap"
    )

    def targets(self, y: np.ndarray) -> np.ndarray:
        return soft_bio_targets(y, y.shape[1] // 2)

    def loss(self, logits, labels, pos_weight=None, gamma=0.0):
        """Softmax cross-entropy against soft multi-label targets, over the labelled tokens only."""
        import torch

        mask = labels[..., 0] != IGNORE
        if not bool(mask.any()):
            return logits.sum() * 0.0
        return torch.nn.functional.cross_entropy(logits[mask], labels[mask])


class Bio(Scheme):
    name = "bio"
    encoding = "single-label BIO (textbook reference)"
    description = "one textbook BIO tag per token: spans never overlap"
    float_targets = False
    calibrated = False

    def targets(self, y: np.ndarray) -> np.ndarray:
        return hard_bio_tags(y, y.shape[1] // 2)

    def ignored(self, n_tokens: int, width: int) -> np.ndarray:
        return np.full(n_tokens, -100, dtype=np.int64)

    def loss(self, logits, labels, pos_weight=None, gamma=0.0):
        import torch

        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
        )


SCHEMES: dict[str, Scheme] = {s.name: s for s in (SoftTargetSoftmax(), SigmoidMultilabel(), Bio())}


def get_scheme(name: str) -> Scheme:
    """The registered scheme called ``name``; a clear error naming the choices otherwise."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"model.scheme must be one of {', '.join(SCHEMES)}, not {name!r}") from None


def folder_scheme(extra: dict) -> Scheme:
    """The scheme a model folder's settings record (:data:`FOLDER_DEFAULT` for old folders)."""
    return get_scheme(extra.get("scheme", FOLDER_DEFAULT))


def bio_channels(p: torch.Tensor, k: int) -> torch.Tensor:
    """Probabilities over ``O, B-t.., I-t..`` -> framescope's ``[inside.., begin..]`` channels.

    inside_t = p(B-t) + p(I-t), begin_t = p(B-t): the softmax schemes are decoded and
    calibrated by exactly the code that decodes the sigmoid channels.
    """
    import torch

    begin = p[..., 1 : 1 + k]
    inside = begin + p[..., 1 + k : 1 + 2 * k]
    return torch.cat([inside, begin], dim=-1)


def soft_bio_targets(y: np.ndarray, k: int) -> np.ndarray:
    """Multi-label ``[n, 2K]`` targets -> a distribution over ``O, B-t.., I-t..`` per token.

    A token carrying m techniques gives each 1/m (as ``B-t`` where it begins a span of t,
    else ``I-t``); a token with none is ``O``. Rows marked ``IGNORE`` stay ``IGNORE``.
    """
    inside = y[:, :k] == 1
    begin = (y[:, k:] == 1) & inside
    out = np.zeros((len(y), 1 + 2 * k), dtype=np.float32)
    out[:, 1 : 1 + k] = begin
    out[:, 1 + k :] = inside & ~begin
    m = inside.sum(1)
    out[m == 0, 0] = 1.0
    out[m > 0] /= m[m > 0, None]
    out[y[:, 0] == IGNORE] = IGNORE
    return out


def hard_bio_tags(y: np.ndarray, k: int) -> np.ndarray:
    """Collapse multi-label targets to one textbook BIO tag per token (last technique wins)."""
    tags = np.zeros(len(y), dtype=np.int64)
    ignore = y[:, 0] == IGNORE
    for j in range(k):
        inside = y[:, j] == 1
        begin = y[:, k + j] == 1
        tags[inside] = 1 + k + j
        tags[begin] = 1 + j
    tags[ignore] = -100
    return tags
