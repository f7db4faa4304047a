"""Moment-constrained filters (PDE-Net) against exact moments and exact polynomial derivatives."""

from __future__ import annotations

import math

import pytest
import torch

import odenets
from odenets.dynamics.pdenet import (
    PDENetField,
    SymNet,
    burgers_data,
    burgers_solve,
    rollout_loss,
    train_pdenet,
)
from odenets.fields.moment import MomentConv2d, kernel_from_moments, moment_matrix

ORDERS = [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2), (3, 1)]


def random_filter(kernel_size, accuracy, dx=(0.1, 0.25), seed=0):
    torch.manual_seed(seed)
    bank = MomentConv2d(1, orders=ORDERS, kernel_size=kernel_size, dx=dx, accuracy=accuracy,
                        padding="zeros").double()  # fmt: skip
    with torch.no_grad():
        bank.free_moments.normal_(0, 0.3)
    return bank


@pytest.mark.parametrize("kernel_size", [5, 7])
def test_moment_matrix_of_constrained_filter_is_the_requested_derivative(kernel_size):
    bank = random_filter(kernel_size, accuracy=2)
    dx, dy = bank.dx
    for k, (p, r) in enumerate(bank.orders):
        moments = moment_matrix(bank.kernels[k] * dx**p * dy**r)
        i, j = torch.meshgrid(torch.arange(kernel_size), torch.arange(kernel_size), indexing="ij")
        fixed = (i + j) < p + r + 2
        target = ((i == p) & (j == r)).double()
        assert (moments - target)[fixed].abs().max() < 1e-13
        assert (moments - bank.moments[k]).abs().max() < 1e-12  # free ones as parametrised


def test_kernel_and_moments_are_inverse_and_frozen_filters_are_finite_differences():
    torch.manual_seed(0)
    kernel = torch.randn(5, 5, dtype=torch.float64)
    assert (kernel_from_moments(moment_matrix(kernel)) - kernel).abs().max() < 1e-12
    frozen = MomentConv2d(1, orders=[(1, 0), (0, 2)], kernel_size=5, learn_moments=False).double()
    central4 = torch.tensor([1 / 12, -2 / 3, 0, 2 / 3, -1 / 12], dtype=torch.float64)
    assert (frozen.kernels[0][2] - central4).abs().max() < 1e-14  # x along the width
    second4 = torch.tensor([-1 / 12, 4 / 3, -5 / 2, 4 / 3, -1 / 12], dtype=torch.float64)
    assert (frozen.kernels[1][:, 2] - second4).abs().max() < 1e-13
    assert frozen.kernels[0].abs().sum() - central4.abs().sum() < 1e-14  # zero off the row


def polynomial(x, y, degree, seed=0):
    """A random polynomial of total degree ``degree`` and its derivatives (by exact rules)."""
    gen = torch.Generator().manual_seed(seed)
    terms = [(a, b) for a in range(degree + 1) for b in range(degree + 1 - a)]
    coeffs = torch.randn(len(terms), generator=gen, dtype=torch.float64)

    def value(p, r):
        out = torch.zeros_like(x)
        for c, (a, b) in zip(coeffs, terms, strict=True):
            if a >= p and b >= r:
                fa = math.factorial(a) / math.factorial(a - p)
                fb = math.factorial(b) / math.factorial(b - r)
                out = out + c * fa * fb * x ** (a - p) * y ** (b - r)
        return out

    return value


@pytest.mark.parametrize("accuracy", [1, 2])
def test_filter_applied_to_polynomial_gives_the_exact_derivative(accuracy):
    """Exact on every polynomial of total degree < p + r + accuracy (interior points)."""
    bank = random_filter(5, accuracy)
    n = 16
    y, x = torch.meshgrid(torch.arange(n, dtype=torch.float64) * bank.dx[1] - 1.0,
                          torch.arange(n, dtype=torch.float64) * bank.dx[0] - 0.5,
                          indexing="ij")  # fmt: skip
    for k, (p, r) in enumerate(bank.orders):
        poly = polynomial(x, y, p + r + accuracy - 1, seed=k)
        got = bank.derivatives(poly(0, 0)[None, None])[0, 0, k, 2:-2, 2:-2]
        exact = poly(p, r)[2:-2, 2:-2]
        scale = 1 + exact.abs().max()
        assert (got - exact).abs().max() / scale < 1e-9, (p, r)


def test_free_moments_make_higher_degree_inexact():
    """Adversarial: one degree more than the constraint covers is not differentiated exactly."""
    bank = random_filter(5, accuracy=1)
    y, x = torch.meshgrid(torch.arange(16, dtype=torch.float64) * 0.25,
                          torch.arange(16, dtype=torch.float64) * 0.1, indexing="ij")  # fmt: skip
    got = bank.derivatives((x**2)[None, None])[0, 0, 1, 2:-2, 2:-2]  # ∂x of x² with free M[2, 0]
    assert (got - 2 * x[2:-2, 2:-2]).abs().max() > 1e-3


