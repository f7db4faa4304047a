"""Neural ODE block: analytic solutions, adjoint = backprop, NFE counts, options, bad input."""

import math

import numpy as np
import pytest
import torch
from linear_field import DT, Linear
from scipy.linalg import expm
from torch import nn

import odenets
from odenets.blocks import AdaptiveBlock, NodeBlock, TimeDependentField


class TimeScaled(TimeDependentField):
    """``F(y, t) = c t y``: ``y(h) = y(0) exp(c h²/2)``."""

    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, y, t=0.0):
        return self.c * t * y


def spiral_matrix():
    return np.array([[-0.1, 2.0, 0.0], [-2.0, -0.1, 0.5], [0.0, -0.5, -0.3]])


@pytest.mark.parametrize("tol", [1e-4, 1e-7, 1e-10])
def test_linear_system_matches_expm_to_tolerance(tol):
    a, h = spiral_matrix(), 1.5
    block = NodeBlock(Linear(a), h=h, rtol=tol, atol=tol)
    y0 = torch.randn(4, 3, dtype=DT)
    with torch.no_grad():
        y1 = block(y0)
    exact = y0.numpy() @ expm(h * a).T
    error = np.abs(y1.numpy() - exact).max() / np.abs(exact).max()
    assert error <= 10 * tol
    assert block.nfe_forward > 6  # it adapted, not one step


@pytest.mark.parametrize("method,order", [("euler", 1), ("midpoint", 2), ("rk4", 4)])
def test_fixed_grid_methods_converge_at_their_order(method, order):
    a, h = spiral_matrix(), 1.0
    y0 = torch.randn(2, 3, dtype=DT)
    exact = y0.numpy() @ expm(h * a).T
    errors = []
    for n in (8, 16, 32):
        block = NodeBlock(Linear(a), h=h, method=method, options={"step_size": h / n})
        with torch.no_grad():
            errors.append(np.abs(block(y0).numpy() - exact).max())
        assert block.nfe_forward == n * {"euler": 1, "midpoint": 2, "rk4": 4}[method]
    slopes = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert block.order == order
    assert np.all(np.abs(slopes - order) < 0.25), slopes


def test_time_dependent_field_gets_time_within_step():
    block = NodeBlock(TimeScaled(0.8), h=0.7, rtol=1e-10, atol=1e-12)
    y0 = torch.randn(3, 2, dtype=DT)
    with torch.no_grad():
        y1 = block(y0)
    assert block.time_dependent
    assert torch.allclose(y1, y0 * math.exp(0.8 * 0.7**2 / 2), rtol=1e-8)


def test_adjoint_gradients_equal_backprop_gradients_and_nfe_counts():
    torch.manual_seed(0)
    field = odenets.create_field("residual", 3, 0, width=8, norm=None, act="tanh").to(DT)
    counter = Counted(field)
    y0 = torch.randn(5, 3, dtype=DT, requires_grad=True)
    target = torch.randn(5, 3, dtype=DT)
    grads = {}
    for adjoint in (False, True):
        block = NodeBlock(counter, h=1.0, rtol=1e-11, atol=1e-12, adjoint=adjoint)
        counter.calls = 0
        loss = (block(y0) - target).pow(2).sum()
        assert block.nfe_forward == counter.calls  # independent count
        counter.calls = 0
        params = [y0, *field.parameters()]
        grads[adjoint] = torch.autograd.grad(loss, params)
        assert block.nfe_backward == counter.calls
        assert (block.nfe_backward > 0) == adjoint  # direct backprop replays the graph
    for direct, adj in zip(grads[False], grads[True], strict=True):
        assert (direct - adj).norm() <= 1e-6 * direct.norm()


class Counted(nn.Module):
    def __init__(self, field):
        super().__init__()
        self.field = field
        self.calls = 0

    def forward(self, y):
        self.calls += 1
        return self.field(y)


