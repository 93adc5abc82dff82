"""Numeric helpers shared by the article stage, the linear tagger, calibration and the metrics.

They live in the model layer, the lowest one that all their users may import, so that each
exists once: a threshold chosen in training is searched over the same grid, and scored
with the same micro-F1, as the stage's own threshold.
"""

from __future__ import annotations

import numpy as np

#: candidate decision thresholds 0.05, 0.10, ..., 0.95 (rounded, so they print and compare exactly)
THRESHOLD_GRID = tuple(round(x, 2) for x in np.arange(0.05, 0.96, 0.05))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function; logits are clipped to +-30 so ``exp`` never overflows."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def micro_f1(pred: np.ndarray, gold: np.ndarray) -> float:
    """Micro-F1 of two 0/1 (or boolean) decision matrices of the same shape; 0.0 when both are empty."""
    tp = float(np.logical_and(pred, gold).sum())
    n = float(pred.sum() + gold.sum())
    return 2 * tp / n if n else 0.0
