"""IMEX block: exact FFT solve against a dense solve, gradients, stiff stability, bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import odenets
from odenets.blocks import ImexBlock, ImplicitBlock
from odenets.stability import IMEXStability

DT = torch.float64


class Zero(nn.Module):
    def forward(self, y):
        return torch.zeros_like(y)


def make_block(channels=3, ndim=2, h=0.7, operator="depthwise", field=None, seed=0):
    torch.manual_seed(seed)
    if field is None:
        field = odenets.create_field("symmetric", channels, ndim, norm=None, act="tanh")
    return ImexBlock(field, h=h, operator=operator, channels=channels, ndim=ndim).to(DT)


def dense_periodic_conv(weight, spatial, operator):
    """The matrix of the periodic conv ``L`` built column by column from ``F.conv*`` with
    circular padding (independent of the FFT path)."""
    c = weight.shape[0]
    ndim = len(spatial)
    n = c * int(np.prod(spatial))
    r = weight.shape[-1] // 2
    conv = F.conv2d if ndim == 2 else F.conv1d
    groups = c if operator == "depthwise" else 1
    basis = torch.eye(n, dtype=DT).reshape(n, c, *spatial)
    out = conv(F.pad(basis, (r, r) * ndim, mode="circular"), weight, groups=groups)
    return out.reshape(n, n).t().numpy()  # column k = L e_k


@pytest.mark.parametrize(
    "operator,spatial",
    [("depthwise", (6, 5)), ("full", (5, 4)), ("depthwise", (7,)), ("full", (6,))],
)
def test_fft_solve_matches_dense_solve(operator, spatial):
    block = make_block(channels=3, ndim=len(spatial), h=0.9, operator=operator)
    with torch.no_grad():
        block.weight.mul_(3.0)  # a strongly coupled L
    rhs = torch.randn(2, 3, *spatial, dtype=DT)
    y = block.solve(rhs)
    matrix = dense_periodic_conv(block.weight.detach(), spatial, operator)
    system = np.eye(len(matrix)) + block.h * matrix.T @ matrix
    r = rhs.reshape(2, -1).numpy()
    residual = y.detach().reshape(2, -1).numpy() @ system.T - r
    assert np.linalg.norm(residual) / np.linalg.norm(r) <= 1e-12
    np.testing.assert_allclose(y.detach().reshape(2, -1).numpy().T, np.linalg.solve(system, r.T))


def test_operator_and_eigenvalues_match_dense_matrix():
    block = make_block(channels=2, ndim=2, operator="full")
    spatial = (4, 5)
    matrix = dense_periodic_conv(block.weight.detach(), spatial, "full")
    y = torch.randn(1, 2, *spatial, dtype=DT)
    np.testing.assert_allclose(
        block.apply_operator(y).detach().reshape(-1).numpy(), matrix @ y.reshape(-1).numpy()
    )
    expected = np.sort(np.linalg.eigvalsh(-matrix.T @ matrix))
    got = np.sort(block.implicit_eigenvalues(spatial).numpy())
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert (got <= 1e-14).all()


@pytest.mark.parametrize("operator", ["depthwise", "full"])
def test_dense_state_solve(operator):
    block = make_block(channels=4, ndim=0, operator=operator)
    rhs = torch.randn(3, 4, dtype=DT)
    y = block.solve(rhs)
    weight = block.weight.detach()
    matrix = torch.diag(weight) if operator == "depthwise" else weight
    system = torch.eye(4, dtype=DT) + block.h * matrix.t() @ matrix
    assert torch.allclose(y @ system.t(), rhs, atol=1e-13)
    eig = np.sort(block.implicit_eigenvalues().numpy())
    np.testing.assert_allclose(eig, np.sort(np.linalg.eigvalsh(-(matrix.t() @ matrix).numpy())))


@pytest.mark.parametrize(
    "operator,spatial", [("depthwise", (4, 3)), ("full", (3, 4)), ("full", (5,))]
)
def test_gradcheck(operator, spatial):
    block = make_block(channels=2, ndim=len(spatial), operator=operator)
    params = dict(block.named_parameters())  # L and the field's K, b
    names = tuple(params)

    def run(y, *tensors):
        return torch.func.functional_call(block, dict(zip(names, tensors, strict=True)), (y,))

    y = torch.randn(1, 2, *spatial, dtype=DT)
    inputs = (y,) + tuple(params[n].detach().clone() for n in names)
    # fast mode: random projections of the Jacobian, checked in float64 like the full mode
    assert torch.autograd.gradcheck(
        run, tuple(t.requires_grad_(True) for t in inputs), fast_mode=True
    )


def test_stiff_operator_stays_bounded_where_explicit_euler_blows_up():
    """``y' = −LᵀL y`` with ``h·max|L̂|² ≫ 2``: IMEX (implicit L) contracts, Euler explodes."""
    block = make_block(channels=2, ndim=2, h=1.0, field=Zero())
    with torch.no_grad():
        block.weight.copy_(5.0 * torch.tensor([[0.0, -1, 0], [-1, 4, -1], [0, -1, 0]]))
    spatial = (8, 8)
    stiffness = -block.implicit_eigenvalues(spatial).min().item()
    assert block.h * stiffness > 100  # far outside forward Euler's interval [−2, 0]
    y_imex = y_euler = torch.randn(1, 2, *spatial, dtype=DT)
    norm0 = y_imex.norm().item()
    for _ in range(20):
        with torch.no_grad():
            y_imex = block.step(y_imex)
        y_euler = y_euler - block.h * _adjoint_apply(block, block.apply_operator(y_euler))
    assert y_imex.norm().item() <= norm0
    assert y_euler.norm().item() > 1e20 * norm0


