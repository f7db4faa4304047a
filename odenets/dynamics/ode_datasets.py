"""ODE datasets: spiral, damped pendulum (APHYNITY), Lotka–Volterra, mass–spring, pendulum.

Every trajectory is integrated by ``scipy.integrate.solve_ivp`` with DOP853 (order 8,
embedded error control) at ``rtol = atol = 1e-10`` and read at the data times (dense
output), so the data error is ~1e-9, far below what the models reach.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.integrate import solve_ivp

from .datasets import DatasetSpec, register_dataset, steps_in

REFERENCE = dict(method="DOP853", rtol=1e-10, atol=1e-10)
SOLVER = "scipy solve_ivp DOP853, rtol = atol = 1e-10"
INT32_MAX = np.iinfo(np.int32).max


def integrate(rhs, y0: np.ndarray, times: np.ndarray, **solver) -> np.ndarray:
    """Solve ``y' = rhs(t, y)`` from ``y0`` and return the states at ``times``, ``(T, n)``."""
    options = {**REFERENCE, **solver}
    sol = solve_ivp(rhs, (0.0, float(times[-1])), y0, t_eval=times, **options)
    if not sol.success:
        raise RuntimeError(f"reference solver failed: {sol.message}")
    return sol.y.T


def data_times(settings: dict) -> np.ndarray:
    return settings["dt"] * np.arange(steps_in(settings["duration"], settings["dt"]))


def group_rng(seed: int, group: str, index: int) -> np.random.Generator:
    return np.random.default_rng((seed, 0 if group == "train" else 1, index))


def _trajectories(settings, seed, group, rhs, initial_condition) -> np.ndarray:
    times = data_times(settings)
    count = settings["n_train" if group == "train" else "n_test"]
    states = [integrate(rhs, initial_condition(i), times) for i in range(count)]
    return np.stack(states)


def _vector(dim):
    return lambda settings: (dim,)


# ------------------------------------------------------------------------------------ spiral
def spiral_rhs(settings):
    a = np.array([[-0.1, 2.0], [-2.0, -0.1]])
    return lambda t, y: (y**3) @ a


def generate_spiral(settings, seed, group):
    def initial(i):
        if group == "train" and i == 0:
            return np.array([2.0, 0.0])  # the torchdiffeq demo's trajectory
        rng = group_rng(seed, group, i)
        angle, radius = rng.uniform(0, 2 * np.pi), rng.uniform(1.5, 2.5)
        return radius * np.array([np.cos(angle), np.sin(angle)])

    return _trajectories(settings, seed, group, spiral_rhs(settings), initial)


register_dataset(
    DatasetSpec(
        name="spiral",
        equation="y' = A y³ (elementwise cube), A = [[-0.1, 2], [-2, -0.1]] (torchdiffeq demo)",
        generate=generate_spiral,
        state_shape=_vector(2),
        ndim=0,
        sizes=dict(n_train=1, n_test=1, duration=25.0, horizon=12.5, dt=0.025),
        params={},
        solver=SOLVER + "; train trajectory 0 starts at (2, 0), others on radius 1.5-2.5",
    )
)


# ---------------------------------------------------------------------- damped pendulum
def damped_pendulum_rhs(settings):
    w2, alpha = settings["omega0"] ** 2, settings["alpha"]

    def rhs(t, y):
        q, p = y
        return np.array([p, -w2 * np.sin(q) - alpha * p])

    return rhs


def aphynity_pendulum_initial(seed: int) -> np.ndarray:
    """APHYNITY's sampling: a random direction in the (θ, θ') plane, radius U[1.3, 2.3)."""
    rng = np.random.RandomState(seed)
    y0 = rng.rand(2) * 2.0 - 1
    radius = rng.rand() + 1.3
    return y0 / np.sqrt((y0**2).sum()) * radius


def generate_pendulum(settings, seed, group):
    # APHYNITY seeds trajectory i with i (train) and INT32_MAX - i (test); seed shifts both.
    def initial(i):
        s = seed + i if group == "train" else INT32_MAX - seed - i
        return aphynity_pendulum_initial(s)

    return _trajectories(settings, seed, group, damped_pendulum_rhs(settings), initial)


register_dataset(
    DatasetSpec(
        name="pendulum",
        equation="θ'' + ω₀² sin θ + α θ' = 0, state (θ, θ') (APHYNITY damped pendulum)",
        generate=generate_pendulum,
        state_shape=_vector(2),
        ndim=0,
        sizes=dict(n_train=25, n_test=25, duration=40.0, horizon=20.0, dt=0.5),
        params=dict(omega0=2 * math.pi / 6, alpha=0.2),
        solver=SOLVER + "; initial conditions as APHYNITY (radius U[1.3, 2.3))",
        physics="frictionless_pendulum",
        true_physics="damped_pendulum",
        positive_params=("omega0",),
        nonnegative_params=("alpha",),
    )
)


# ------------------------------------------------------------------------ Lotka–Volterra
def lotka_volterra_rhs(settings):
    a, b, c, d = (settings[k] for k in ("alpha", "beta", "gamma", "delta"))

    def rhs(t, y):
        x, z = y
        return np.array([a * x - b * x * z, d * x * z - c * z])

    return rhs


