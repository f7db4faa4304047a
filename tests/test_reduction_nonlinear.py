"""Autoencoders, the error estimator and the latent-dynamics ROM."""

import math

import pytest
import torch

from odenets.reduction.autoencoders import ConvAE, MaskedShallowAE, train_autoencoder
from odenets.reduction.estimate import (
    error_transport_estimate,
    residual_estimate,
    trajectory_errors,
)
from odenets.reduction.fom import BurgersFOM, LinearAdvectionFOM
from odenets.reduction.latent import LatentDynamicsROM, fit_latent_rom, latent_schemes
from odenets.reduction.pod import compute_pod
from odenets.reduction.roms import LinearTrial, ManifoldTrial, solve_rom
from odenets.registry import get_scheme, list_schemes


@pytest.mark.parametrize("latent", [1, 4])
def test_masked_decoder_jacobian_matches_autodiff_and_sparsity(latent):
    torch.manual_seed(0)
    ae = MaskedShallowAE(40, latent, bandwidth=6, shift=2).double()
    dec = ae.decoder
    z = torch.randn(latent, dtype=torch.float64)
    out, jac = dec.forward_with_jacobian(z)
    assert torch.allclose(out, dec(z), atol=1e-14)
    assert torch.allclose(jac, torch.func.jacfwd(dec)(z), atol=1e-13)
    assert dec(torch.zeros(latent, dtype=torch.float64)).abs().max() == 0  # d(0) = 0, no biases
    # output i depends only on hidden units i·shift … i·shift + bandwidth − 1
    hidden = torch.zeros(dec.first.out_features, dtype=torch.float64, requires_grad=True)
    y = (torch.nn.functional.silu(hidden).unfold(-1, 6, 2) * dec.band).sum(-1)
    (g,) = torch.autograd.grad(y[7], hidden, torch.tensor(1.0, dtype=torch.float64))
    assert set(torch.nonzero(g).flatten().tolist()) <= set(range(14, 20))


def test_conv_autoencoder_trial_and_training_reduce_the_error():
    torch.manual_seed(0)
    x = torch.arange(32) / 32
    snaps = torch.stack([torch.sin(2 * math.pi * (x - s)) for s in torch.linspace(0, 1, 40)])
    ae = ConvAE(32, 2)
    before = float(torch.nn.functional.mse_loss(ae(snaps.float()), snaps.float()))
    rec = train_autoencoder(ae, snaps, epochs=15)
    assert rec.best_validation_mse < 0.5 * before
    trial = ManifoldTrial(ae.decoder, torch.ones(32, dtype=torch.float64), torch.zeros(2))
    u, jac = trial.decode_with_jacobian(torch.zeros(2, dtype=torch.float64))
    assert jac.shape == (32, 2) and torch.allclose(u, torch.ones(32, dtype=torch.float64))


def test_estimator_bounds_the_error_on_linear_advection():
    fom = LinearAdvectionFOM(speed=1.0, n_dofs=80, t_final=0.5, n_steps=40)
    u0 = torch.exp(-((fom.x - 0.3) ** 2) / 0.005)
    traj = fom.solve(u0)
    pod = compute_pod(traj[1:] - traj[0])
    for p in (2, 6):
        sol = solve_rom(fom, LinearTrial(pod.basis(p), traj[0]), "lspg", tol=1e-10, max_iter=5)
        err = trajectory_errors(traj, sol.states)
        known = residual_estimate(fom, sol.states, stability=fom.stability_constant())
        computed = residual_estimate(fom, sol.states)
        assert torch.allclose(known.estimate, computed.estimate)  # Varah's bound is 1 here
        eff = known.effectivity(err)[1:]
        assert float(eff.min()) >= 1 - 1e-10  # reliable at every step
        # one step from the exact state: Δ₁ = ‖ρ₁‖ ≤ ‖A‖ ‖e₁‖, effectivity ≤ ‖A‖ = 1 + 2c
        assert float(eff[0]) <= 1 + 2 * fom.c * fom.speed + 1e-10
        assert err[-1] > 1e-6  # a real error, not round-off
        # linearised error transport is exact for a linear FOM
        transported = error_transport_estimate(fom, sol.states)
        assert torch.allclose(transported, traj - sol.states, atol=1e-10 * float(err.max()))


def test_estimator_rejects_a_mismatched_grid():
    fom = BurgersFOM(n_dofs=30, n_steps=4)
    with pytest.raises(ValueError, match="match the FOM grid"):
        residual_estimate(fom, torch.ones(5, 31, dtype=torch.float64))
    with pytest.raises(ValueError, match="norm must be"):
        residual_estimate(fom, torch.ones(5, 30, dtype=torch.float64), norm="fro")


@pytest.mark.parametrize("scheme", list_schemes())
def test_latent_rom_accepts_exactly_the_first_order_one_field_schemes(scheme):
    cls = get_scheme(scheme)
    if scheme in latent_schemes():
        rom = LatentDynamicsROM(3, 1, 0.05, scheme=scheme)
        out = rom.rollout(torch.randn(2, 3), torch.ones(2, 1), 4)
        assert out.shape == (2, 5, 3) and bool(torch.isfinite(out).all())
        assert cls.num_fields == 1
    else:
        with pytest.raises(ValueError, match="one-field first-order scheme"):
            LatentDynamicsROM(3, 1, 0.05, scheme=scheme)


def test_latent_rom_learns_a_parametric_linear_ode():
    torch.manual_seed(0)
    t = torch.arange(31) * 0.05
    mus = torch.tensor([[0.5], [1.0], [1.5]])
    z0 = torch.tensor([1.0, -0.5])
    traj = torch.stack([z0 * torch.exp(-m * t)[:, None] for m in mus[:, 0]])
    rom = LatentDynamicsROM(2, 1, 0.05)  # default scheme
    fit_latent_rom(rom, traj, mus, horizon=6, iterations=200, lr=1e-2, batch=16)
    with torch.no_grad():
        seen = rom.rollout(z0[None], torch.tensor([[1.0]]), 30)[0]
        unseen = rom.rollout(z0[None], torch.tensor([[0.75]]), 30)[0]
    assert float((seen - traj[1]).abs().max()) < 0.05
    assert float((unseen - z0 * torch.exp(-0.75 * t)[:, None]).abs().max()) < 0.1
    untrained = LatentDynamicsROM(2, 1, 0.05).rollout(z0[None], torch.tensor([[1.0]]), 30)[0]
    assert float((untrained - traj[1]).abs().max()) > 0.5  # the fit, not the setup, does it


def test_latent_and_autoencoder_bad_inputs():
    with pytest.raises(ValueError, match="latent size 50 exceeds"):
        MaskedShallowAE(40, 50)
    rom = LatentDynamicsROM(2, 1, 0.1, scheme="euler")
    bad = torch.ones(2, 10, 2)
    bad[0, 3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fit_latent_rom(rom, bad, torch.ones(2, 1))
    with pytest.raises(ValueError, match="latent trajectories must be"):
        fit_latent_rom(rom, torch.ones(2, 10, 3), torch.ones(2, 1))
    with pytest.raises(ValueError, match="NaN/inf"):
        train_autoencoder(ConvAE(32, 2), torch.full((10, 32), float("nan")), epochs=1)
