"""Steppers analysed as numerical schemes: consistency order, moments, von Neumann, CFL, spectra.

* :func:`impulse_stencil`: the stencil ``s_j`` of any *linear* one-step map
  ``ū_i⁺ = Σ_j s_j ū_{i+j}`` (its response to a unit cell), and ``c = s − δ``.
* :func:`moment_residuals`: for ``u_t + a u_x = 0`` at Courant number ``C = aΔt/Δx`` a linear
  scheme is consistent of order ``p`` iff ``Σ_j j^m c_j = (−C)^m`` for ``m = 0..p`` (``(−C)^0``
  read as 0 for ``m = 0``); the residuals say which orders a (learned) stencil satisfies.
* :func:`amplification`: ``g(θ) = Σ_j s_j e^{ijθ}`` (von Neumann); :func:`cfl_limit` the
  largest ``C`` with ``max_θ |g| ≤ 1`` for a family of stencils ``C ↦ s(C)``.
* :func:`truncation_errors`: ``τ = ‖S_Δx(ū_exact(t)) − ū_exact(t + Δt)‖ / Δt`` on a smooth
  solution as ``Δx → 0`` at fixed Courant number, with :func:`fit_order` the slope of
  ``log τ`` against ``log Δx``.
* :func:`jacobian_spectrum`: eigenvalues of a nonlinear stepper's one-step Jacobian at a
  state, through :mod:`odenets.diagnostics` (``LinearizedMap`` + ``eigenvalues``), against
  the unit disc.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..diagnostics import LinearizedMap, eigenvalues


def impulse_stencil(
    step, n: int, radius: int, dtype=torch.float64
) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, s)`` of a linear map ``step((B, n)) -> (B, n)`` on an ``n``-cell grid.

    ``s_j`` is read off the response to the unit cell at ``i = 0`` (``ū_i⁺ = Σ_j s_j ū_{i+j}``
    gives ``response_i = s_{−i}``). ``n`` must exceed ``2·radius`` so the stencil does not
    wrap onto itself.
    """
    if n <= 2 * radius:
        raise ValueError(
            f"n = {n} cells cannot hold a stencil of radius {radius}; use n > {2 * radius}"
        )
    e = torch.zeros(1, n, dtype=dtype)
    e[0, 0] = 1.0
    with torch.no_grad():
        response = step(e)[0].detach().double().numpy()
    offsets = np.arange(-radius, radius + 1)
    s = response[(-offsets) % n]
    outside = np.delete(response, (-offsets) % n)
    if outside.size and np.abs(outside).max() > 1e-12 * max(1.0, np.abs(s).max()):
        raise ValueError(f"the map reaches beyond radius {radius}; give a larger radius")
    return offsets, s


def increment(offsets: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``c = s − δ_{j0}`` (the stencil of ``ū⁺ − ū``)."""
    c = np.array(s, dtype=float)
    c[list(offsets).index(0)] -= 1.0
    return c


def moment_residuals(offsets, c, courant: float, max_order: int = 4) -> np.ndarray:
    """``r_m = Σ_j j^m c_j − (−C)^m`` (``r_0 = Σ c_j``), ``m = 0..max_order``."""
    j = np.asarray(offsets, dtype=float)
    c = np.asarray(c, dtype=float)
    out = [c.sum()]
    for m in range(1, max_order + 1):
        out.append((j**m * c).sum() - (-courant) ** m)
    return np.array(out)


def consistency_order(residuals: np.ndarray, tol: float = 1e-8) -> int:
    """The largest ``p`` with ``|r_m| ≤ tol`` for all ``m ≤ p``; ``−1`` if ``Σ c_j ≠ 0``."""
    p = -1
    for r in residuals:
        if abs(r) > tol:
            break
        p += 1
    return p


def amplification(offsets, s, theta=None) -> tuple[np.ndarray, np.ndarray]:
    """``(θ, g(θ))`` with ``g(θ) = Σ_j s_j e^{ijθ}`` on ``θ ∈ [0, π]``."""
    theta = np.linspace(0, math.pi, 2049) if theta is None else np.asarray(theta)
    g = (np.asarray(s)[None, :] * np.exp(1j * np.outer(theta, offsets))).sum(1)
    return theta, g


def max_amplification(offsets, s) -> float:
    return float(np.abs(amplification(offsets, s)[1]).max())


def cfl_limit(
    stencil_of_courant, c_max: float = 8.0, tol: float = 1e-9, resolution: float = 1e-4
) -> float:
    """The largest ``C`` (to ``resolution``) below which ``max_θ |g| ≤ 1 + tol`` everywhere.

    ``stencil_of_courant(C) -> (offsets, s)``. Scans ``C`` in steps of 0.01, then bisects the
    first crossing. Returns ``c_max`` if no crossing is found.
    """

    def stable(c):
        return max_amplification(*stencil_of_courant(c)) <= 1 + tol

    grid = np.arange(0.01, c_max + 1e-12, 0.01)
    previous = 0.0
    for c in grid:
        if not stable(c):
            low, high = previous, c
            while high - low > resolution:
                mid = 0.5 * (low + high)
                low, high = (mid, high) if stable(mid) else (low, mid)
            return low
        previous = c
    return c_max


def fit_order(dx, errors) -> float:
    """Least-squares slope of ``log error`` against ``log Δx``."""
    dx, errors = np.asarray(dx, float), np.asarray(errors, float)
    if np.any(~np.isfinite(errors)) or np.any(errors <= 0):
        return float("nan")
    return float(np.polyfit(np.log(dx), np.log(errors), 1)[0])


def truncation_errors(
    step, exact, sizes, length: float, dt_of_dx, t0: float = 0.0, norm: str = "inf"
) -> dict:
    """``τ(N) = ‖step(ū(t0), N, Δt) − ū(t0 + Δt)‖ / Δt`` for each ``N``, ``Δt = dt_of_dx(Δx)``.

    ``exact(n, t)`` gives the exact cell averages ``(1, n)``; ``step(u, n, dt)`` one step.
    Returns ``{"dx", "tau", "order"}``.
    """
    dxs, taus = [], []
    for n in sizes:
        dx = length / n
        dt = dt_of_dx(dx)
        with torch.no_grad():
            err = step(exact(n, t0), n, dt) - exact(n, t0 + dt)
        value = err.abs().max() if norm == "inf" else err.abs().mean()
        dxs.append(dx)
        taus.append(float(value) / dt)
    return {"dx": dxs, "tau": taus, "order": fit_order(dxs, taus)}


def jacobian_spectrum(step, u: torch.Tensor, k: int = 6, method: str = "dense") -> dict:
    """Eigenvalues of ``∂ step / ∂u`` at ``u`` ``(1, N)`` via :mod:`odenets.diagnostics`.

    Returns the spectral radius, the eigenvalues of largest modulus and, with the dense
    method, the fraction of eigenvalues outside the unit disc.
    """
    op = LinearizedMap(step, u)
    k = min(k, op.n_in if method == "dense" else op.n_in - 2)
    spectrum = eigenvalues(op, k=k, method=method)
    out = {"spectral_radius": spectrum.spectral_radius, "largest": spectrum.largest_modulus}
    if spectrum.all is not None:
        values = np.asarray(spectrum.all)
        out["outside_unit_disc"] = float((np.abs(values) > 1 + 1e-9).mean())
    return out
