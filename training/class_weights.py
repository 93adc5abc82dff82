"""How much a positive token counts in a loss: the one definition both taggers train with."""

from __future__ import annotations

import numpy as np


def positive_weight(pos, neg, cap: float, floor: float = 0.0):
    """``sqrt(neg / pos)``, clipped to ``[floor, cap]``; arrays or scalars.

    Rare techniques are heard without the fully "balanced" weighting (``neg / pos``), which
    saturates every probability at 1.0; the cap (``pos_weight_max``) bounds the rarest.
    """
    return np.clip(np.sqrt(neg / np.maximum(pos, 1.0)), floor, cap)
