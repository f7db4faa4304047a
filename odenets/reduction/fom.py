"""Full-order models: 1-D periodic transport, first-order upwind in space, backward Euler in time.

Both models discretise ``u_t + a(u) u_x = 0`` on a periodic grid of ``n`` dofs with the
non-conservative upwind difference ``a(u_i) (u_i − u_{i−1}) / Δx`` (``a > 0``) and take
backward-Euler steps, i.e. solve for ``u⁺``

    R(u⁺; u) = u⁺ − u + c f(u⁺) = 0,        c = Δt / Δx,

with ``f_i(u) = a(u_i) (u_i − u_{i−1})``. The scheme is first order in space and time and
unconditionally stable (the step's Jacobian ``I + c J_f`` is a row-diagonally-dominant
M-matrix whenever ``1 + c (u_i − u_{i−1}) > 0``).

* :class:`LinearAdvectionFOM`: ``a = speed``; ``R`` is linear, ``‖(I + c J_f)⁻¹‖ = 1`` in the
  2- and ∞-norms (circulant, eigenvalues ``1 + c·speed·(1 − e^{−iθ})``).
* :class:`BurgersFOM`: ``a(u) = u``, the inviscid Burgers setting of Kim, Choi, Widemann &
  Zohdi (JCP 2022, repository ``LLNL/NM-ROM``, ``1DBurgersEqn/.../build_data_v2.ipynb``):
  ``[0, 2]``, 1,000 periodic dofs, ``T = 0.5``, 500 steps, Newton with the relative residual
  ``‖R‖ / ‖u‖ < 1e-8`` (at most 10 iterations), sine-bump initial state of amplitude ``a``.

The step Jacobian is a periodic lower bidiagonal matrix (:class:`PeriodicBidiagonal`),
applied and solved in ``O(n)`` memory (triangular solve + Sherman–Morrison for the corner).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import NewtonDidNotConverge, check_positive, check_state


@dataclass
class PeriodicBidiagonal:
    """``J = diag(d) + L``, ``L[i, i−1] = l[i]`` with ``L[0, n−1] = l[0]`` (periodic corner)."""

    diag: torch.Tensor
    lower: torch.Tensor

    def matmul(self, v: torch.Tensor) -> torch.Tensor:
        """``J v`` for a vector ``(n,)`` or a matrix ``(n, k)`` (columns)."""
        d, low = self.diag, self.lower
        if v.ndim == 2:
            d, low = d[:, None], low[:, None]
        return d * v + low * torch.roll(v, 1, dims=0)

    def dense(self) -> torch.Tensor:
        n = self.diag.numel()
        m = torch.diag(self.diag)
        idx = torch.arange(n)
        m[idx, (idx - 1) % n] += self.lower
        return m

    def solve(self, b: torch.Tensor) -> torch.Tensor:
        """``J⁻¹ b``: lower-triangular solve, corner ``l₀ e₀ e_{n−1}ᵀ`` by Sherman–Morrison."""
        n = self.diag.numel()
        t = torch.diag(self.diag) + torch.diag(self.lower[1:], -1)
        rhs = b[:, None] if b.ndim == 1 else b
        e0 = torch.zeros(n, 1, dtype=b.dtype)
        e0[0] = 1.0
        sol = torch.linalg.solve_triangular(t, torch.cat([rhs, e0], dim=1), upper=False)
        y, z = sol[:, :-1], sol[:, -1:]
        corner = self.lower[0]
        x = y - z * (corner * y[-1:]) / (1.0 + corner * z[-1])
        return x[:, 0] if b.ndim == 1 else x

    def inverse_norm_bound(self) -> float:
        """Varah's bound ``‖J⁻¹‖_∞ ≤ 1 / min_i(|d_i| − |l_i|)`` (inf if not diagonally dominant)."""
        margin = float(torch.min(self.diag.abs() - self.lower.abs()))
        return 1.0 / margin if margin > 0 else math.inf


