"""Projection ROMs of a backward-Euler FOM step: Galerkin and LSPG on linear or nonlinear trials.

A trial manifold maps a latent state ``ẑ ∈ R^p`` to ``ũ = g(ẑ)`` with Jacobian ``J_g(ẑ)``:

* :class:`LinearTrial`: ``g(ẑ) = u_ref + Φ ẑ`` (POD, ``ΦᵀΦ = I``);
* :class:`ManifoldTrial`: ``g(ẑ) = u_ref + d(ẑ) − d(ẑ₀)`` with a decoder ``d`` (Lee & Carlberg
  2020), so the initial state ``g(ẑ₀) = u_ref`` is reproduced exactly.

Each ROM step solves the FOM's step ``R(u⁺; u) = u⁺ − u + c f(u⁺)`` reduced to ``p`` unknowns:

* **Galerkin** (Kim et al. 2022, as in ``LLNL/NM-ROM``): backward Euler on the latent ODE
  ``ẑ' = J_g⁺ F(g(ẑ))``: ``r̂(ẑ⁺) = ẑ⁺ − ẑ + J_g⁺(ẑ⁺) c f(g(ẑ⁺)) = 0``, by Newton with the
  Jacobian ``I + J_g⁺ c J_f J_g`` (exact for POD, where ``J_g⁺ = Φᵀ``; the derivative of
  ``J_g⁺`` is dropped for a decoder). For POD this is ``Φᵀ R(u_ref + Φẑ⁺; u_ref + Φẑ) = 0``.
* **LSPG**: ``ẑ⁺ = argmin ‖R(g(ẑ⁺); ũ)‖₂`` by Gauss–Newton with ``J = (I + c J_f) J_g``:
  ``(JᵀJ) δ = −Jᵀ R``, stopped when ``‖Jᵀ R‖ < tol`` (the normal equations).

Both stop when their residual (``‖r̂‖`` resp. ``‖JᵀR‖``) is below ``tol``; with ``strict``
a solve that does not reach it raises :class:`NewtonDidNotConverge`. ``tol=None`` runs a
fixed number of iterations (Kim et al.'s protocol for the manifold ROMs: 4).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn

from .errors import NewtonDidNotConverge, check_state

METHODS = ("galerkin", "lspg")


class LinearTrial:
    """``g(ẑ) = u_ref + Φ ẑ`` with orthonormal columns ``Φ`` (``J_g⁺ = Φᵀ``)."""

    def __init__(self, basis: torch.Tensor, reference: torch.Tensor):
        self.basis = basis.to(torch.float64)
        self.reference = check_state(reference, self.basis.shape[0], "reference state")
        self.size = self.basis.shape[1]
        self.n_dofs = self.basis.shape[0]

    def decode_with_jacobian(self, z):
        return self.reference + self.basis @ z, self.basis

    def pseudo_inverse(self, jac):
        return self.basis.T

    def initial_latent(self):
        return torch.zeros(self.size, dtype=torch.float64)


class ManifoldTrial:
    """``g(ẑ) = u_ref + d(ẑ) − d(ẑ₀)`` for a decoder ``d`` (float64 copy; ``J_g`` by autodiff).

    A decoder with ``forward_with_jacobian(z) -> (d(z), J_d(z))`` supplies its Jacobian
    analytically; otherwise it is ``torch.func.jacfwd``.
    """

    def __init__(self, decoder: nn.Module, reference: torch.Tensor, z0: torch.Tensor | None = None):
        self.decoder = decoder.double().eval()
        latent = getattr(decoder, "latent", None)
        self.size = int(latent if latent is not None else z0.numel())
        self.z0 = torch.zeros(self.size, dtype=torch.float64) if z0 is None else z0.double()
        with torch.no_grad():
            self.offset = self.decoder(self.z0[None])[0]
        self.n_dofs = self.offset.numel()
        self.reference = check_state(reference, self.n_dofs, "reference state")

    def decode_with_jacobian(self, z):
        with torch.no_grad():
            if hasattr(self.decoder, "forward_with_jacobian"):
                d, jac = self.decoder.forward_with_jacobian(z)
            else:
                d = self.decoder(z[None])[0]
                jac = torch.func.jacfwd(lambda v: self.decoder(v[None])[0])(z)
        return self.reference + d - self.offset, jac

    def pseudo_inverse(self, jac):
        return torch.linalg.pinv(jac)

    def initial_latent(self):
        return self.z0.clone()


@dataclass
class ROMSolution:
    """A ROM trajectory ``states (n_steps + 1, n_dofs)``, its latent path and solver record."""

    states: torch.Tensor
    latent: torch.Tensor
    wall_time: float
    final_residuals: list[float] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)


def _galerkin_system(fom, trial, z_old):
    def system(z):
        u, jac = trial.decode_with_jacobian(z)
        psi = trial.pseudo_inverse(jac)
        g = z - z_old + psi @ (fom.c * fom.flux(u))
        a_jac = fom.step_jacobian(u).matmul(jac)  # (I + c J_f) J_g
        h = torch.eye(len(z), dtype=z.dtype) + psi @ (a_jac - jac)
        return g, h, u

    return system


def _lspg_system(fom, trial, u_old):
    def system(z):
        u, jac = trial.decode_with_jacobian(z)
        r = fom.residual(u, u_old)
        j = fom.step_jacobian(u).matmul(jac)
        return j.T @ r, j.T @ j, u

    return system


def _newton(system, z, *, tol, max_iter, strict, what):
    g, h, u = system(z)
    res = float(torch.linalg.vector_norm(g))
    for k in range(max_iter):
        z = z - torch.linalg.solve(h, g)
        g, h, u = system(z)
        res = float(torch.linalg.vector_norm(g))
        if tol is not None and res < tol:
            return z, u, res, k + 1
    if strict and tol is not None:
        raise NewtonDidNotConverge(max_iter, res, tol, what)
    return z, u, res, max_iter


def rom_step(fom, trial, z_old, u_old, method: str, *, tol=1e-8, max_iter=4, strict=True):
    """One reduced backward-Euler step: returns ``(ẑ⁺, g(ẑ⁺), final residual, iterations)``."""
    if method == "galerkin":
        system = _galerkin_system(fom, trial, z_old)
    elif method == "lspg":
        system = _lspg_system(fom, trial, u_old)
    else:
        raise ValueError(f"unknown ROM method {method!r}; choose one of {METHODS}")
    what = f"{method} ROM {'Newton' if method == 'galerkin' else 'Gauss-Newton'}"
    return _newton(system, z_old.clone(), tol=tol, max_iter=max_iter, strict=strict, what=what)


def solve_rom(fom, trial, method: str, *, tol=1e-8, max_iter=4, strict=True) -> ROMSolution:
    """Run the ROM for ``fom.n_steps`` steps from ``g(ẑ₀) = u_ref``."""
    if method not in METHODS:
        raise ValueError(f"unknown ROM method {method!r}; choose one of {METHODS}")
    if trial.n_dofs != fom.n_dofs:
        raise ValueError(
            f"the trial space has {trial.n_dofs} dofs but the FOM has {fom.n_dofs}: the grids "
            f"of the FOM and the ROM must match"
        )
    start = time.perf_counter()
    z = trial.initial_latent()
    u, _ = trial.decode_with_jacobian(z)
    states, latent = [u], [z]
    res_hist, it_hist = [], []
    for _ in range(fom.n_steps):
        z, u, res, its = rom_step(
            fom, trial, z, u, method, tol=tol, max_iter=max_iter, strict=strict
        )
        states.append(u)
        latent.append(z)
        res_hist.append(res)
        it_hist.append(its)
    wall = time.perf_counter() - start
    return ROMSolution(torch.stack(states), torch.stack(latent), wall, res_hist, it_hist)


def relative_error(reference: torch.Tensor, approx: torch.Tensor) -> float:
    """Kim et al.'s "average relative error": ``(Σ_n ‖u_n − ũ_n‖²)^{1/2} / (Σ_n ‖u_n‖²)^{1/2}``.

    Over all rows of the trajectories (the initial state included), in percent of nothing: a
    fraction; multiply by 100 for their table.
    """
    if reference.shape != approx.shape:
        raise ValueError(
            f"trajectories differ in shape: {tuple(reference.shape)} vs {tuple(approx.shape)}"
        )
    return float(torch.linalg.norm(reference - approx) / torch.linalg.norm(reference))
