"""The learning-rate schedule of a tagger whose classifier head trains alone first.

Why: a new head starts random on top of a pretrained encoder, so the encoder's first updates
follow the gradients of a head that knows nothing yet, and those can wear down the very
features the head needs (Kumar et al., 2022, "Fine-Tuning can Distort Pretrained Features";
their remedy, LP-FT, fits a linear probe first). ``training.head_only_epochs`` holds the
encoder's rate at 0 for that many epochs while the head trains at its own rate; then the
encoder warms up and decays over the steps that remain. The head keeps the Trainer's usual
schedule (linear warm-up, linear decay to 0) over the whole run.
"""

from __future__ import annotations

import math

import torch

#: the key :meth:`SpanTrainer.create_optimizer` sets on the head's parameter groups
HEAD_GROUP = "framescope_head"


def warmup_then_decay(step: int, start: int, warmup: int, end: int) -> float:
    """The factor on a group's rate at ``step``: 0 before ``start``, rising linearly to 1 over
    ``warmup`` steps, then falling linearly to 0 at ``end``."""
    if step < start:
        return 0.0
    if step < start + warmup:
        return (step - start) / warmup  # as transformers' linear schedule: 0 at its first step
    return max(0.0, (end - step) / max(1, end - start - warmup))


def head_first_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float, head_only_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """One schedule per parameter group: the head's from step 0, the encoder's from
    ``head_only_steps``; each warms up over ``warmup_ratio`` of its own steps."""
    if not 0 <= head_only_steps < total_steps:
        raise ValueError(f"{head_only_steps} head-only steps leave none of {total_steps} for the encoder")

    def schedule(start: int):
        warmup = math.ceil(warmup_ratio * (total_steps - start))
        return lambda step: warmup_then_decay(step, start, warmup, total_steps)

    lambdas = [schedule(0 if g.get(HEAD_GROUP) else head_only_steps) for g in optimizer.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
