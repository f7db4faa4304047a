"""Snapshot sets of 1-D periodic linear advection with closed-form solutions (n-width examples).

``u(x, t; v) = u₀(x − v t)`` on the periodic unit interval. The snapshot set of a profile is
``{u₀(· − s) : s ∈ [0, 1)}``, the solution manifold of advection at all speeds and times; its
Kolmogorov n-width in L² decays like ``n^{−1/2}`` for a jump (Ohlberger & Rave 2016; Greif &
Urban 2019), ``n^{−3/2}`` for a kink (the hat) and faster than any power for a Gaussian (the
narrower, the later the decay sets in).

Snapshots are **cell averages** ``(1/Δx) ∫_{cell i} u₀(x − s) dx``, computed exactly from each
profile's antiderivative, so every shift ``s`` (not only multiples of ``Δx``) gives a distinct
discrete snapshot and a shift by whole cells is an exact ``roll`` of the cell averages.
"""

from __future__ import annotations

import math

import torch

from .errors import check_positive

PROFILES = ("step", "hat", "gaussian")


def _box_primitive(x: torch.Tensor, centre: float, width: float) -> torch.Tensor:
    """``∫_{−∞}^x 1_{|y − centre| < width/2} dy``."""
    return torch.clamp(x - (centre - width / 2), 0.0, width)


def _hat_primitive(x: torch.Tensor, centre: float, width: float) -> torch.Tensor:
    """``∫_{−∞}^x max(0, 1 − |y − centre| / (width/2)) dy`` (peak 1, support ``width``)."""
    h = width / 2
    y = torch.clamp((x - centre) / h, -1.0, 1.0)
    return h * torch.where(y < 0, (1 + y) ** 2 / 2, 1 - (1 - y) ** 2 / 2)


def _gaussian_primitive(x: torch.Tensor, centre: float, width: float) -> torch.Tensor:
    """``∫_{−∞}^x exp(−(y − centre)² / (2 width²)) dy``."""
    return width * math.sqrt(math.pi / 2) * (1 + torch.erf((x - centre) / (width * math.sqrt(2))))


_PRIMITIVES = {"step": _box_primitive, "hat": _hat_primitive, "gaussian": _gaussian_primitive}


def profile_values(profile: str, x: torch.Tensor, *, width: float, centre: float = 0.5):
    """Point values of the periodic profile (images at ``±1`` summed), for tests and plots."""
    _check_profile(profile)
    out = torch.zeros_like(x, dtype=torch.float64)
    for k in (-2, -1, 0, 1, 2):
        y = x.to(torch.float64) - centre - k
        if profile == "step":
            out += (y.abs() < width / 2).to(torch.float64)
        elif profile == "hat":
            out += torch.clamp(1 - y.abs() / (width / 2), min=0.0)
        else:
            out += torch.exp(-(y**2) / (2 * width**2))
    return out


def cell_averages(profile: str, n_dofs: int, shift, *, width: float, centre: float = 0.5):
    """Exact cell averages of ``u₀(x − shift)`` on ``n_dofs`` cells of the periodic unit interval.

    ``shift`` may be a float or a 1-D tensor; the result is ``(n_dofs,)`` or ``(len, n_dofs)``.
    """
    _check_profile(profile)
    n = int(check_positive(n_dofs, "n_dofs"))
    _check_width(profile, width)
    shifts = torch.as_tensor(shift, dtype=torch.float64)
    edges = torch.arange(n + 1, dtype=torch.float64) / n
    rel = edges[None, :] - shifts.reshape(-1, 1)
    prim = _PRIMITIVES[profile]
    total = torch.zeros_like(rel)
    for k in (-2, -1, 0, 1, 2):  # periodic images; supports stay within one period
        total += prim(rel - k, centre, width)
    avg = (total[:, 1:] - total[:, :-1]) * n
    return avg[0] if shifts.ndim == 0 else avg


def advection_snapshots(
    profile: str,
    n_dofs: int = 512,
    n_snapshots: int = 256,
    *,
    width: float = 0.25,
    speed: float = 1.0,
    t_final: float = 1.0,
):
    """Snapshots ``u(·, t_k)`` of advection at ``speed`` for ``t_k = k t_final / n_snapshots``.

    With ``speed · t_final = 1`` the shifts ``s = speed · t`` sweep the whole period: the
    snapshot set samples the full solution manifold. Returns ``(n_snapshots, n_dofs)``.
    """
    check_positive(speed, "speed")
    check_positive(t_final, "t_final")
    m = int(check_positive(n_snapshots, "n_snapshots"))
    times = torch.arange(m, dtype=torch.float64) * (t_final / m)
    return cell_averages(profile, n_dofs, speed * times, width=width)


def _check_profile(profile):
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")


def _check_width(profile, width):
    check_positive(width, "width")
    if profile != "gaussian" and width >= 1:
        raise ValueError(f"{profile} width must be below the period 1, got {width}")
    if profile == "gaussian" and width > 0.2:
        raise ValueError(f"gaussian width {width} > 0.2: five periodic images no longer suffice")