def test_step_is_imex_euler_on_the_split_system():
    block = make_block(channels=2, ndim=1, h=0.3)
    y = torch.randn(2, 2, 9, dtype=DT)
    y_next = block(y)
    lhs = y_next + block.h * _adjoint_apply(block, block.apply_operator(y_next))
    assert torch.allclose(lhs, y + block.h * block.field(y), atol=1e-13)


def _adjoint_apply(block, v):
    """``Lᵀ v`` through autograd (the transpose of the periodic conv)."""
    x = torch.zeros_like(v, requires_grad=True)
    (grad,) = torch.autograd.grad(block.apply_operator(x), x, v)
    return grad


def test_stability_declares_both_parts():
    block = make_block()
    assert isinstance(block, ImplicitBlock)
    stab = block.stability
    assert isinstance(stab, IMEXStability)
    assert stab.formula == "R = (1 + z_e)/(1 − z_i)"
    z_e, z_i = np.array([-0.5, -1.5, 0.2]), np.array([-3.0, 0.0, -100.0])
    np.testing.assert_allclose(stab(z_e, z_i), (1 + z_e) / (1 - z_i))
    np.testing.assert_allclose(stab.amplification(-2.5), 1.5)  # explicit part alone
    assert stab.amplification(-0.5, -1e6) < 1e-6  # unconditionally stable implicit part


# ------------------------------------------------------------------------------ bad input
def test_input_too_small_for_fft_layout():
    block = make_block(channels=3, ndim=2)
    with pytest.raises(ValueError, match=r"each of size >= 3; got spatial shape \(2, 5\)"):
        block(torch.randn(1, 3, 2, 5, dtype=DT))
    with pytest.raises(ValueError, match=r"expects states of shape \(B, C, N, N\) with C=3"):
        block(torch.randn(1, 4, 6, 6, dtype=DT))
    with pytest.raises(ValueError, match="expects states of shape"):
        block(torch.randn(1, 3, 6, dtype=DT))


def test_bad_options():
    field = odenets.create_field("symmetric", 2, 2)
    with pytest.raises(ValueError, match=r"Unknown IMEX operator 'dense'; allowed: \['depthwise'"):
        ImexBlock(field, h=0.1, operator="dense")
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ImexBlock(field, h=0.1, kernel_size=4)
    with pytest.raises(ValueError, match="cannot read the state layout.*pass channels= and ndim="):
        ImexBlock(Zero(), h=0.1)
    with pytest.raises(ValueError, match="step size h must be finite and > 0"):
        ImexBlock(field, h=0.0)
