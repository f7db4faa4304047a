"""Rollouts with blow-up accounting: a non-finite or exploding state is recorded, not raised.

:func:`rollout` advances a batch with any ``step(u, t) -> u⁺`` over ``outer`` output intervals
of ``t_inner`` each (``inner`` substeps per interval, or CFL substeps chosen by ``dt_fn``).
A batch member whose state becomes non-finite or exceeds ``blowup`` in magnitude is
*blown up*: the step index is recorded in ``blowup_step``, its later outputs are NaN, and it
is removed from the working batch (so it does not pollute a shared CFL step).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import torch


class BlowUpWarning(RuntimeWarning):
    """Some rollouts became non-finite (the step is in the result)."""


@dataclasses.dataclass
class Rollout:
    states: torch.Tensor  # (B, outer + 1, N), NaN after a blow-up
    blowup_step: torch.Tensor  # (B,) substep index of the blow-up, -1 if none
    steps: int  # substeps taken

    @property
    def blew_up(self) -> torch.Tensor:
        return self.blowup_step >= 0

    @property
    def blowup_fraction(self) -> float:
        return float(self.blew_up.double().mean())


def rollout(
    step,
    u0: torch.Tensor,
    outer: int,
    t_inner: float,
    t0: float = 0.0,
    inner: int | None = None,
    dt_fn=None,
    blowup: float = 1e6,
    warn: bool = True,
) -> Rollout:
    """``outer`` intervals of ``t_inner``; either ``inner`` equal substeps, or ``dt_fn(u)``
    (the largest stable step) with the last substep shortened to land on the output time."""
    if (inner is None) == (dt_fn is None):
        raise ValueError("give exactly one of inner (substeps per interval) or dt_fn (a CFL step)")
    if inner is not None and (isinstance(inner, bool) or not isinstance(inner, int) or inner < 1):
        raise ValueError(f"inner must be a positive integer, got {inner!r}")
    if not (isinstance(outer, int) and outer >= 0):
        raise ValueError(f"outer must be a non-negative integer, got {outer!r}")
    batch = u0.shape[0]
    out = torch.full((batch, outer + 1, *u0.shape[1:]), math.nan, dtype=u0.dtype)
    blown = torch.full((batch,), -1, dtype=torch.long)
    alive = torch.arange(batch)
    u, t, count = u0, float(t0), 0
    out[:, 0] = u0.detach()
    for k in range(outer):
        target = t0 + (k + 1) * t_inner
        while t < target - 1e-12 * max(1.0, abs(target)) and alive.numel():
            dt = t_inner / inner if inner is not None else min(dt_fn(u, alive), target - t)
            with torch.no_grad() if not u.requires_grad else _nullcontext():
                u = step(u, t, dt, alive)
            t, count = t + dt, count + 1
            bad = ~torch.isfinite(u).reshape(u.shape[0], -1).all(1)
            bad |= u.detach().abs().reshape(u.shape[0], -1).amax(1).nan_to_num(math.inf) > blowup
            if bad.any():
                blown[alive[bad]] = count
                alive, u = alive[~bad], u[~bad]
            if inner is not None and count % inner == 0:
                t = target  # no drift of the output times
        out[alive, k + 1] = u.detach()
        if not alive.numel():
            break
    if warn and (blown >= 0).any():
        first = int(blown[blown >= 0].min())
        warnings.warn(
            f"{int((blown >= 0).sum())} of {batch} rollouts blew up (non-finite or |u| > "
            f"{blowup:g}); the first at substep {first}; see Rollout.blowup_step",
            BlowUpWarning,
            stacklevel=2,
        )
    return Rollout(out, blown, count)


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
