"""Smooth test solutions with exact cell averages, and random initial states.

* :func:`sine_advection`: ``u(x, t) = sin(2π(x − a t)/L)``, exact for ``u_t + a u_x = 0``.
* :func:`random_fourier`: ``Σ_{k=1}^{K} A_k sin(2πk x/L + φ_k)`` (``A_k ~ N(0, 1)/k``),
  normalised to peak 1; its exact advected cell averages are :func:`advected_fourier`.
"""

from __future__ import annotations

import math

import torch

from .grid import Grid


def sine_advection(
    n: int, t: float, a: float = 1.0, length: float = 1.0, dtype=torch.float64
) -> torch.Tensor:
    """Exact cell averages ``(1, n)`` of ``sin(2π(x − at)/L)`` (closed-form integral)."""
    grid = Grid(n, length)
    kappa = 2 * math.pi / length
    xl = grid.edges() - a * t
    avg = (torch.cos(kappa * xl) - torch.cos(kappa * (xl + grid.dx))) / (kappa * grid.dx)
    return avg.to(dtype).unsqueeze(0)


def random_modes(batch: int, modes: int, generator: torch.Generator):
    """``(A, φ)`` of shape ``(batch, modes)``: ``A_k ~ N(0, 1)/k``, ``φ_k ~ U[0, 2π)``."""
    k = torch.arange(1, modes + 1, dtype=torch.float64)
    amp = torch.randn(batch, modes, generator=generator, dtype=torch.float64) / k
    phase = 2 * math.pi * torch.rand(batch, modes, generator=generator, dtype=torch.float64)
    return amp, phase


def advected_fourier(amp, phase, n: int, shift: float, length: float = 1.0) -> torch.Tensor:
    """Exact cell averages ``(B, n)`` of ``Σ_k A_k sin(2πk(x − shift)/L + φ_k)``."""
    grid = Grid(n, length)
    k = torch.arange(1, amp.shape[1] + 1, dtype=torch.float64)[None, :, None]
    kappa = 2 * math.pi * k / length
    xl = (grid.edges() - shift)[None, None, :]
    avg = (
        torch.cos(kappa * xl + phase[..., None])
        - torch.cos(kappa * (xl + grid.dx) + phase[..., None])
    ) / (kappa * grid.dx)
    return (amp[..., None] * avg).sum(1)


def step_profile(n: int, length: float = 1.0, dtype=torch.float64) -> torch.Tensor:
    """A periodic square wave: 1 on ``[L/4, 3L/4)``, 0 elsewhere (cell averages, ``(1, n)``)."""
    x = Grid(n, length).centers()
    return ((x >= length / 4) & (x < 3 * length / 4)).to(dtype).unsqueeze(0)