class PeriodicUpwindFOM:
    """Backward-Euler upwind FOM on a periodic grid; subclasses give ``f`` and its Jacobian.

    ``x`` are the ``n`` dof positions ``i Δx`` (the periodic copy at ``x = length`` is not a
    dof). ``solve(u0)`` returns the trajectory ``(n_steps + 1, n)`` in float64.
    """

    def __init__(
        self,
        n_dofs: int,
        length: float,
        t_final: float,
        n_steps: int,
        *,
        newton_tol: float = 1e-8,
        max_newton: int = 10,
    ):
        self.n_dofs = int(check_positive(n_dofs, "n_dofs"))
        self.length = check_positive(length, "length")
        self.t_final = check_positive(t_final, "t_final")
        self.n_steps = int(check_positive(n_steps, "n_steps"))
        self.newton_tol = check_positive(newton_tol, "newton_tol")
        self.max_newton = int(check_positive(max_newton, "max_newton"))
        self.dx = self.length / self.n_dofs
        self.dt = self.t_final / self.n_steps
        self.c = self.dt / self.dx
        self.x = torch.arange(self.n_dofs, dtype=torch.float64) * self.dx
        self.last_newton_history: list[float] = []

    # ------------------------------------------------------------------ model
    def flux(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def flux_jacobian(self, u: torch.Tensor) -> PeriodicBidiagonal:
        raise NotImplementedError

    def residual(self, u_new: torch.Tensor, u_old: torch.Tensor) -> torch.Tensor:
        """``R(u⁺; u) = u⁺ − u + c f(u⁺)`` (batched over leading dims of ``u_new``)."""
        return u_new - u_old + self.c * self.flux(u_new)

    def step_jacobian(self, u: torch.Tensor) -> PeriodicBidiagonal:
        """``∂R/∂u⁺ = I + c J_f(u⁺)``."""
        jf = self.flux_jacobian(u)
        return PeriodicBidiagonal(1.0 + self.c * jf.diag, self.c * jf.lower)

    # ------------------------------------------------------------------ solver
    def step(self, u_old: torch.Tensor) -> torch.Tensor:
        """One backward-Euler step by Newton from ``u⁺ = u``; raises if it does not converge."""
        u = u_old.clone()
        scale = float(torch.linalg.vector_norm(u_old)) or 1.0
        history = [float(torch.linalg.vector_norm(self.residual(u, u_old))) / scale]
        for _ in range(self.max_newton):
            r = self.residual(u, u_old)
            u = u - self.step_jacobian(u).solve(r)
            history.append(float(torch.linalg.vector_norm(self.residual(u, u_old))) / scale)
            if not math.isfinite(history[-1]):
                break
            if history[-1] < self.newton_tol:
                self.last_newton_history = history
                return u
        self.last_newton_history = history
        raise NewtonDidNotConverge(len(history) - 1, history[-1], self.newton_tol)

    def solve(self, u0: torch.Tensor) -> torch.Tensor:
        u0 = check_state(u0, self.n_dofs, "initial state")
        traj = torch.empty(self.n_steps + 1, self.n_dofs, dtype=torch.float64)
        traj[0] = u0
        for n in range(self.n_steps):
            traj[n + 1] = self.step(traj[n])
        return traj


class LinearAdvectionFOM(PeriodicUpwindFOM):
    """``u_t + speed · u_x = 0`` (``speed > 0``) on ``[0, length)``: a linear FOM."""

    def __init__(
        self,
        speed: float = 1.0,
        n_dofs: int = 200,
        length: float = 1.0,
        t_final: float = 0.5,
        n_steps: int = 100,
        **newton,
    ):
        super().__init__(n_dofs, length, t_final, n_steps, **newton)
        self.speed = check_positive(speed, "speed")

    def flux(self, u):
        return self.speed * (u - torch.roll(u, 1, dims=-1))

    def flux_jacobian(self, u):
        ones = torch.ones(self.n_dofs, dtype=torch.float64)
        return PeriodicBidiagonal(self.speed * ones, -self.speed * ones)

    def stability_constant(self) -> float:
        """``‖(I + c J_f)⁻¹‖₂ = 1`` exactly (the circulant's smallest |eigenvalue| is at θ = 0)."""
        return 1.0


class BurgersFOM(PeriodicUpwindFOM):
    """Inviscid Burgers ``u_t + u u_x = 0``, Kim et al.'s 1-D FOM (defaults = their setting)."""

    def __init__(
        self,
        n_dofs: int = 1000,
        length: float = 2.0,
        t_final: float = 0.5,
        n_steps: int = 500,
        **newton,
    ):
        super().__init__(n_dofs, length, t_final, n_steps, **newton)

    def flux(self, u):
        return u * (u - torch.roll(u, 1, dims=-1))

    def flux_jacobian(self, u):
        return PeriodicBidiagonal(2.0 * u - torch.roll(u, 1, dims=-1), -u)

    def initial_state(self, amplitude: float, width: float = 1.0) -> torch.Tensor:
        """Kim et al.'s ``sine_wave(amp, width)``: ``1 + a/2 (sin(2π x/w' − π/2) + 1)`` on a bump.

        The bump covers dofs ``1 … ⌊w/Δx⌋`` with ``w' = x[⌊w/Δx⌋ + 1] − x[1]``, as in their
        notebook; the state is 1 elsewhere.
        """
        if not math.isfinite(amplitude):
            raise ValueError(f"amplitude must be a finite number, got {amplitude!r}")
        end = int(check_positive(width, "width") / self.dx + 1)
        if end >= self.n_dofs:
            raise ValueError(f"width {width} leaves no room on a grid of length {self.length}")
        x = self.x
        u = torch.ones(self.n_dofs, dtype=torch.float64)
        span = float(x[end] - x[1])
        phase = 2 * math.pi / span * x[1:end] - math.pi / 2
        u[1:end] = 1.0 + amplitude / 2 * (torch.sin(phase) + 1)
        return u
