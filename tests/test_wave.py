"""APHYNITY's damped wave: the data against closed forms, the windows, the physical models."""

import math

import numpy as np
import pytest
import torch

from odenets.dynamics import build_dynamics_model, create_physics, load_dataset
from odenets.dynamics.ode_datasets import INT32_MAX
from odenets.dynamics.pde_datasets import (
    damped_wave_initial,
    grid_2d,
    solve_damped_wave,
)
from odenets.dynamics.physics import AdvectionDiffusion, check_fits

SMALL = dict(n_train=6, n_test=2, size=12)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("wave-cache")


def _mode(settings, mx, my):
    """A periodic Fourier mode ``cos(2π(mx x + my y)/L)`` and its angles ``κ dx`` per axis."""
    x, y = grid_2d(settings["size"], settings["length"])
    length = settings["length"]
    dx = length / settings["size"]
    mode = np.cos(2 * np.pi * (mx * x + my * y) / length)
    return mode, (2 * np.pi * mx * dx / length, 2 * np.pi * my * dx / length), dx


def _damped_cos(omega2, k, t):
    """``a'' + k a' + ω² a = 0``, ``a(0) = 1``, ``a'(0) = 0`` (underdamped) and ``a'``."""
    big = math.sqrt(omega2 - k**2 / 4)
    decay = np.exp(-k * t / 2)
    a = decay * (np.cos(big * t) + k / (2 * big) * np.sin(big * t))
    da = -decay * omega2 / big * np.sin(big * t)
    return a, da


def _settings(**extra):
    base = dict(c=330.0, k=50.0, size=16, length=64.0, boundary="periodic", dt=1e-3)
    return {**base, **extra}


def test_single_mode_matches_the_semi_discrete_closed_form():
    """A Fourier mode is an eigenvector of the periodic fourth-order Laplacian with symbol
    ``Σ_axes (−5/2 + 8/3 cos θ − 1/6 cos 2θ)/dx²``: the data is a damped cosine in time."""
    settings = _settings()
    mode, thetas, dx = _mode(settings, 1, 2)
    symbol = sum(-5 / 2 + 8 / 3 * math.cos(t) - 1 / 6 * math.cos(2 * t) for t in thetas)
    omega2 = -(settings["c"] ** 2) * symbol / dx**2
    times = 1e-3 * np.arange(40)
    states = solve_damped_wave(np.stack([mode, np.zeros_like(mode)]), times, settings)
    a, da = _damped_cos(omega2, settings["k"], times)
    np.testing.assert_allclose(states[:, 0], a[:, None, None] * mode, atol=1e-8)
    np.testing.assert_allclose(states[:, 1], da[:, None, None] * mode, atol=1e-8 * omega2**0.5)


def test_single_mode_converges_to_the_pde_at_fourth_order():
    """Against the continuous solution (``ω = c|κ|``) the error falls ~16× per halving of dx."""
    errors = []
    times = 1e-3 * np.arange(25)
    for size in (8, 16):
        settings = _settings(size=size)
        mode, _, _ = _mode(settings, 1, 1)
        kappa2 = 2 * (2 * np.pi / settings["length"]) ** 2
        a, _ = _damped_cos(settings["c"] ** 2 * kappa2, settings["k"], times)
        states = solve_damped_wave(np.stack([mode, np.zeros_like(mode)]), times, settings)
        errors.append(np.abs(states[:, 0] - a[:, None, None] * mode).max())
    assert 12 < errors[0] / errors[1] < 20, errors


