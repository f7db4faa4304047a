"""The advection–diffusion warp against its closed form, its mass balance, the warping model."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from odenets.dynamics.baselines import ConvLSTMPredictor, UNetPredictor
from odenets.dynamics.tracer import TracerSettings, make_splits, simulate
from odenets.dynamics.warping import (
    PAPER_COEFFICIENTS,
    KnownFlowWarp,
    WarpingModel,
    flow_regularisers,
    horizon_mse,
    rollout,
    train_forecaster,
    warp,
)

N = 32


def grid(n=N):
    return torch.meshgrid(
        torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij"
    )


def constant(velocity, n=N, batch=1):
    w = torch.tensor(velocity, dtype=torch.float64)
    return w.view(1, 2, 1, 1).expand(batch, 2, n, n).clone()


@pytest.mark.parametrize("velocity", [(0.0, 0.0), (1.7, -0.6), (-3.25, 2.5)])
@pytest.mark.parametrize("modes", [(1, 0), (2, 3)])
def test_constant_velocity_is_shift_convolved_with_heat_kernel(velocity, modes):
    """cos(κ·x + φ) → e^{−DΔt|κ|²} cos(κ·(x − w) + φ): the exact solution of ∂ₜI + w·∇I = DΔI."""
    y, x = grid()
    kx, ky = (2 * math.pi * m / N for m in modes)
    image = torch.cos(kx * x + ky * y + 0.3)[None, None]
    diffusion = 1.125  # DΔt in pixels²: kernel σ = 1.5 px, aliasing e^{−39}
    out = warp(image, constant(velocity), diffusion, radius=12)
    wx, wy = velocity
    exact = math.exp(-diffusion * (kx**2 + ky**2)) * torch.cos(kx * (x - wx) + ky * (y - wy) + 0.3)
    assert (out[0, 0] - exact).abs().max() < 1e-13


def test_integer_shift_equals_roll_then_discrete_heat_kernel():
    """Any image: the warp by an integer shift is the rolled image circularly convolved with the
    normalised sampled Gaussian (computed independently by FFT)."""
    torch.manual_seed(0)
    image = torch.rand(2, 3, N, N, dtype=torch.float64)
    diffusion = 0.7
    out = warp(image, constant((3.0, -5.0), batch=2), diffusion, radius=12)
    y, x = grid()
    d2 = torch.minimum(x, N - x) ** 2 + torch.minimum(y, N - y) ** 2
    kernel = torch.exp(-d2 / (4 * diffusion))
    kernel = kernel / kernel.sum()
    rolled = torch.roll(image, shifts=(-5, 3), dims=(-2, -1))
    exact = torch.fft.ifft2(torch.fft.fft2(rolled) * torch.fft.fft2(kernel)).real
    assert (out - exact).abs().max() < 1e-13


def test_forward_warp_conserves_mass_for_any_velocity():
    torch.manual_seed(1)
    image = torch.rand(2, 3, N, N, dtype=torch.float64)
    velocity = 3 * torch.randn(2, 2, N, N, dtype=torch.float64)
    out = warp(image, velocity, 0.3, mode="forward")
    assert torch.allclose(out.sum((2, 3)), image.sum((2, 3)), rtol=1e-13, atol=0)
    assert out.min() >= 0  # a positive kernel keeps a positive tracer positive


def test_backward_warp_mass_exact_for_constant_velocity_and_not_for_a_compressive_one():
    """Adversarial case: the semi-Lagrangian (paper's) warp conserves mass only where ∇·w = 0."""
    torch.manual_seed(2)
    image = torch.rand(1, 1, N, N, dtype=torch.float64)
    out = warp(image, constant((0.4, 1.3)), 0.5)
    assert torch.allclose(out.sum(), image.sum(), rtol=1e-13, atol=0)
    _, x = grid()
    converging = torch.stack([2 * torch.sin(2 * math.pi * x / N), 0 * x])[None]
    lost = (warp(image, converging, 0.5).sum() - image.sum()).abs() / image.sum()
    assert lost > 1e-3


def test_warp_preserves_constants_and_is_differentiable_in_velocity():
    torch.manual_seed(3)
    ones = torch.ones(1, 1, 16, 16, dtype=torch.float64)
    velocity = torch.randn(1, 2, 16, 16, dtype=torch.float64)
    for boundary in ("periodic", "replicate"):
        out = warp(ones, velocity, 0.4, boundary=boundary)
        assert torch.allclose(out, ones, atol=1e-14)
    image = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    v = (0.5 * torch.randn(1, 2, 8, 8, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda w: warp(image, w, 0.3, boundary="replicate"), (v,))


def test_regularisers_vanish_and_detect():
    y, x = grid(16)
    solenoidal = torch.stack([torch.sin(2 * math.pi * y / 16), torch.sin(2 * math.pi * x / 16)])
    assert flow_regularisers(solenoidal[None])["divergence"] < 1e-28
    uniform = flow_regularisers(constant((1.0, 2.0), 16))
    assert uniform["smoothness"] < 1e-28 and abs(uniform["magnitude"] - 5.0) < 1e-12
    compressive = torch.stack([x / 16, y / 16])[None]
    assert abs(flow_regularisers(compressive)["divergence"] - (2 / 16) ** 2) < 1e-12


@pytest.mark.parametrize(
    "shape, fragment",
    [((1, 2, 16, 8), "(batch, 2, H, W)"), ((1, 3, 16, 16), "(batch, 2, H, W)"),
     ((2, 2, 16, 16), "(batch, 2, H, W)"), ((2, 16, 16), "(batch, 2, H, W)")],
)  # fmt: skip
def test_velocity_of_wrong_shape_is_rejected(shape, fragment):
    image = torch.zeros(1, 1, 16, 16)
    with pytest.raises(ValueError, match=r"velocity field must be \(batch, 2, H, W\)"):
        warp(image, torch.zeros(shape), 0.5)


def test_bad_warp_options_are_rejected():
    image, velocity = torch.zeros(1, 1, 8, 8), torch.zeros(1, 2, 8, 8)
    with pytest.raises(ValueError, match="diffusion"):
        warp(image, velocity, 0.0)
    with pytest.raises(ValueError, match="boundary"):
        warp(image, velocity, 0.5, boundary="wrap")
    with pytest.raises(ValueError, match="mode"):
        warp(image, velocity, 0.5, mode="sideways")
    with pytest.raises(ValueError, match="last 4 frames"):
        WarpingModel(frames=4)(torch.zeros(1, 3, 16, 16))


def test_rollout_shapes():
    model = WarpingModel(frames=4, diffusion=0.3, width=4, levels=2)
    preds, flows = rollout(model, torch.rand(2, 4, 16, 16), horizon=3)
    assert preds.shape == (2, 3, 16, 16) and flows.shape == (2, 3, 2, 16, 16)


# ---------------------------------------------------------------------------- tracer data
SMALL = TracerSettings(size=32, patch=16, window=4, stride=2, windows_per_patch=1, spinup=2)


@pytest.fixture(scope="module")
def small_tracer():
    return simulate(SMALL, batch=2, seed=0)


def test_tracer_flow_is_divergence_free_and_mean_is_conserved(small_tracer):
    frames, velocity, _ = small_tracer
    assert flow_regularisers(velocity[:, 0].double())["divergence"] < 1e-3  # FD of a smooth flow
    dx_u = torch.gradient(velocity[:, 0, 0], dim=-1)[0]
    assert dx_u.abs().max() > 1e-2  # the flow itself is not trivially uniform
    means = frames.mean((2, 3))
    assert (means - means[:, :1]).abs().max() < 1e-10  # spectral solver: k = 0 untouched


def test_true_displacement_warp_reproduces_the_reference_solver(small_tracer):
    """The data and the warp agree: with the exact characteristics the warp is ≥ 100× better
    than persistence away from the (replicated) edges."""
    frames, _, displacement = small_tracer
    pred = warp(frames[:, :1], displacement[:, 0], SMALL.diffusivity_pixels, radius=4)
    inner = (..., slice(4, -4), slice(4, -4))
    err = (pred - frames[:, 1:2])[inner].pow(2).mean()
    persistence = (frames[:, :1] - frames[:, 1:2])[inner].pow(2).mean()
    assert err < persistence / 100


def test_generate_windows_and_splits_shapes():
    train, valid, test = make_splits(SMALL, (1, 1, 1))
    assert train.frames.shape == (4, 4, 16, 16) and train.displacement.shape == (4, 3, 2, 16, 16)
    assert abs(train.frames.std().item() - 1) < 1e-5
    assert not torch.equal(train.frames, test.frames)


@pytest.mark.parametrize("name", ["warping", "unet", "convlstm"])
def test_tiny_models_train_and_their_loss_falls(name):
    torch.manual_seed(0)
    train, valid, _ = make_splits(replace(SMALL, window=5), (1, 1, 1))
    model = {
        "warping": lambda: WarpingModel(3, SMALL.diffusivity_pixels, width=4, levels=2),
        "unet": lambda: UNetPredictor(3, width=4, levels=2),
        "convlstm": lambda: ConvLSTMPredictor(3, hidden=4),
    }[name]()
    coefs = PAPER_COEFFICIENTS if name == "warping" else None
    before = horizon_mse(model, train.frames, 3, 2).mean()
    hist = train_forecaster(model, train.frames, inputs=3, horizon=2, steps=30, batch=4,
                            lr=3e-3, coefficients=coefs, valid=valid.frames, valid_horizon=2,
                            eval_every=10)  # fmt: skip
    assert horizon_mse(model, train.frames, 3, 2).mean() < 0.8 * before
    assert len(hist["valid"]) == 3


def test_known_flow_warp_needs_flows():
    with pytest.raises(ValueError, match="set_flows"):
        KnownFlowWarp(0.3)(torch.zeros(1, 4, 8, 8))
