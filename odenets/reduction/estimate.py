"""A residual-based a-posteriori error estimate for ROM trajectories of a backward-Euler FOM.

The FOM step is ``u_{n+1} − u_n + c f(u_{n+1}) = 0``. A ROM trajectory ``ũ_n`` (any method)
leaves the FOM residual ``ρ_{n+1} = R(ũ_{n+1}; ũ_n)``. Subtracting, the error ``e = u − ũ``
obeys

    (I + c J̄) e_{n+1} = e_n − ρ_{n+1},     J̄ = J_f(ū_{n+1}),  ū = (u + ũ)/2,

exactly when ``f`` is linear or quadratic (the mean-value Jacobian of a quadratic is the
Jacobian at the midpoint). Hence, with ``γ_{n+1} ≥ ‖(I + c J̄)⁻¹‖``,

    ‖e_{n+1}‖ ≤ Δ_{n+1} = γ_{n+1} (Δ_n + ‖ρ_{n+1}‖),     Δ_0 = ‖e_0‖.

``γ`` is Varah's bound for the diagonally dominant step Jacobian (``∞``-norm: rows; 1-norm:
columns; 2-norm: ``(γ₁ γ_∞)^{1/2}``), evaluated at the ROM state ``ũ_{n+1}`` since ``u`` is
unknown. The bound is rigorous for a linear FOM (``J̄`` does not depend on the state: e.g.
upwind advection, ``γ = 1``) and a first-order estimate for Burgers (``J_f(ũ)`` instead of
``J_f(ū)``). The effectivity index is ``Δ_n / ‖e_n‖`` (≥ 1: reliable; close to 1: sharp).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

NORMS = ("2", "inf")


@dataclass
class ErrorEstimate:
    """Per-step estimate ``Δ_n``, residual norms ``‖ρ_n‖`` and stability constants ``γ_n``."""

    estimate: torch.Tensor
    residual_norms: torch.Tensor
    stability: torch.Tensor
    norm: str

    def effectivity(self, true_error: torch.Tensor) -> torch.Tensor:
        """``Δ_n / ‖e_n‖`` where ``‖e_n‖ > 0`` (NaN elsewhere)."""
        out = torch.full_like(self.estimate, math.nan)
        ok = true_error > 0
        out[ok] = self.estimate[ok] / true_error[ok]
        return out


def _norm(v, norm):
    return float(torch.linalg.vector_norm(v, ord=math.inf if norm == "inf" else 2))


def stability_bound(jac, norm: str) -> float:
    """Varah-type bound on ``‖J⁻¹‖`` for a :class:`PeriodicBidiagonal` ``J``."""
    rows = jac.diag.abs() - jac.lower.abs()
    cols = jac.diag.abs() - torch.roll(jac.lower.abs(), -1)  # column j holds l_{j+1}
    g_inf = 1 / float(rows.min()) if float(rows.min()) > 0 else math.inf
    if norm == "inf":
        return g_inf
    g_one = 1 / float(cols.min()) if float(cols.min()) > 0 else math.inf
    return math.sqrt(g_inf * g_one)


def residual_estimate(
    fom,
    states: torch.Tensor,
    *,
    initial_error: float = 0.0,
    norm: str = "2",
    stability: float | None = None,
) -> ErrorEstimate:
    """Δ_n for a ROM trajectory ``states (n_steps + 1, n_dofs)`` of ``fom``.

    ``stability`` overrides the computed ``γ_n`` with a known constant (e.g. 1 for upwind
    advection in the 2-norm).
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if states.ndim != 2 or states.shape[1] != fom.n_dofs:
        raise ValueError(
            f"states must be (n_steps + 1, {fom.n_dofs}) to match the FOM grid, got "
            f"{tuple(states.shape)}"
        )
    n = states.shape[0]
    f64 = torch.float64
    est, res, gam = torch.zeros(n, dtype=f64), torch.zeros(n, dtype=f64), torch.ones(n, dtype=f64)
    est[0] = initial_error
    for k in range(1, n):
        res[k] = _norm(fom.residual(states[k], states[k - 1]), norm)
        gam[k] = (
            stability
            if stability is not None
            else stability_bound(fom.step_jacobian(states[k]), norm)
        )
        est[k] = gam[k] * (est[k - 1] + res[k])
    return ErrorEstimate(est, res, gam, norm)


def trajectory_errors(reference: torch.Tensor, states: torch.Tensor, norm: str = "2"):
    """``‖u_n − ũ_n‖`` per step."""
    ord_ = math.inf if norm == "inf" else 2
    return torch.linalg.vector_norm(reference - states, ord=ord_, dim=1)


def error_transport_estimate(fom, states: torch.Tensor, *, initial_error=None) -> torch.Tensor:
    """Linearised error transport: ``ê_{n+1} = (I + c J_f(ũ_{n+1}))⁻¹ (ê_n − ρ_{n+1})``.

    An estimate, not a bound: the error equation above with ``J_f(ũ)`` for ``J_f(ū)``, so it
    is exact for a linear FOM and first-order accurate in ``e`` for Burgers. It needs one
    FOM-sized (``O(n)`` bidiagonal) solve per step, i.e. it is not an offline/online-split
    quantity. Returns the vectors ``ê_n`` ``(n_steps + 1, n_dofs)``; ``ê_0 = initial_error``.
    """
    if states.ndim != 2 or states.shape[1] != fom.n_dofs:
        raise ValueError(
            f"states must be (n_steps + 1, {fom.n_dofs}) to match the FOM grid, got "
            f"{tuple(states.shape)}"
        )
    e = torch.zeros_like(states)
    if initial_error is not None:
        e[0] = initial_error
    for k in range(1, states.shape[0]):
        rho = fom.residual(states[k], states[k - 1])
        e[k] = fom.step_jacobian(states[k]).solve(e[k - 1] - rho)
    return e
