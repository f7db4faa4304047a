"""Stopping a run whose loss is no longer finite, on every rank at once."""

from __future__ import annotations

import torch

from .distributed import DistContext, all_reduce_sum


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the run stopped without checkpointing it."""


def all_finite(loss: torch.Tensor, ctx: DistContext | None = None) -> bool:
    """Whether ``loss`` is finite on every rank (all ranks get the same answer)."""
    bad = (~torch.isfinite(loss.detach())).float().reshape(1)
    if ctx is not None:
        bad = all_reduce_sum(bad, ctx)
    return bad.item() == 0
