"""Periodic finite-volume grids: ``N`` cells of width ``Δx = L/N`` on ``[0, L)``.

The state of every transport scheme is the vector of cell averages
``ū_i = (1/Δx) ∫_{x_{i−1/2}}^{x_{i+1/2}} u dx``, ``x_{i±1/2} = (i + ½ ± ½) Δx``, batched as a
tensor ``(..., N)``. Only periodic grids are supported: every scheme is written with
periodic shifts (``torch.roll``), so ``Σ_i ū_i Δx`` is conserved exactly by the flux form.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

# Gauss–Legendre nodes/weights on [−½, ½] for cell averages exact for polynomials of degree 9
_GAUSS_X, _GAUSS_W = np.polynomial.legendre.leggauss(5)


@dataclasses.dataclass(frozen=True)
class Grid:
    """``n`` periodic cells on ``[0, length)``.

    ``periodic=False`` is rejected: the schemes have no boundary conditions.
    """

    n: int
    length: float = 2 * math.pi
    periodic: bool = True

    def __post_init__(self):
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"the number of cells n must be a positive integer, got {self.n!r}")
        if not (isinstance(self.length, (int, float)) and math.isfinite(self.length)):
            raise ValueError(f"the domain length must be a finite number, got {self.length!r}")
        if not self.length > 0:
            raise ValueError(f"the domain length must be > 0, got {self.length!r}")
        if not self.periodic:
            raise ValueError(
                "odenets.transport supports only periodic grids (the schemes have no boundary "
                "conditions); use Grid(n, length, periodic=True)"
            )

    @property
    def dx(self) -> float:
        return self.length / self.n

    def centers(self, dtype=torch.float64) -> torch.Tensor:
        return (torch.arange(self.n, dtype=dtype) + 0.5) * self.dx

    def edges(self, dtype=torch.float64) -> torch.Tensor:
        """Left edges ``x_{i−1/2} = iΔx``."""
        return torch.arange(self.n, dtype=dtype) * self.dx

    def cell_averages(self, fn, dtype=torch.float64) -> torch.Tensor:
        """Cell averages of ``fn(x)`` (a torch function, broadcasting over ``x`` in the last
        axis) by 5-point Gauss–Legendre quadrature per cell (exact to degree 9)."""
        x = self.centers(torch.float64)
        total = 0.0
        for node, weight in zip(_GAUSS_X, _GAUSS_W, strict=True):
            total = total + 0.5 * float(weight) * fn(x + 0.5 * float(node) * self.dx)
        return torch.as_tensor(total).to(dtype)

    def check_stencil(self, radius: int, what: str) -> None:
        """``N`` must hold the ``2·radius + 1`` cells of a stencil without wrapping onto itself."""
        width = 2 * radius + 1
        if self.n < width:
            raise ValueError(
                f"{what} needs at least {width} cells (stencil radius {radius}), got a grid of "
                f"N = {self.n}; use a finer grid"
            )


def check_state(u: torch.Tensor, grid: Grid | None = None) -> None:
    """A state is a floating tensor ``(..., N)`` matching the grid."""
    if not isinstance(u, torch.Tensor):
        raise TypeError(
            f"a transport state must be a torch.Tensor (..., N), got {type(u).__name__}"
        )
    if not u.is_floating_point():
        raise TypeError(f"a transport state must be a float32/float64 tensor, got {u.dtype}")
    if u.ndim < 1:
        raise ValueError("a transport state must have a last axis of N cells, got a scalar")
    if grid is not None and u.shape[-1] != grid.n:
        raise ValueError(f"state has {u.shape[-1]} cells, the grid has N = {grid.n}")


def downsample(u: torch.Tensor, n: int) -> torch.Tensor:
    """Cell averages on ``n`` coarse cells from ``(..., N)`` fine ones (``N`` a multiple of n)."""
    fine = u.shape[-1]
    if n < 1 or fine % n:
        raise ValueError(f"cannot average {fine} cells onto {n}: N must be a multiple of n")
    return u.reshape(*u.shape[:-1], n, fine // n).mean(-1)