def test_windows_cut_one_simulation_and_validation_is_disjoint(cache):
    data = load_dataset("wave", cache, n_val=3, **SMALL)
    n_times = data.train.shape[1]
    assert data.train.shape == (6, 25, 2, 12, 12) and data.val.shape == (3, 25, 2, 12, 12)
    assert data.test.shape == (2, 25, 2, 12, 12)
    # window i + 1 is window i one step later: one simulation (APHYNITY's train seed 2³¹ − 1)
    torch.testing.assert_close(data.train[1:, :-1], data.train[:-1, 1:], rtol=0, atol=0)
    y0 = damped_wave_initial(data.settings, INT32_MAX)
    np.testing.assert_allclose(data.train[0, 0].numpy(), y0)
    np.testing.assert_allclose(data.test[0, 0].numpy(), damped_wave_initial(data.settings, 0))
    # validation: a third simulation from its own initial state (seed 2³⁰), windows from t = 0
    torch.testing.assert_close(data.val[1:, :-1], data.val[:-1, 1:], rtol=0, atol=0)
    np.testing.assert_allclose(data.val[0, 0].numpy(), damped_wave_initial(data.settings, 2**30))
    plain = load_dataset("wave", cache, **SMALL)
    torch.testing.assert_close(plain.train, data.train, rtol=0, atol=0)
    assert plain.val is None and n_times == 25
    # APHYNITY's boundary: each ∂² is zero on the 2 cells next to its axis' edges, so the
    # Laplacian vanishes in the 2×2 corners and u stays put there (u_t(0) = 0)
    corner = data.train[..., 0, -2:, :2]
    torch.testing.assert_close(corner, data.train[:1, :1, 0, -2:, :2].expand_as(corner))
    assert float((data.train[..., 0, :2, 2:-2] - data.train[:1, :1, 0, :2, 2:-2]).abs().max()) > 0


@pytest.mark.parametrize("boundary", ["aphynity", "periodic"])
def test_torch_physics_with_true_parameters_reproduces_the_data(cache, boundary):
    data = load_dataset("wave", cache, boundary=boundary, **SMALL)
    model = build_dynamics_model("true_ode", data, method="dopri5", rtol=1e-11, atol=1e-11)
    model = model.double()
    with torch.no_grad():
        pred = model(data.train[:2, 0], data.train.shape[1])
    scale = float(data.train[:2].abs().amax(dim=(0, 1, 3, 4)).min())
    assert float((pred - data.train[:2]).abs().max()) < 1e-6 * max(scale, 1.0)


def test_incomplete_wave_model_lacks_the_damping(cache):
    """APHYNITY's incomplete model: ``(u_t, c²Δu)`` starting at c = 360; with the true c its
    residual against the complete model is exactly the damping ``(0, −k u_t)``."""
    data = load_dataset("wave", cache, **SMALL).to(torch.float64)
    incomplete = create_physics("wave", data)
    assert incomplete.estimates() == pytest.approx({"c": 360.0})
    fixed = create_physics("wave", data, init={"c": 330.0})
    full = create_physics("damped_wave", data, learn=False)
    y = data.train[:3, 0]
    with torch.no_grad():
        residual = full(y) - fixed(y)
    torch.testing.assert_close(residual[:, 0], torch.zeros_like(y[:, 0]))
    torch.testing.assert_close(residual[:, 1], -50.0 * y[:, 1])


def test_a_physical_model_that_does_not_fit_the_data_is_a_clear_error(cache):
    wave = load_dataset("wave", cache, **SMALL)
    with pytest.raises(ValueError, match="needs the dataset setting"):
        create_physics("fitzhugh_nagumo", wave, learn=False)  # right shape, another system
    with pytest.raises(ValueError, match="acts on a vector"):
        create_physics("damped_pendulum", wave)
    adv = load_dataset("advection_diffusion", cache, n_train=1, n_test=1, duration=0.02,
                       horizon=0.01, size=8)  # fmt: skip
    wrong_grid = AdvectionDiffusion.for_data({**adv.settings, "size": 16}, True, {})
    with pytest.raises(ValueError, match=r"does not fit dataset .* shape \(1, 8, 8\)"):
        check_fits(wrong_grid, "advection_diffusion", adv)
    with pytest.raises(ValueError, match="boundary must be one of"):
        load_dataset("wave", cache, boundary="reflecting", **SMALL)
    with pytest.raises(ValueError, match="n_val must be a non-negative integer"):
        load_dataset("wave", cache, n_val=-1, **SMALL)
