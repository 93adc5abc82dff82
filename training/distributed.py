"""Which process of a distributed run (``torchrun``, ``accelerate launch``) this is: defined once.

Two questions with two sources: before the process group exists (choosing who writes the
model folder and talks to MLflow) the launchers' environment variables answer; inside the
Trainer loop the initialised ``torch.distributed`` group does.
"""

from __future__ import annotations

import os


def is_main_process() -> bool:
    """False in the non-main processes of a distributed run.

    The launchers set ``RANK`` (global) and ``LOCAL_RANK``; a single process sets neither.
    """
    return os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) in ("0", "-1", "")


def rank() -> int:
    """This process's rank in the initialised process group (0 when there is none)."""
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


def world_size() -> int:
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def has_accelerator() -> bool:
    import torch

    if torch.cuda.is_available():
        return True
    xpu = getattr(torch, "xpu", None)
    return bool(xpu is not None and xpu.is_available())