def test_gradcheck_through_the_solver():
    torch.manual_seed(1)
    field = odenets.create_field("residual", 2, 0, width=3, norm=None, act="tanh").to(DT)
    block = NodeBlock(field, h=0.5, rtol=1e-8, atol=1e-10)
    names = tuple(dict(block.named_parameters()))

    def run(y, *tensors):
        return torch.func.functional_call(block, dict(zip(names, tensors, strict=True)), (y,))

    inputs = (torch.randn(2, 2, dtype=DT),) + tuple(p.detach().clone() for p in block.parameters())
    assert torch.autograd.gradcheck(run, tuple(t.requires_grad_(True) for t in inputs))


def test_augmented_state_appends_zero_channels_and_drops_them():
    torch.manual_seed(2)
    field = odenets.create_field("residual", 2 + 3, 1, width=4, norm=None, act="tanh").to(DT)
    block = NodeBlock(field, h=0.5, augment=3)
    y0 = torch.randn(2, 2, 7, dtype=DT)
    state = block.init(y0)
    assert state.shape == (2, 5, 7) and torch.equal(state[:, 2:], torch.zeros(2, 3, 7, dtype=DT))
    out = block(y0)
    assert out.shape == y0.shape
    # the augmented channels took part: the same dynamics without them differ
    with torch.no_grad():
        full = block.step(state)
    assert torch.equal(out, full[:, :2]) and full[:, 2:].abs().max() > 1e-3


def test_declared_order_and_stability_of_methods():
    dopri5 = NodeBlock(Linear(np.eye(2)), h=1.0).stability
    np.testing.assert_allclose(
        dopri5.numerator, [1, 1, 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 600], rtol=1e-12
    )
    assert NodeBlock.declared_stability() == dopri5
    rk4 = NodeBlock(Linear(np.eye(2)), h=1.0, method="rk4")
    assert rk4.order == 4
    z = np.array([-2.785, 2.8j, -1.0 + 1.0j])
    np.testing.assert_allclose(rk4.stability(z), 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24)
    assert NodeBlock(Linear(np.eye(2)), h=1.0, method="dopri8").order == 8
    assert issubclass(NodeBlock, AdaptiveBlock)


def test_adjoint_is_a_plain_switch():
    block = odenets.create_block("node", channels=2, ndim=0, h=0.3)
    assert block.adjoint is False
    block.adjoint = True
    y = torch.randn(3, 2, requires_grad=True)
    block(y).sum().backward()
    assert block.nfe_backward > 0 and y.grad is not None


# ------------------------------------------------------------------------------ bad input
def test_bad_options():
    field = Linear(np.eye(2))
    with pytest.raises(ValueError, match=r"Unknown ODE method 'dopri'; valid .*'dopri5'"):
        NodeBlock(field, h=1.0, method="dopri")
    for name in ("rtol", "atol"):
        with pytest.raises(ValueError, match=f"{name} must be finite and > 0, got 0"):
            NodeBlock(field, h=1.0, **{name: 0})
        with pytest.raises(ValueError, match=f"{name} must be finite and > 0, got -1e-06"):
            NodeBlock(field, h=1.0, **{name: -1e-6})
    with pytest.raises(ValueError, match=r"'rk4' does not accept option\(s\) \['first_step'\]"):
        NodeBlock(field, h=1.0, method="rk4", options={"first_step": 0.1})
    with pytest.raises(ValueError, match=r"options\['step_size'\] must be finite and > 0"):
        NodeBlock(field, h=1.0, method="rk4", options={"step_size": -0.1})
    with pytest.raises(ValueError, match="augment must be a positive integer, got -2"):
        NodeBlock(field, h=1.0, augment=-2)
    with pytest.raises(TypeError, match="adjoint must be True or False"):
        NodeBlock(field, h=1.0, adjoint="yes")
    with pytest.raises(ValueError, match="no single stability function"):
        _ = NodeBlock(field, h=1.0, method="implicit_adams").stability