def lotka_volterra_invariant(states: torch.Tensor, settings: dict) -> torch.Tensor:
    """``V = δx − γ ln x + βy − α ln y``, constant along exact trajectories."""
    a, b, c, d = (settings[k] for k in ("alpha", "beta", "gamma", "delta"))
    x, y = states[..., 0].clamp_min(1e-12), states[..., 1].clamp_min(1e-12)
    return d * x - c * torch.log(x) + b * y - a * torch.log(y)


def generate_lotka_volterra(settings, seed, group):
    def initial(i):
        return group_rng(seed, group, i).uniform(0.5, 1.5, size=2)

    return _trajectories(settings, seed, group, lotka_volterra_rhs(settings), initial)


register_dataset(
    DatasetSpec(
        name="lotka_volterra",
        equation="x' = αx − βxy, y' = δxy − γy (invariant δx − γ ln x + βy − α ln y)",
        generate=generate_lotka_volterra,
        state_shape=_vector(2),
        ndim=0,
        sizes=dict(n_train=16, n_test=16, duration=20.0, horizon=10.0, dt=0.1),
        params=dict(alpha=2 / 3, beta=4 / 3, gamma=1.0, delta=1.0),
        solver=SOLVER + "; initial populations U[0.5, 1.5]²",
        energy=lotka_volterra_invariant,
        positive_params=("alpha", "beta", "gamma", "delta"),
    )
)


# ------------------------------------------------------------------------ mass–spring
def mass_spring_rhs(settings):
    k, m = settings["k"], settings["m"]
    return lambda t, y: np.array([y[1] / m, -k * y[0]])


def mass_spring_energy(states: torch.Tensor, settings: dict) -> torch.Tensor:
    """``H = p²/(2m) + k q²/2``."""
    q, p = states[..., 0], states[..., 1]
    return p**2 / (2 * settings["m"]) + settings["k"] * q**2 / 2


def _ring_initial(seed, group, low, high):
    def initial(i):
        rng = group_rng(seed, group, i)
        angle, radius = rng.uniform(0, 2 * np.pi), rng.uniform(low, high)
        return radius * np.array([np.cos(angle), np.sin(angle)])

    return initial


def generate_mass_spring(settings, seed, group):
    initial = _ring_initial(seed, group, 0.5, 1.5)
    return _trajectories(settings, seed, group, mass_spring_rhs(settings), initial)


register_dataset(
    DatasetSpec(
        name="mass_spring",
        equation="q' = p/m, p' = −k q (ideal mass–spring; H = p²/2m + kq²/2 conserved)",
        generate=generate_mass_spring,
        state_shape=_vector(2),
        ndim=0,
        sizes=dict(n_train=16, n_test=16, duration=20.0, horizon=10.0, dt=0.1),
        params=dict(k=1.0, m=1.0),
        solver=SOLVER + "; (q, p) on a circle of radius U[0.5, 1.5]",
        physics="harmonic_oscillator",
        true_physics="harmonic_oscillator",
        energy=mass_spring_energy,
        positive_params=("k", "m"),
    )
)


# ------------------------------------------------------------------------ ideal pendulum
def ideal_pendulum_rhs(settings):
    w2 = settings["omega0"] ** 2
    return lambda t, y: np.array([y[1], -w2 * np.sin(y[0])])


def ideal_pendulum_energy(states: torch.Tensor, settings: dict) -> torch.Tensor:
    """``H = θ'²/2 + ω₀² (1 − cos θ)``."""
    q, p = states[..., 0], states[..., 1]
    return p**2 / 2 + settings["omega0"] ** 2 * (1 - torch.cos(q))


def generate_ideal_pendulum(settings, seed, group):
    initial = _ring_initial(seed, group, 0.5, 1.5)  # energy < 2ω₀²: swinging, not rotating
    return _trajectories(settings, seed, group, ideal_pendulum_rhs(settings), initial)


register_dataset(
    DatasetSpec(
        name="ideal_pendulum",
        equation="θ'' + ω₀² sin θ = 0 (frictionless; H = θ'²/2 + ω₀²(1 − cos θ) conserved)",
        generate=generate_ideal_pendulum,
        state_shape=_vector(2),
        ndim=0,
        sizes=dict(n_train=16, n_test=16, duration=20.0, horizon=10.0, dt=0.25),
        params=dict(omega0=2 * math.pi / 6),
        solver=SOLVER + "; (θ, θ') on a circle of radius U[0.5, 1.5]",
        physics="frictionless_pendulum",
        true_physics="frictionless_pendulum",
        energy=ideal_pendulum_energy,
        positive_params=("omega0",),
    )
)

RHS = {
    "spiral": spiral_rhs,
    "pendulum": damped_pendulum_rhs,
    "lotka_volterra": lotka_volterra_rhs,
    "mass_spring": mass_spring_rhs,
    "ideal_pendulum": ideal_pendulum_rhs,
}
