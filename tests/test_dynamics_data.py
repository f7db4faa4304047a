"""Generated dynamics data against independent solutions (analytic, or a second solver)."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from odenets.dynamics import (
    build_dynamics_model,
    is_dynamics_dataset,
    list_datasets,
    load_dataset,
)
from odenets.dynamics.ode_datasets import RHS, aphynity_pendulum_initial
from odenets.dynamics.pde_datasets import (
    burgers_initial,
    reaction_diffusion_rhs,
    solve_advection_diffusion,
    solve_burgers,
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("dynamics-cache")


def test_registry_lists_the_issue_datasets():
    wanted = {"spiral", "pendulum", "lotka_volterra", "mass_spring", "ideal_pendulum"}
    wanted |= {"reaction_diffusion", "burgers", "advection_diffusion"}
    assert wanted <= set(list_datasets())
    assert is_dynamics_dataset("pendulum") and not is_dynamics_dataset("cifar10")


def test_mass_spring_matches_cos_sin(cache):
    data = load_dataset("mass_spring", cache, n_train=3, n_test=1, duration=6.0, horizon=3.0,
                        k=4.0, m=0.5)  # fmt: skip
    omega = math.sqrt(4.0 / 0.5)
    t = data.times.numpy()
    for traj in data.train.numpy():
        q0, p0 = traj[0]
        q = q0 * np.cos(omega * t) + p0 / (0.5 * omega) * np.sin(omega * t)
        p = -0.5 * omega * q0 * np.sin(omega * t) + p0 * np.cos(omega * t)
        np.testing.assert_allclose(traj, np.stack([q, p], -1), atol=1e-8)
    energy = data.energy(data.test)
    assert float((energy - energy[:, :1]).abs().max()) < 1e-8


def _plane_waves(x, y, t, waves, c, diffusion):
    """Exact solution of ∂ₜu + c·∇u = DΔu for a sum of plane waves (period 1)."""
    u = np.zeros_like(x)
    for amp, kx, ky, phase in waves:
        k2 = (2 * np.pi) ** 2 * (kx**2 + ky**2)
        arg = 2 * np.pi * (kx * (x - c[0] * t) + ky * (y - c[1] * t)) + phase
        u += amp * np.exp(-diffusion * k2 * t) * np.cos(arg)
    return u


@pytest.mark.parametrize(
    "c, diffusion",
    [((0.3, -0.7), 0.0), ((0.0, 0.0), 0.02), ((0.5, 0.25), 0.01)],
    ids=["linear-advection-exact-shift", "heat-mode-decay", "advection-diffusion"],
)
def test_advection_diffusion_matches_analytic(c, diffusion):
    size = 16
    coords = np.arange(size) / size
    x, y = np.meshgrid(coords, coords, indexing="xy")
    waves = [(1.0, 1, 0, 0.3), (0.5, 2, -3, 1.1), (0.25, -1, 2, 2.0)]
    times = np.linspace(0.0, 1.0, 6)
    settings = dict(U=0.0, cx=c[0], cy=c[1], D=diffusion, length=1.0)
    got = solve_advection_diffusion(_plane_waves(x, y, 0.0, waves, c, diffusion), times, settings)
    exact = np.stack([_plane_waves(x, y, t, waves, c, diffusion) for t in times])
    np.testing.assert_allclose(got, exact, atol=1e-8)


def test_burgers_matches_cole_hopf():
    """u = −2ν ∂ₓ log φ with φ the heat flow of exp(−∫u₀/2ν): exact for viscous Burgers."""
    nu, length, n = 0.1, 2 * np.pi, 128
    x = length * np.arange(n) / n
    u0 = burgers_initial(np.random.default_rng(3), x, length)
    times = np.array([0.0, 0.5, 1.0])
    got = solve_burgers(u0, times, nu, length)
    k = 2 * np.pi * np.fft.fftfreq(n, d=length / n)
    u0_hat = np.fft.fft(u0)
    primitive = np.real(np.fft.ifft(np.where(k == 0, 0, u0_hat / (1j * np.where(k == 0, 1, k)))))
    phi_hat = np.fft.fft(np.exp(-primitive / (2 * nu)))
    for t, u in zip(times, got, strict=True):
        decayed = phi_hat * np.exp(-nu * k**2 * t)
        phi, phi_x = np.real(np.fft.ifft(decayed)), np.real(np.fft.ifft(1j * k * decayed))
        np.testing.assert_allclose(u, -2 * nu * phi_x / phi, atol=1e-6)


@pytest.mark.parametrize("name", ["spiral", "pendulum", "lotka_volterra", "ideal_pendulum"])
def test_nonlinear_odes_agree_with_a_second_solver(cache, name):
    data = load_dataset(name, cache, n_train=1, n_test=1, duration=2.0, horizon=1.0, dt=0.25)
    rhs = RHS[name](data.settings)
    t = data.times.numpy()
    y0 = data.train[0, 0].numpy()
    radau = solve_ivp(rhs, (0, t[-1]), y0, method="Radau", t_eval=t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(data.train[0].numpy(), radau.y.T, atol=1e-7)


def test_reaction_diffusion_agrees_with_a_second_solver(cache):
    data = load_dataset("reaction_diffusion", cache, n_train=1, n_test=1, duration=0.6,
                        horizon=0.3, size=8)  # fmt: skip
    t = data.times.numpy()
    rhs = reaction_diffusion_rhs(data.settings)
    y0 = data.train[0, 0].numpy().ravel()
    ref = solve_ivp(rhs, (0, t[-1]), y0, method="LSODA", t_eval=t, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(data.train[0].numpy().reshape(len(t), -1), ref.y.T, atol=1e-6)


@pytest.mark.parametrize(
    "name, sizes",
    [
        ("pendulum", dict(n_train=3, n_test=1, duration=4.0, horizon=2.0)),
        ("reaction_diffusion", dict(n_train=1, n_test=1, duration=0.4, horizon=0.2, size=8)),
        ("advection_diffusion", dict(n_train=1, n_test=1, duration=0.2, horizon=0.1, size=8)),
    ],
)
def test_torch_physics_with_true_parameters_reproduces_the_data(cache, name, sizes):
    """The torch physical models (written apart from the numpy generators) fit the data."""
    data = load_dataset(name, cache, **sizes)
    model = build_dynamics_model("true_ode", data, method="dopri5", rtol=1e-11, atol=1e-11)
    model = model.double()
    with torch.no_grad():
        pred = model(data.train[:, 0], data.train.shape[1])
    assert float((pred - data.train).abs().max()) < 1e-6


def test_pendulum_initial_conditions_follow_aphynity(cache):
    data = load_dataset("pendulum", cache, n_train=2, n_test=1, duration=1.0, horizon=0.5)
    np.testing.assert_allclose(data.train[1, 0].numpy(), aphynity_pendulum_initial(1))
    rng = np.random.RandomState(1)  # APHYNITY: np.random.seed(index), then rand draws
    y0 = rng.rand(2) * 2.0 - 1
    radius = rng.rand() + 1.3
    np.testing.assert_allclose(data.train[1, 0].numpy(), y0 / np.linalg.norm(y0) * radius)
    norms = data.train[:, 0].norm(dim=-1)
    assert bool(((norms >= 1.3) & (norms < 2.3)).all())


def test_generation_is_deterministic_and_cached(cache):
    kw = dict(n_train=2, n_test=2, duration=2.0, horizon=1.0)
    first = load_dataset("lotka_volterra", cache, seed=5, **kw)
    assert first.path is not None and first.path.is_file()
    again = load_dataset("lotka_volterra", cache, seed=5, **kw)
    fresh = load_dataset("lotka_volterra", False, seed=5, **kw)
    other = load_dataset("lotka_volterra", cache, seed=6, **kw)
    assert torch.equal(first.train, again.train) and torch.equal(first.train, fresh.train)
    assert not torch.equal(first.train, other.train)
    assert not torch.equal(first.train, first.test)  # train and test draw different states
    assert first.train.shape == (2, 20, 2) and first.horizon_steps == 10


# ------------------------------------------------------------------------------ bad input
def test_unknown_dataset_lists_close_matches():
    with pytest.raises(ValueError, match="Unknown dynamics dataset 'pendulm'.*'pendulum'"):
        load_dataset("pendulm", False)


def test_horizon_longer_than_the_data_is_an_error():
    with pytest.raises(ValueError, match="longer than the generated data"):
        load_dataset("pendulum", False, duration=10.0, horizon=20.0)


def test_horizon_must_be_a_multiple_of_dt():
    with pytest.raises(ValueError, match="multiple of the time step"):
        load_dataset("pendulum", False, horizon=0.7)


def test_negative_diffusion_in_data_is_an_error():
    with pytest.raises(ValueError, match="D must be >= 0"):
        load_dataset("advection_diffusion", False, D=-0.1)


def test_unknown_data_setting_is_an_error():
    with pytest.raises(ValueError, match="has no setting 'omega'.*omega0"):
        load_dataset("pendulum", False, omega=1.0)