def test_moment_field_is_a_zoo_field_stepped_by_euler():
    """∂ₜu = ν(∂xx + ∂yy)u on a Fourier mode: one Euler step multiplies it by 1 − hνλ_h."""
    n, nu, h = 16, 0.125, 0.01  # ν exact in binary: the field's parameters start in float32
    coefficients = torch.tensor([[nu, nu]])
    field = MomentConv2d(1, orders=[(2, 0), (0, 2)], kernel_size=3, dx=2 * math.pi / n,
                         learn_moments=False, coefficients=coefficients).double()  # fmt: skip
    block = odenets.create_block("euler", field, h=h)
    dx = 2 * math.pi / n
    axis = torch.arange(n, dtype=torch.float64) * dx
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    u = torch.sin(2 * x + y)[None, None]
    out = block.output(block.step(block.init(u)))
    symbol = (4 * math.sin(dx) ** 2 + 4 * math.sin(dx / 2) ** 2) / dx**2  # 3-point stencil
    assert (out - (1 - h * nu * symbol) * u).abs().max() < 1e-14
    assert odenets.create_field("moment", 2, 2).coefficients.shape == (2, 5)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [(dict(orders=[(3, 0)], kernel_size=3), "cannot represent"),
     (dict(orders=[(0, 5)], kernel_size=5), "kernel_size ≥ 7"),
     (dict(orders=[(1, -1)]), "non-negative integers"),
     (dict(orders=[(1, 0), (1, 0)]), "distinct"),
     (dict(kernel_size=4), "odd"),
     (dict(accuracy=0), "accuracy"),
     (dict(padding="reflect"), "padding"),
     (dict(ndim=1), "ndim=2")],
)  # fmt: skip
def test_bad_filter_options_are_rejected(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        MomentConv2d(1, **kwargs)


def test_wrong_field_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\(batch, 2, H, W\)"):
        MomentConv2d(2)(torch.zeros(1, 1, 8, 8))


# ------------------------------------------------------------------------------ PDE-Net 2.0
def test_symnet_expansion_equals_the_network():
    torch.manual_seed(0)
    net = SymNet(4, hidden_layers=3, names=["a", "b", "c", "d"])
    x = torch.randn(50, 4, dtype=torch.float64)
    poly = net.polynomial(prune=0.0)
    value = sum(c * torch.prod(x ** torch.tensor(e), -1) for e, c in poly.items())
    assert (value - net(x)).abs().max() < 1e-12
    assert max(sum(e) for e in poly) <= 8  # degree ≤ 2^L


def test_symnet_reads_back_a_known_pde():
    """Weights set to F = −u·u_x + 0.05 u_xx: the expansion returns exactly those terms."""
    net = SymNet(3, hidden_layers=1, names=["u", "u_x", "u_xx"])
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
        net.layers[0].bias.zero_()
        net.out.weight.copy_(torch.tensor([[0, 0, 0.05, -1.0]], dtype=torch.float64))
        net.out.bias.zero_()
    terms = net.terms(1e-12)
    assert terms.keys() == {"u*u_x", "u_xx"}
    assert abs(terms["u*u_x"] + 1) < 1e-15 and abs(terms["u_xx"] - 0.05) < 1e-15


def test_burgers_reference_decays_a_small_mode_at_the_viscous_rate():
    n, eps, nu, t = 32, 1e-6, 0.05, 0.5
    x = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    u0 = torch.zeros(1, 2, n, n, dtype=torch.float64)
    u0[0, 0] = eps * torch.sin(x)[None, :]
    u = burgers_solve(u0, t, nu, 1e-2)
    exact = math.exp(-nu * t) * u0
    assert (u - exact).abs().max() < 1e-6 * eps + 1e-11 * eps  # O(ε²) nonlinear, O(h⁴) time


def test_tiny_pdenet_trains_and_its_loss_falls():
    torch.manual_seed(0)
    _, observed = burgers_data(2, 2, seed=0, size=16, zoom=1, start_time=0.0)
    field = PDENetField(2, dx=2 * math.pi / 16, max_order=1, kernel_size=3, hidden_layers=2)
    block = odenets.create_block("euler", field, h=0.01)
    before = rollout_loss(block, observed, 2, 0.01).item()
    train_pdenet(block, observed, 0.01, stages=(1, 2), iterations=10)
    assert rollout_loss(block, observed, 2, 0.01).item() < 0.5 * before
    assert set(field.identified(0.0)) == {"u_t", "v_t"}


def test_pdenet_bad_input():
    with pytest.raises(ValueError, match="cannot represent"):
        PDENetField(2, max_order=3, kernel_size=3)
    with pytest.raises(ValueError, match="one name per channel"):
        PDENetField(2, names=("u",))
    block = odenets.create_block("euler", PDENetField(2, max_order=1, kernel_size=3), h=0.01)
    with pytest.raises(ValueError, match="needs ≥ 4 frames"):
        train_pdenet(block, torch.zeros(1, 2, 2, 8, 8, dtype=torch.float64), 0.01, stages=(3,))


def test_free_moments_gradcheck_and_moment_penalty():
    coefficients = torch.tensor([[1.0, 0.5]])  # non-zero: the output depends on the filters
    bank = MomentConv2d(1, orders=[(1, 0), (0, 2)], kernel_size=5,
                        coefficients=coefficients).double()  # fmt: skip
    u = torch.rand(1, 1, 8, 8, dtype=torch.float64)

    def apply(free):
        return torch.func.functional_call(bank, {"free_moments": free}, (u,))

    free = (0.1 * torch.randn(2, 5, 5, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(apply, (free,))
    assert bank.moment_penalty() == 0  # frozen at the finite differences: nothing free is used
    with torch.no_grad():
        bank.free_moments.fill_(1.0)
    free_count = int((~bank.fixed_mask).sum())
    assert abs(bank.moment_penalty().item() - free_count * (1 - 0.005)) < 1e-12
