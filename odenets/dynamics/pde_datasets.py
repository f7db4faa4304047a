"""PDE datasets by the method of lines: reaction–diffusion, Burgers, advection–diffusion.

All grids are periodic. Space is discretised once (finite differences for APHYNITY's
reaction–diffusion, Fourier pseudo-spectral for Burgers and advection–diffusion) and the
resulting ODE system is integrated by ``solve_ivp`` DOP853 with tight tolerances. Burgers
is solved on a grid four times finer and sampled on the data grid.
"""

from __future__ import annotations

import numpy as np

from .datasets import DatasetSpec, register_dataset
from .ode_datasets import INT32_MAX, data_times, group_rng, integrate

PDE_TOLERANCE = dict(rtol=1e-8, atol=1e-8)


def wavenumbers(n: int, length: float) -> np.ndarray:
    """Angular wavenumbers of an ``n``-point periodic grid of ``length``."""
    return 2 * np.pi * np.fft.fftfreq(n, d=length / n)


def spectral_derivative(u: np.ndarray, k: np.ndarray, axis: int, order: int = 1) -> np.ndarray:
    """``∂^order u`` along ``axis`` by FFT; the Nyquist mode of odd derivatives is dropped."""
    n = u.shape[axis]
    factor = (1j * k) ** order
    if order % 2 and n % 2 == 0:
        factor = factor.copy()
        factor[n // 2] = 0
    shape = [1] * u.ndim
    shape[axis] = n
    return np.real(np.fft.ifft(np.fft.fft(u, axis=axis) * factor.reshape(shape), axis=axis))


# -------------------------------------------------------------- reaction–diffusion (APHYNITY)
def laplacian_5point(u: np.ndarray, dx: float) -> np.ndarray:
    """Periodic five-point Laplacian on the last two axes."""
    return (
        np.roll(u, 1, -1) + np.roll(u, -1, -1) + np.roll(u, 1, -2) + np.roll(u, -1, -2) - 4 * u
    ) / dx**2


def reaction_diffusion_rhs(settings):
    a, b, k, size = settings["a"], settings["b"], settings["k"], settings["size"]
    dx = settings["length"] / size

    def rhs(t, y):
        u, v = y.reshape(2, size, size)
        du = a * laplacian_5point(u, dx) + u - u**3 - v - k
        dv = b * laplacian_5point(v, dx) + u - v
        return np.concatenate([du.ravel(), dv.ravel()])

    return rhs


def generate_reaction_diffusion(settings, seed, group):
    size, times = settings["size"], data_times(settings)
    rhs = reaction_diffusion_rhs(settings)
    count = settings["n_train" if group == "train" else "n_test"]
    out = []
    for i in range(count):  # APHYNITY: U, V ~ U[0, 1) per cell, seeded like the pendulum
        rng = np.random.RandomState(seed + i if group == "train" else INT32_MAX - seed - i)
        y0 = np.concatenate([rng.rand(size * size), rng.rand(size * size)])
        states = integrate(rhs, y0, times, **PDE_TOLERANCE)
        out.append(states.reshape(len(times), 2, size, size))
    return np.stack(out)


register_dataset(
    DatasetSpec(
        name="reaction_diffusion",
        equation=(
            "FitzHugh–Nagumo: ∂ₜu = aΔu + u − u³ − v − k, ∂ₜv = bΔv + u − v on [-1, 1)² "
            "periodic, five-point Laplacian (APHYNITY)"
        ),
        generate=generate_reaction_diffusion,
        state_shape=lambda s: (2, s["size"], s["size"]),
        ndim=2,
        sizes=dict(n_train=16, n_test=4, duration=6.0, horizon=3.0, dt=0.1),
        params=dict(a=1e-3, b=5e-3, k=5e-3, size=32, length=2.0),
        solver="method of lines, scipy solve_ivp DOP853, rtol = atol = 1e-8; u, v ~ U[0, 1)",
        physics="diffusion_2d",
        true_physics="fitzhugh_nagumo",
        positive_params=("size", "length"),
        nonnegative_params=("a", "b"),
    )
)


# ------------------------------------------------------------------------------ Burgers
def burgers_rhs(n: int, length: float, nu: float):
    """Pseudo-spectral ``u_t = −(u²/2)_x + ν u_xx`` with the 2/3 dealiasing rule."""
    k = wavenumbers(n, length)
    keep = np.abs(np.fft.fftfreq(n, d=1.0 / n)) < n / 3

    def rhs(t, u):
        u_hat = np.fft.fft(u) * keep
        flux_hat = np.fft.fft(0.5 * np.real(np.fft.ifft(u_hat)) ** 2) * keep
        return np.real(np.fft.ifft(-1j * k * flux_hat - nu * k**2 * u_hat))

    return rhs


def solve_burgers(u0: np.ndarray, times: np.ndarray, nu: float, length: float) -> np.ndarray:
    """Burgers trajectories ``(T, n)`` from ``u0`` on its own (fine) periodic grid."""
    return integrate(burgers_rhs(len(u0), length, nu), u0, times, **PDE_TOLERANCE)


def burgers_initial(rng, x: np.ndarray, length: float) -> np.ndarray:
    """Zero-mean random sum of the first three Fourier modes, peak amplitude U[0.5, 1]."""
    u = np.zeros_like(x)
    for mode in (1, 2, 3):
        amp, phase = rng.normal() / mode, rng.uniform(0, 2 * np.pi)
        u += amp * np.sin(2 * np.pi * mode * x / length + phase)
    return u / np.abs(u).max() * rng.uniform(0.5, 1.0)


def generate_burgers(settings, seed, group):
    n, length, refine = settings["size"], settings["length"], settings["refine"]
    x_fine = length * np.arange(n * refine) / (n * refine)
    count = settings["n_train" if group == "train" else "n_test"]
    out = []
    for i in range(count):
        u0 = burgers_initial(group_rng(seed, group, i), x_fine, length)
        fine = solve_burgers(u0, data_times(settings), settings["nu"], length)
        out.append(fine[:, None, ::refine])
    return np.stack(out)


register_dataset(
    DatasetSpec(
        name="burgers",
        equation="viscous Burgers ∂ₜu + u ∂ₓu = ν ∂ₓ²u on [0, 2π) periodic",
        generate=generate_burgers,
        state_shape=lambda s: (1, s["size"]),
        ndim=1,
        sizes=dict(n_train=16, n_test=4, duration=2.0, horizon=1.0, dt=0.05),
        params=dict(nu=0.1, size=64, length=2 * np.pi, refine=4),
        solver=(
            "Fourier pseudo-spectral (2/3 dealiasing) on a 4× finer grid, scipy solve_ivp "
            "DOP853, rtol = atol = 1e-8, sampled on the data grid"
        ),
        positive_params=("nu", "size", "length", "refine"),
    )
)


# ------------------------------------------------------------------- advection–diffusion
def cellular_velocity(settings, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``w = (cx, cy) + U (sin 2πx/L cos 2πy/L, −cos 2πx/L sin 2πy/L)`` (divergence-free)."""
    s = 2 * np.pi / settings["length"]
    big_u = settings["U"]
    wx = settings["cx"] + big_u * np.sin(s * x) * np.cos(s * y)
    wy = settings["cy"] - big_u * np.cos(s * x) * np.sin(s * y)
    return wx, wy


def grid_2d(size: int, length: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell coordinates ``(x, y)``, arrays indexed ``[i_y, i_x]``."""
    coords = length * np.arange(size) / size
    x, y = np.meshgrid(coords, coords, indexing="xy")
    return x, y


def advection_diffusion_rhs(size, length, wx, wy, diffusion):
    k = wavenumbers(size, length)

    def rhs(t, flat):
        c = flat.reshape(size, size)
        cx, cy = spectral_derivative(c, k, axis=1), spectral_derivative(c, k, axis=0)
        lap = spectral_derivative(c, k, axis=1, order=2) + spectral_derivative(c, k, 0, 2)
        return (-(wx * cx + wy * cy) + diffusion * lap).ravel()

    return rhs


def solve_advection_diffusion(c0: np.ndarray, times: np.ndarray, settings: dict) -> np.ndarray:
    """``∂ₜc + w·∇c = DΔc`` from ``c0`` ``(size, size)``; returns ``(T, size, size)``."""
    size, length = c0.shape[-1], settings["length"]
    wx, wy = cellular_velocity(settings, *grid_2d(size, length))
    rhs = advection_diffusion_rhs(size, length, wx, wy, settings["D"])
    states = integrate(rhs, c0.ravel(), times, rtol=1e-10, atol=1e-10)
    return states.reshape(len(times), size, size)


def advection_diffusion_initial(rng, size, length) -> np.ndarray:
    """A sum of five random plane waves with integer wavenumbers |kx|, |ky| <= 3."""
    x, y = grid_2d(size, length)
    c = np.zeros_like(x)
    for _ in range(5):
        kx, ky = rng.integers(-3, 4, size=2)
        c += rng.uniform(0.2, 1.0) * np.cos(
            2 * np.pi * (kx * x + ky * y) / length + rng.uniform(0, 2 * np.pi)
        )
    return c


def generate_advection_diffusion(settings, seed, group):
    count = settings["n_train" if group == "train" else "n_test"]
    size, times = settings["size"], data_times(settings)
    out = []
    for i in range(count):
        c0 = advection_diffusion_initial(group_rng(seed, group, i), size, settings["length"])
        out.append(solve_advection_diffusion(c0, times, settings)[:, None])
    return np.stack(out)


register_dataset(
    DatasetSpec(
        name="advection_diffusion",
        equation=(
            "∂ₜc + w·∇c = DΔc on [0, L)² periodic, w = (cx, cy) + U (sin 2πx/L cos 2πy/L, "
            "−cos 2πx/L sin 2πy/L) (known, divergence-free)"
        ),
        generate=generate_advection_diffusion,
        state_shape=lambda s: (1, s["size"], s["size"]),
        ndim=2,
        sizes=dict(n_train=16, n_test=4, duration=1.0, horizon=0.5, dt=0.01),
        params=dict(D=0.01, U=0.5, cx=0.0, cy=0.0, size=32, length=1.0),
        solver="Fourier pseudo-spectral, scipy solve_ivp DOP853, rtol = atol = 1e-10",
        physics="advection_diffusion",
        true_physics="advection_diffusion",
        positive_params=("size", "length"),
        nonnegative_params=("D",),
    )
)


# -------------------------------------------------------------------- damped wave (APHYNITY)
FOURTH_ORDER = (-1 / 12, 4 / 3, -5 / 2, 4 / 3, -1 / 12)  # ∂ₓ² stencil, order 4
SECOND_ORDER = (1.0, -2.0, 1.0)  # ∂ₓ² stencil, order 2
WAVE_BOUNDARIES = ("aphynity", "periodic")


def second_derivative(u: np.ndarray, dx: float, axis: int, stencil, boundary: str) -> np.ndarray:
    """``∂²u`` along ``axis`` by a centred ``stencil`` of ``2r + 1`` weights.

    ``boundary = 'periodic'`` wraps around; ``'aphynity'`` sets the derivative to zero on the
    ``r`` cells next to each edge of ``axis`` (their code computes it on the interior only, so
    the Laplacian there is the other axis' derivative alone).
    """
    r = len(stencil) // 2
    if boundary == "periodic":
        return sum(w * np.roll(u, r - j, axis) for j, w in enumerate(stencil)) / dx**2
    out = np.zeros_like(u)
    n = u.shape[axis]
    inner = [slice(None)] * u.ndim
    inner[axis] = slice(r, n - r)
    total = 0.0
    for j, w in enumerate(stencil):
        take = [slice(None)] * u.ndim
        take[axis] = slice(j, n - 2 * r + j)
        total = total + w * u[tuple(take)]
    out[tuple(inner)] = total / dx**2
    return out


def damped_wave_rhs(settings):
    """``(u, u_t)' = (u_t, c²Δu − k u_t)``, fourth-order five-point Laplacian per axis."""
    c, k, size, boundary = settings["c"], settings["k"], settings["size"], settings["boundary"]
    dx = settings["length"] / size

    def rhs(t, y):
        u, ut = y.reshape(2, size, size)
        lap = sum(second_derivative(u, dx, ax, FOURTH_ORDER, boundary) for ax in (0, 1))
        return np.concatenate([ut.ravel(), (c**2 * lap - k * ut).ravel()])

    return rhs


def damped_wave_initial(settings, seed: int) -> np.ndarray:
    """APHYNITY's initial state: ``u = exp(−|x − m|²/s)``, ``u_t = 0`` (``(2, size, size)``).

    ``s ~ U(10, 100)`` and ``m`` has integer coordinates in ``[20, 40)`` on a ``[0, 64)²``
    domain (their grid: 64 cells, dx = 1); another ``length`` scales both.
    """
    rng = np.random.RandomState(seed)
    scale = settings["length"] / 64.0
    s = rng.uniform(10, 100) * scale**2
    mean = rng.randint(low=20, high=40, size=(2,)) * scale
    x, y = grid_2d(settings["size"], settings["length"])
    u = np.exp(-((x - mean[0]) ** 2 + (y - mean[1]) ** 2) / s)
    return np.stack([u, np.zeros_like(u)])


def solve_damped_wave(y0: np.ndarray, times: np.ndarray, settings: dict) -> np.ndarray:
    """The damped wave from ``y0`` ``(2, size, size)``; returns ``(T, 2, size, size)``."""
    states = integrate(damped_wave_rhs(settings), y0.ravel(), times, rtol=1e-10, atol=1e-10)
    return states.reshape(len(times), *y0.shape)


def generate_damped_wave(settings, seed, group):
    # APHYNITY simulates once per group (train: seed 2³¹ − 1, test: seed 0) and cuts windows
    # of T points starting at every step; seed shifts both. Validation: seed 2³⁰ + seed.
    if settings["boundary"] not in WAVE_BOUNDARIES:
        raise ValueError(
            f"dataset 'wave': boundary must be one of {WAVE_BOUNDARIES}, "
            f"got {settings['boundary']!r}"
        )
    n_times = len(data_times(settings))
    count = settings[f"n_{group}"]
    seeds = {"train": INT32_MAX - seed, "test": seed, "val": 2**30 + seed}
    y0 = damped_wave_initial(settings, seeds[group])
    times = settings["dt"] * np.arange(count + n_times - 1)
    return solve_damped_wave(y0, times, settings)


register_dataset(
    DatasetSpec(
        name="wave",
        equation=(
            "∂ₜ²u = c²Δu − k ∂ₜu on [0, L)², state (u, ∂ₜu), fourth-order five-point ∂² per "
            "axis, each zero on the 2 cells next to its axis' edges ('aphynity') or periodic"
        ),
        generate=generate_damped_wave,
        state_shape=lambda s: (2, s["size"], s["size"]),
        ndim=2,
        sizes=dict(n_train=200, n_test=50, duration=0.025, horizon=0.025, dt=1e-3),
        params=dict(c=330.0, k=50.0, size=64, length=64.0, boundary="aphynity"),
        solver=(
            "method of lines, scipy solve_ivp DOP853, rtol = atol = 1e-10; one simulation per "
            "group from a Gaussian bump, windows of duration/dt points at every step"
        ),
        physics="wave",
        true_physics="damped_wave",
        positive_params=("c", "size", "length"),
        nonnegative_params=("k",),
        windowed=True,
    )
)
