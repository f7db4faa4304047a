"""Synthetic passive tracer: a substitute for de Bézenac et al.'s sea-surface temperature.

A tracer ``c`` on the periodic square ``[0, 2π)²`` obeys ``∂ₜc + u·∇c = DΔc`` under a
divergence-free, time-varying flow ``u = (∂_yψ, −∂_xψ)`` of a random stream function made of a
few large eddies,

    ψ(x, t) = Σ_m A_m sin(k_m·x + φ_m + ω_m t),   |k_m| ≤ ``max_wavenumber``,

rescaled so that the r.m.s. displacement per frame is ``pixels_per_frame``. The reference solver
is Fourier pseudo-spectral (2/3 dealiasing) in space and classical RK4 in time with
``substeps`` steps per frame (CFL ``|u| Δt k_max`` below 1.5 for the default settings). The
initial tracer is a random smooth field (modes ``|k| ≤ 6``, amplitude ``∝ 1/|k|``), stirred
for ``spinup`` frames before recording. Each simulation is cut into four ``patch × patch``
quadrants and windows of ``window`` frames (stride ``stride``); frames are normalised to unit
standard deviation over the training set by :func:`make_splits`.

Kept with every window: the true velocity at each frame in pixels per frame, ``(2, H, W)``
with channel 0 along x (width), and the exact backward displacement of each step,
``x − X(t_k; x, t_{k+1})``, from RK4 on the characteristics (8 substeps): the velocity a
semi-Lagrangian warp needs to be exact up to diffusion (the "true-velocity" ceiling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .._validation import check_positive_int


@dataclass(frozen=True)
class TracerSettings:
    size: int = 128
    patch: int = 64
    window: int = 10
    stride: int = 4
    windows_per_patch: int = 3
    spinup: int = 6
    eddies: int = 4
    max_wavenumber: int = 2
    pixels_per_frame: float = 1.5
    frequency: float = 0.5
    diffusivity_pixels: float = 0.3  # DΔt in pixels² per frame
    substeps: int = 4
    dt: float = 1.0  # time unit: one frame

    @property
    def frames(self) -> int:
        return self.spinup + self.window + self.stride * (self.windows_per_patch - 1)


@dataclass
class TracerData:
    """Windows ``frames (S, window, H, W)``, ``velocity (S, window, 2, H, W)`` (px/frame),
    ``displacement (S, window − 1, 2, H, W)`` (exact backward displacement of each step)."""

    frames: torch.Tensor
    velocity: torch.Tensor
    displacement: torch.Tensor
    settings: TracerSettings = field(default_factory=TracerSettings)

    def __len__(self) -> int:
        return self.frames.shape[0]


class _Flow:
    """The random eddy stream function of one batch of simulations (grid units: pixels)."""

    def __init__(self, settings: TracerSettings, batch: int, gen: torch.Generator):
        s, n = settings, settings.size
        kmax = s.max_wavenumber
        cands = [(a, b) for a in range(-kmax, kmax + 1) for b in range(0, kmax + 1)]
        cands = [(a, b) for a, b in cands if (b > 0 or a > 0) and a * a + b * b <= kmax * kmax]
        pick = [torch.randperm(len(cands), generator=gen)[: s.eddies] for _ in range(batch)]
        pick = torch.stack(pick)
        waves = torch.tensor(cands, dtype=torch.float64)[pick] * (2 * math.pi / n)  # per pixel
        self.kx, self.ky = waves[..., 0], waves[..., 1]  # (B, M)
        self.phase = 2 * math.pi * torch.rand(batch, s.eddies, generator=gen, dtype=torch.float64)
        self.omega = s.frequency * torch.randn(batch, s.eddies, generator=gen, dtype=torch.float64)
        amp = torch.rand(batch, s.eddies, generator=gen, dtype=torch.float64) + 0.5
        # r.m.s. speed of Σ A k sin(...) is sqrt(Σ A²|k|²/2): rescale to pixels_per_frame
        rms = torch.sqrt((amp**2 * (self.kx**2 + self.ky**2)).sum(1) / 2)
        self.amp = amp * (s.pixels_per_frame / rms)[:, None]

    def velocity(self, x: torch.Tensor, y: torch.Tensor, t: float) -> torch.Tensor:
        """``(u, v) = (∂ψ/∂y, −∂ψ/∂x)`` at points ``x, y`` ``(B, ...)`` in pixels per frame."""
        extra = (None,) * (x.dim() - 1)
        kx, ky = self.kx[(slice(None), *extra)], self.ky[(slice(None), *extra)]
        amp = self.amp[(slice(None), *extra)]
        arg = kx * x[..., None] + ky * y[..., None]
        arg = arg + (self.phase + self.omega * t)[(slice(None), *extra)]
        c = amp * torch.cos(arg)
        return torch.stack([(c * ky).sum(-1), -(c * kx).sum(-1)], 1)


def _spectral(settings: TracerSettings):
    n = settings.size
    k = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64) * (2 * math.pi / n)  # per pixel
    ky, kx = torch.meshgrid(k, k, indexing="ij")
    cut = (2 * math.pi / n) * (n / 3)
    dealias = ((kx.abs() < cut) & (ky.abs() < cut)).to(torch.float64)
    return kx, ky, dealias


def _initial_tracer(settings: TracerSettings, batch: int, gen: torch.Generator) -> torch.Tensor:
    n = settings.size
    k = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64)
    ky, kx = torch.meshgrid(k, k, indexing="ij")
    mag = torch.sqrt(kx**2 + ky**2)
    shape = (batch, n, n)
    coeffs = torch.randn(shape, generator=gen, dtype=torch.float64) + 1j * torch.randn(
        shape, generator=gen, dtype=torch.float64
    )
    coeffs = coeffs * ((mag > 0) & (mag <= 6)) / mag.clamp(min=1)
    c = torch.fft.ifft2(coeffs).real
    return c / c.std(dim=(1, 2), keepdim=True)


def _rhs(c_hat, t, flow, grid, spectral, settings):
    kx, ky, dealias = spectral
    gy, gx = grid
    b = c_hat.shape[0]
    u = flow.velocity(gx.expand(b, -1, -1), gy.expand(b, -1, -1), t)
    cx = torch.fft.ifft2(1j * kx * c_hat).real
    cy = torch.fft.ifft2(1j * ky * c_hat).real
    advect = torch.fft.fft2(u[:, 0] * cx + u[:, 1] * cy) * dealias
    diffusivity = settings.diffusivity_pixels  # D in pixels² per frame (Δt = 1)
    return -advect - diffusivity * (kx**2 + ky**2) * c_hat


def _departure(flow: _Flow, grid, t1: float, dt: float, steps: int = 8) -> torch.Tensor:
    """``x − X(t1 − dt; x, t1)``: integrate the characteristics back by RK4."""
    gy, gx = grid
    b = flow.kx.shape[0]
    x, y = gx.expand(b, -1, -1).clone(), gy.expand(b, -1, -1).clone()
    h, t = -dt / steps, t1
    for _ in range(steps):
        k1 = flow.velocity(x, y, t)
        k2 = flow.velocity(x + h / 2 * k1[:, 0], y + h / 2 * k1[:, 1], t + h / 2)
        k3 = flow.velocity(x + h / 2 * k2[:, 0], y + h / 2 * k2[:, 1], t + h / 2)
        k4 = flow.velocity(x + h * k3[:, 0], y + h * k3[:, 1], t + h)
        x = x + h / 6 * (k1[:, 0] + 2 * k2[:, 0] + 2 * k3[:, 0] + k4[:, 0])
        y = y + h / 6 * (k1[:, 1] + 2 * k2[:, 1] + 2 * k3[:, 1] + k4[:, 1])
        t = t + h
    return torch.stack([gx - x, gy - y], 1)


def simulate(settings: TracerSettings, batch: int, seed: int):
    """Tracer frames ``(B, T, N, N)``, velocities ``(B, T, 2, N, N)``, displacements
    ``(B, T−1, 2, N, N)`` on the full periodic grid after the spin-up."""
    check_positive_int(batch, "number of simulations")
    gen = torch.Generator().manual_seed(seed)
    flow = _Flow(settings, batch, gen)
    n = settings.size
    ar = torch.arange(n, dtype=torch.float64)
    grid = torch.meshgrid(ar, ar, indexing="ij")
    spectral = _spectral(settings)
    c_hat = torch.fft.fft2(_initial_tracer(settings, batch, gen))
    h = 1.0 / settings.substeps
    frames, velocity, displacement = [], [], []
    t = 0.0
    for frame in range(settings.frames):
        if frame >= settings.spinup:
            frames.append(torch.fft.ifft2(c_hat).real)
            b_x, b_y = grid[1].expand(batch, -1, -1), grid[0].expand(batch, -1, -1)
            velocity.append(flow.velocity(b_x, b_y, t))
            if frame > settings.spinup:
                displacement.append(_departure(flow, grid, t, 1.0))
        for _ in range(settings.substeps):  # classical RK4
            args = (flow, grid, spectral, settings)
            k1 = _rhs(c_hat, t, *args)
            k2 = _rhs(c_hat + h / 2 * k1, t + h / 2, *args)
            k3 = _rhs(c_hat + h / 2 * k2, t + h / 2, *args)
            k4 = _rhs(c_hat + h * k3, t + h, *args)
            c_hat = c_hat + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            t += h
    return torch.stack(frames, 1), torch.stack(velocity, 1), torch.stack(displacement, 1)


def generate_tracer(settings: TracerSettings, simulations: int, seed: int) -> TracerData:
    """Windows of four quadrant patches of ``simulations`` runs (float32)."""
    frames, velocity, displacement = simulate(settings, simulations, seed)
    p, w = settings.patch, settings.window
    if settings.size % p:
        raise ValueError(f"patch {p} must divide the simulation size {settings.size}")
    out_f, out_v, out_d = [], [], []
    for start in range(0, settings.stride * settings.windows_per_patch, settings.stride):
        for i in range(0, settings.size, p):
            for j in range(0, settings.size, p):
                cut = (..., slice(i, i + p), slice(j, j + p))
                out_f.append(frames[:, start : start + w][cut])
                out_v.append(velocity[:, start : start + w][cut])
                out_d.append(displacement[:, start : start + w - 1][cut])
    return TracerData(
        torch.cat(out_f).float(), torch.cat(out_v).float(), torch.cat(out_d).float(), settings
    )


def make_splits(settings: TracerSettings, simulations: tuple[int, int, int], seed: int = 0):
    """Train / validation / test :class:`TracerData` from disjoint simulations, scaled by the
    training standard deviation (the same factor for all three)."""
    splits = [
        generate_tracer(settings, count, seed + 1000 * k) for k, count in enumerate(simulations)
    ]
    scale = splits[0].frames.std()
    for split in splits:
        split.frames = split.frames / scale
    return splits
