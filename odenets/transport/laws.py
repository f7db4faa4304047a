"""1-D conservation laws ``u_t + f(u)_x = ν u_xx + g(x, t)`` and the forcing of Bar-Sinai et al.

A :class:`ConservationLaw` supplies the flux ``f``, its characteristic speed ``f'(u)``, the
exact Riemann (Godunov) flux ``F(u_L, u_R)``, the viscosity ``ν`` and an optional forcing
``g``. :class:`LinearAdvection` (``f = a u``) and :class:`Burgers` (``f = u²/2``, inviscid
for ``ν = 0``) are provided; :class:`SumOfModes` is the random forcing of Bar-Sinai et al.
(PNAS 2019) in McGreivy's reproduction: ``g = Σ_m A_m sin(ω_m t + 2π k_m x/L + φ_m)``.
"""

from __future__ import annotations

import math

import torch

from .grid import Grid


class ConservationLaw:
    """Base class; subclasses define ``flux``, ``speed`` and ``godunov``."""

    name = "law"
    linear = False

    def __init__(self, nu: float = 0.0, forcing: SumOfModes | None = None):
        if not (isinstance(nu, (int, float)) and math.isfinite(nu)) or nu < 0:
            raise ValueError(f"the viscosity nu must be a finite number >= 0, got {nu!r}")
        self.nu = float(nu)
        self.forcing = forcing

    def flux(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def speed(self, u: torch.Tensor) -> torch.Tensor:
        """The characteristic speed ``f'(u)``."""
        raise NotImplementedError

    def godunov(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """The exact Riemann flux at an interface with states ``u_L``, ``u_R``."""
        raise NotImplementedError

    def max_speed(self, u: torch.Tensor) -> float:
        """``max |f'(u)|`` over the finite entries (0 if none)."""
        s = self.speed(u).abs()
        s = s[torch.isfinite(s)]
        return float(s.max()) if s.numel() else 0.0

    def source(self, grid: Grid, t: float, like: torch.Tensor, index=None):
        """Cell averages of ``g(·, t)`` (``0`` without forcing) for the batch members
        ``index`` of the forcing (all when None)."""
        if self.forcing is None:
            return 0.0
        forcing = self.forcing if index is None else self.forcing.select(index)
        if len(forcing) != like.shape[0]:
            raise ValueError(
                f"the forcing has {len(forcing)} members, the state batch {like.shape[0]}"
            )
        return forcing.cell_averages(grid, t).to(like)


class LinearAdvection(ConservationLaw):
    """``u_t + a u_x = ν u_xx``: exact solution ``u(x − a t, 0)`` for ``ν = 0``."""

    name = "linear_advection"
    linear = True

    def __init__(self, a: float = 1.0, nu: float = 0.0, forcing=None):
        super().__init__(nu, forcing)
        if not (isinstance(a, (int, float)) and math.isfinite(a)) or a == 0:
            raise ValueError(f"the advection speed a must be a finite non-zero number, got {a!r}")
        self.a = float(a)

    def flux(self, u):
        return self.a * u

    def speed(self, u):
        return torch.full_like(u, self.a)

    def godunov(self, left, right):
        return self.a * (left if self.a > 0 else right)


class Burgers(ConservationLaw):
    """``u_t + (u²/2)_x = ν u_xx (+ g)``; the Godunov flux of the convex flux with minimum
    at 0: ``F = max(f(max(u_L, 0)), f(min(u_R, 0)))``."""

    name = "burgers"

    def flux(self, u):
        return 0.5 * u * u

    def speed(self, u):
        return u

    def godunov(self, left, right):
        return torch.maximum(self.flux(left.clamp(min=0)), self.flux(right.clamp(max=0)))


class SumOfModes:
    """Forcing ``g(x, t) = Σ_m A_m sin(ω_m t + 2π k_m x / L + φ_m)`` per batch member.

    Parameters are tensors ``(B, M)``. :meth:`random` draws Bar-Sinai et al.'s forcing:
    ``M = 20`` modes, ``A ~ U[−0.5, 0.5]``, ``ω ~ U[−0.4, 0.4]``, ``φ ~ U[0, 2π)``,
    ``k ∈ {3, 4, 5, 6}`` uniformly. Cell averages are exact (closed-form integral).
    """

    def __init__(self, amplitude, omega, phase, k, length: float):
        shapes = {tuple(t.shape) for t in (amplitude, omega, phase, k)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"forcing parameters must all be (batch, modes) tensors, got {shapes}")
        self.amplitude, self.omega, self.phase, self.k = (
            t.double() for t in (amplitude, omega, phase, k)
        )
        self.length = float(length)

    @classmethod
    def random(
        cls,
        batch: int,
        length: float,
        generator: torch.Generator,
        modes: int = 20,
        amplitude_max: float = 0.5,
        omega_max: float = 0.4,
        k_min: int = 3,
        k_max: int = 6,
    ):
        def uniform(low, high):
            return low + (high - low) * torch.rand(
                batch, modes, generator=generator, dtype=torch.float64
            )

        k = torch.randint(k_min, k_max + 1, (batch, modes), generator=generator).double()
        return cls(
            uniform(-amplitude_max, amplitude_max),
            uniform(-omega_max, omega_max),
            uniform(0, 2 * math.pi),
            k,
            length,
        )

    def __len__(self) -> int:
        return self.amplitude.shape[0]

    def select(self, index) -> SumOfModes:
        return SumOfModes(
            self.amplitude[index], self.omega[index], self.phase[index], self.k[index], self.length
        )

    def cell_averages(self, grid: Grid, t: float) -> torch.Tensor:
        """``(B, N)``: ``(1/Δx)∫ A sin(κx + θ) dx = A [cos(κx_L + θ) − cos(κx_R + θ)]/(κΔx)``."""
        kappa = 2 * math.pi * self.k[..., None] / self.length  # (B, M, 1)
        theta = self.omega[..., None] * t + self.phase[..., None]
        xl = grid.edges()[None, None, :]
        xr = xl + grid.dx
        avg = (torch.cos(kappa * xl + theta) - torch.cos(kappa * xr + theta)) / (kappa * grid.dx)
        return (self.amplitude[..., None] * avg).sum(1)
