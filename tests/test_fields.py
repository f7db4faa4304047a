"""Vector fields: shapes over the live field registry, adjoints, and the Jacobian structure
that the schemes' stability rests on (symmetric NSD for −Kᵀσ(Ky+b), skew for W − Wᵀ)."""

from __future__ import annotations

import pytest
import torch
from torch.func import jacrev

import odenets
from odenets.fields._ops import apply_op, apply_op_transpose, new_operator_weight

DT = torch.float64
SIZES = {0: (), 1: (6,), 2: (4, 3)}


def state(channels: int, ndim: int, batch: int = 1) -> torch.Tensor:
    return torch.randn((batch, channels) + SIZES[ndim], dtype=DT)


def jacobian(fn, y: torch.Tensor) -> torch.Tensor:
    """Dense Jacobian of ``fn`` at a single state ``y`` (batch 1), as an n×n matrix."""
    n = y.numel()
    return jacrev(lambda v: fn(v.reshape(y.shape)).reshape(-1))(y.reshape(-1)).reshape(n, n)


@pytest.mark.parametrize("ndim", [0, 1, 2])
@pytest.mark.parametrize("name", odenets.list_fields())
def test_every_registered_field_preserves_the_state_shape(name, ndim):
    try:
        field = odenets.create_field(name, 4, ndim).double()
    except ValueError as err:
        pytest.skip(f"field {name!r} does not support ndim={ndim}: {err}")
    y = state(4, ndim, batch=3).requires_grad_(True)
    out = field(y)
    assert out.shape == y.shape and torch.isfinite(out).all()
    out.square().sum().backward()
    assert y.grad is not None and all(p.grad is not None for p in field.parameters())


@pytest.mark.parametrize("ndim", [0, 1, 2])
def test_transpose_operator_is_the_adjoint(ndim):
    """``⟨K y, x⟩ = ⟨y, Kᵀ x⟩`` for conv (zero padding) and dense operators, C_in ≠ C_out."""
    torch.manual_seed(0)
    weight = new_operator_weight(5, 3, ndim, 1 if ndim == 0 else 3).to(DT)
    y, x = state(3, ndim, batch=2), state(5, ndim, batch=2)
    lhs = (apply_op(weight, y, ndim) * x).sum()
    rhs = (y * apply_op_transpose(weight, x, ndim)).sum()
    torch.testing.assert_close(lhs, rhs, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("ndim", [0, 1, 2])
def test_symmetric_layer_jacobian_is_minus_kt_d_k(ndim, act):
    """``J = −Kᵀ diag(σ′(Ky + b)) K``: symmetric negative semi-definite (R&H 2018)."""
    torch.manual_seed(1)
    field = odenets.create_field("symmetric", 3, ndim, norm=None, act=act).double()
    with torch.no_grad():
        field.bias.normal_()
    y = state(3, ndim)
    jac = jacobian(field, y)
    k = jacobian(lambda v: apply_op(field.weight, v, ndim), y)  # the dense matrix of K
    pre = apply_op(field.weight, y, ndim) + field.bias
    slope = (pre > 0).to(DT) if act == "relu" else 1 - torch.tanh(pre) ** 2
    expected = -k.t() @ torch.diag(slope.reshape(-1)) @ k
    torch.testing.assert_close(jac, expected, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(jac, jac.t(), atol=1e-12, rtol=0)
    assert torch.linalg.eigvalsh(jac).max() <= 1e-12


def test_symmetric_layer_sign_and_bias_options():
    torch.manual_seed(2)
    minus = odenets.create_field("symmetric", 4, 2, norm=None).double()
    plus = odenets.create_field("symmetric", 4, 2, norm=None, sign=1).double()
    plus.load_state_dict(minus.state_dict())
    y = state(4, 2, batch=2)
    torch.testing.assert_close(plus(y), -minus(y))
    no_bias = odenets.create_field("symmetric", 4, 2, norm="batch", bias=False)
    assert no_bias.bias is None and "bias" not in dict(no_bias.named_parameters())
    # with a zero b, the layer with bias computes the same function
    with_bias = odenets.create_field("symmetric", 4, 2, norm="batch")
    with_bias.load_state_dict({**no_bias.state_dict(), "bias": torch.zeros(4, 1, 1)})
    y = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(with_bias(y), no_bias(y))


@pytest.mark.parametrize("gamma", [0.0, 0.3])
@pytest.mark.parametrize("ndim", [0, 1, 2])
def test_antisymmetric_operator_is_skew_minus_gamma(ndim, gamma):
    """``S = W − Wᵀ − γI``: ``S + Sᵀ = −2γI``; for γ = 0 its spectrum is imaginary."""
    torch.manual_seed(3)
    field = odenets.create_field("antisymmetric", 3, ndim, gamma=gamma).double()
    y = state(3, ndim)
    s = jacobian(field.skew, y)
    n = s.shape[0]
    torch.testing.assert_close(s + s.t(), -2 * gamma * torch.eye(n, dtype=DT), atol=1e-12, rtol=0)
    eigenvalues = torch.linalg.eigvals(s)
    torch.testing.assert_close(
        eigenvalues.real, torch.full((n,), -gamma, dtype=DT), atol=1e-10, rtol=0
    )
    # the layer is σ(S y + b)
    with torch.no_grad():
        torch.testing.assert_close(field(y), torch.tanh(field.skew(y) + field.bias))


@pytest.mark.parametrize("ndim", [0, 1, 2])
def test_residual_branch_is_conv_norm_act_conv(ndim):
    torch.manual_seed(4)
    field = odenets.create_field("residual", 4, ndim, width=6).double().eval()
    y = state(4, ndim, batch=2)
    expected = field.conv2(torch.relu(field.norm(field.conv1(y))))
    torch.testing.assert_close(field(y), expected)
    width = field.conv1.out_features if ndim == 0 else field.conv1.out_channels
    assert width == 6
    assert field.conv1.bias is None, "a bias before batch norm is redundant"


def test_euler_on_the_residual_branch_is_a_resnet_block():
    """``y + h F(y)`` with h = 1 is He et al.'s identity-shortcut block (no final ReLU)."""
    torch.manual_seed(5)
    block = odenets.create_block("euler", channels=4, ndim=2, h=1.0).double().eval()
    f = block.field
    y = state(4, 2, batch=2)
    torch.testing.assert_close(block(y), y + f.conv2(torch.relu(f.norm(f.conv1(y)))))
