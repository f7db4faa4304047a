"""The interface of a finite-volume transport scheme, classical or learned.

Every scheme is in conservation form,

    ū_i⁺ = ū_i − (Δt/Δx) (F_{i+1/2} − F_{i−1/2}) + Δt (ν D²ū_i + ḡ_i),

so ``Σ_i ū_i`` changes only by the forcing (exactly, to round-off). Two kinds:

* *one-step* schemes (upwind, Lax–Friedrichs, Lax–Wendroff) whose numerical flux depends on
  ``Δt`` (:meth:`Scheme.flux_dt`); viscosity and forcing are added by forward Euler;
* *method-of-lines* schemes (MUSCL, WENO5, Godunov-RK) with a semi-discrete operator
  :meth:`Scheme.rhs` advanced by an explicit Runge–Kutta method of the zoo (SSP-RK3 default).

Class data: ``name``, ``order`` (of accuracy in space, and in time for one-step schemes),
``cfl_limit`` (the declared stable/TVD Courant number), ``radius`` (cells on each side of the
stencil of one flux evaluation).
"""

from __future__ import annotations

import torch

from .grid import Grid, check_state
from .timestep import cfl_dt, check_courant, rk_step, tableau_of


def shift(u: torch.Tensor, j: int) -> torch.Tensor:
    """``(shift(u, j))_i = u_{i+j}`` on the periodic grid."""
    return torch.roll(u, -j, dims=-1)


def central_second_difference(u: torch.Tensor, dx: float) -> torch.Tensor:
    """``(u_{i+1} − 2u_i + u_{i−1}) / Δx²`` (second order), conservative (a flux difference)."""
    return (shift(u, 1) - 2 * u + shift(u, -1)) / (dx * dx)


class Scheme:
    """A finite-volume scheme for a :class:`~odenets.transport.laws.ConservationLaw`."""

    name = "scheme"
    order = 1
    time_order = None  # of the RK method (MOL schemes); None: one-step scheme
    cfl_limit = 1.0
    radius = 1
    tvd = False
    method_of_lines = False
    reference = ""

    def __init__(self, law, time_scheme: str = "ssprk3", strict: bool = False):
        self.law = law
        self.strict = strict
        self.time_scheme = time_scheme
        self.tableau = tableau_of(time_scheme) if self.method_of_lines else None
        if self.method_of_lines:
            self.time_order = self.tableau.order

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.law.name}, nu={self.law.nu:g})"

    # -------------------------------------------------------------------- numerics
    def interface_flux(self, u: torch.Tensor, dx: float, dt: float | None) -> torch.Tensor:
        """``F_{i+1/2}`` for every ``i`` (``(..., N)``)."""
        raise NotImplementedError

    def rhs(self, u: torch.Tensor, t: float, grid: Grid, index=None) -> torch.Tensor:
        """The semi-discrete operator ``L(ū, t)`` (method-of-lines schemes); ``index``
        selects the batch members of the law's forcing that ``u`` holds."""
        flux = self.interface_flux(u, grid.dx, None)
        out = -(flux - shift(flux, -1)) / grid.dx
        return out + self._viscous_source(u, t, grid, index)

    def _viscous_source(self, u, t, grid, index=None):
        extra = self.law.source(grid, t, u, index)
        if self.law.nu:
            extra = extra + self.law.nu * central_second_difference(u, grid.dx)
        return extra

    def step(self, u: torch.Tensor, dt: float, grid: Grid, t: float = 0.0, index=None):
        """``ū(t) → ū(t + Δt)`` (``index``: the forcing's batch members, default all)."""
        check_state(u, grid)
        grid.check_stencil(self.radius, repr(self))
        self.check_dt(u, dt, grid)
        if self.method_of_lines:
            return rk_step(self.tableau, lambda y, s: self.rhs(y, s, grid, index), u, t, dt)
        flux = self.interface_flux(u, grid.dx, dt)
        return (
            u
            - (dt / grid.dx) * (flux - shift(flux, -1))
            + dt * self._viscous_source(u, t, grid, index)
        )

    # ---------------------------------------------------------------- time steps
    def courant(self, u: torch.Tensor, dt: float, grid: Grid) -> float:
        return dt * self.law.max_speed(u) / grid.dx

    def check_dt(self, u, dt, grid) -> None:
        if not dt > 0:
            raise ValueError(f"the time step must be > 0, got {dt!r}")
        check_courant(self.courant(u, dt, grid), self.cfl_limit, repr(self), self.strict)

    def dt(self, u: torch.Tensor, grid: Grid, courant: float | None = None) -> float:
        """The CFL step at ``courant`` (default: the declared limit × 0.9)."""
        return cfl_dt(u, self.law, grid.dx, 0.9 * self.cfl_limit if courant is None else courant)

    def stepper(self, grid: Grid):
        """``step(u, t, dt, index)`` for :func:`~odenets.transport.rollout.rollout`."""
        return lambda u, t, dt, index=None: self.step(u, dt, grid, t, index)

    def dt_fn(self, grid: Grid, courant: float):
        """``dt(u, index)``: the CFL step at ``courant`` for :func:`rollout`."""
        return lambda u, index=None: cfl_dt(u, self.law, grid.dx, courant)
