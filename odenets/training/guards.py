"""Stopping a run whose loss or state is no longer finite, on every rank at once."""

from __future__ import annotations

import math

import torch

from .distributed import DistContext, all_reduce_sum


class NonFiniteLossError(RuntimeError):
    """Training diverged (a NaN/inf loss, weights or validation metric); the run stopped.

    Nothing non-finite was checkpointed: the last finite checkpoint, when there is one, is
    kept as it was and named in the message.
    """


def all_finite(loss: torch.Tensor, ctx: DistContext | None = None) -> bool:
    """Whether ``loss`` is finite on every rank (all ranks get the same answer)."""
    bad = (~torch.isfinite(loss.detach())).float().reshape(1)
    if ctx is not None:
        bad = all_reduce_sum(bad, ctx)
    return bad.item() == 0


def non_finite_entries(obj, prefix: str = "") -> list[str]:
    """Dotted names of the floating tensors and floats in a nested dict/list that hold NaN/inf.

    Checked before every checkpoint write: the weights and buffers (BatchNorm statistics
    included), the optimiser's moments, the task's scalars.
    """
    if isinstance(obj, torch.Tensor):
        bad = obj.is_floating_point() and not bool(torch.isfinite(obj).all())
        return [prefix] if bad else []
    if isinstance(obj, float):
        return [] if math.isfinite(obj) else [prefix]
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return []
    found = []
    for key, value in items:
        found += non_finite_entries(value, f"{prefix}.{key}" if prefix else str(key))
    return found


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """Whether ``flag`` holds on some rank (every rank gets the same answer)."""
    return all_reduce_sum(torch.tensor([float(flag)]), ctx).item() > 0
