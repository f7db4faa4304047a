"""Time steps: the CFL step ``Δt = C·Δx / max|f'(u)|``, Courant checks, explicit RK stepping.

Method-of-lines schemes advance ``du/dt = L(u, t)`` with an explicit Runge–Kutta method of
the zoo, read from the scheme registry by name (its Butcher tableau), so the SSP-RK3 of
Shu & Osher used here is the zoo's own ``ssprk3`` block's tableau: one implementation.
"""

from __future__ import annotations

import math
import warnings

import torch

from ..blocks.runge_kutta import ButcherTableau
from ..registry import get_scheme, list_schemes


class CourantWarning(UserWarning):
    """A time step above a scheme's declared stability (CFL) limit."""


def cfl_dt(u: torch.Tensor, law, dx: float, courant: float) -> float:
    """``Δt = C·min(Δx / max|f'(u)|, Δx² / (2ν))`` (the diffusive bound only when ``ν > 0``).

    One step for the whole batch (its largest speed), so batched trajectories stay in step.
    """
    if not (isinstance(courant, (int, float)) and math.isfinite(courant)) or courant <= 0:
        raise ValueError(f"the Courant number must be a finite number > 0, got {courant!r}")
    bounds = []
    speed = law.max_speed(u)
    if speed > 0:
        bounds.append(dx / speed)
    if law.nu > 0:
        bounds.append(dx * dx / (2 * law.nu))
    if not bounds:
        raise ValueError("no CFL step: the state has zero speed everywhere and nu = 0")
    return courant * min(bounds)


def check_courant(courant: float, limit: float, what: str, strict: bool = False) -> None:
    """Warn (:class:`CourantWarning`), or raise ``ValueError`` if ``strict``, above ``limit``."""
    if courant > limit * (1 + 1e-12):
        message = (
            f"Courant number {courant:g} is above the stability limit {limit:g} of {what}; "
            f"the scheme is unstable there (use C <= {limit:g})"
        )
        if strict:
            raise ValueError(message)
        warnings.warn(message, CourantWarning, stacklevel=3)


def tableau_of(scheme: str) -> ButcherTableau:
    """The Butcher tableau of a registered explicit Runge–Kutta zoo scheme."""
    tableau = getattr(get_scheme(scheme), "tableau", None)
    if not isinstance(tableau, ButcherTableau):
        allowed = [
            n
            for n in list_schemes()
            if isinstance(getattr(get_scheme(n), "tableau", None), ButcherTableau)
        ]
        raise ValueError(
            f"time scheme {scheme!r} is not an explicit Runge–Kutta scheme with a Butcher "
            f"tableau; allowed: {allowed}"
        )
    return tableau


def rk_step(tableau: ButcherTableau, rhs, u: torch.Tensor, t: float, dt: float) -> torch.Tensor:
    """One explicit RK step of ``du/dt = rhs(u, t)``: ``u + Δt Σ b_i k_i``,
    ``k_i = rhs(u + Δt Σ_j a_ij k_j, t + c_i Δt)``."""
    stages = []
    for i, row in enumerate(tableau.a):
        y = u
        for a_ij, k in zip(row, stages, strict=False):
            if a_ij:
                y = y + (dt * a_ij) * k
        stages.append(rhs(y, t + tableau.c[i] * dt))
    out = u
    for b_i, k in zip(tableau.b, stages, strict=True):
        if b_i:
            out = out + (dt * b_i) * k
    return out
