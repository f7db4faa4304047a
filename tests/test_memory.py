"""Memory policies: reversible backprop equals stored backprop, memory is O(1) in depth."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import odenets
from odenets import ODENet, Stage, VectorODENet, create_model, set_memory_policy
from odenets.blocks import AdaptiveBlock, Pair, ReversibleBlock, TwoFieldBlock
from odenets.memory import adaptive_schemes, reversible_schemes

# every registered reversible scheme, and leapfrog's Taylor start (its init uses the field)
REVERSIBLE = [(s, {}) for s in reversible_schemes()] + [("leapfrog", {"start": "taylor"})]


def _ids(case):
    scheme, kwargs = case
    return scheme + "".join(f"-{v}" for v in kwargs.values())


def _image_net(scheme, scheme_kwargs=None, steps=3, shared=False, **kw):
    torch.manual_seed(0)
    return ODENet(
        scheme,
        widths=(4, 6),
        steps=steps,
        horizon=1.0,
        in_chans=1,
        num_classes=3,
        scheme_kwargs=scheme_kwargs,
        shared=shared,
        **kw,
    )


def _train_step(model, policy, x):
    """One forward/backward in train mode; returns (input grad, param grads, buffers)."""
    model = set_memory_policy(copy.deepcopy(model), policy).train()
    x = x.clone().requires_grad_()
    model(x).square().sum().backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    return x.grad, grads, buffers


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def test_reversible_policy_is_offered_by_the_reversible_schemes():
    assert set(reversible_schemes()) >= {"hamiltonian", "midpoint", "leapfrog", "revnet"}
    for name in reversible_schemes():
        assert issubclass(odenets.get_scheme(name), ReversibleBlock)


@pytest.mark.parametrize("case", REVERSIBLE, ids=_ids)
@pytest.mark.parametrize("shared", [False, True], ids=["per-step", "shared"])
def test_reversible_gradients_equal_stored_gradients(case, shared):
    scheme, kwargs = case
    model = _image_net(scheme, kwargs, steps=5, shared=shared).double()
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    gx_store, g_store, buffers_store = _train_step(model, "store", x)
    gx_rev, g_rev, buffers_rev = _train_step(model, "reversible", x)
    assert _rel(g_rev, g_store) <= 1e-8  # two stages, with batch norm in every field
    assert _rel(gx_rev, gx_store) <= 1e-8
    # running statistics updated once per step, as with store (memcnn updated them twice)
    for name, value in buffers_store.items():
        torch.testing.assert_close(buffers_rev[name], value, rtol=0, atol=1e-12, msg=name)


@pytest.mark.parametrize("scheme", ["hamiltonian", "euler", "rk2", "leapfrog"])
def test_checkpoint_matches_store_and_updates_running_stats_once(scheme):
    model = _image_net(scheme, steps=3).double()
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    gx_store, g_store, buffers_store = _train_step(model, "store", x)
    gx_ckpt, g_ckpt, buffers_ckpt = _train_step(model, "checkpoint", x)
    assert _rel(g_ckpt, g_store) <= 1e-12
    assert _rel(gx_ckpt, gx_store) <= 1e-12
    for name, value in buffers_store.items():
        torch.testing.assert_close(buffers_ckpt[name], value, rtol=0, atol=1e-12, msg=name)


def test_running_stats_would_differ_if_recomputation_updated_them():
    # guards the running-stats checks above: a second update is visible in the buffers
    model = _image_net("hamiltonian", steps=2).double().train()
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    once = copy.deepcopy(model)
    once(x)
    twice = copy.deepcopy(model)
    twice(x)
    twice(x)
    assert not torch.allclose(
        once.stages[0].blocks[0].fields[0].norm.running_mean,
        twice.stages[0].blocks[0].fields[0].norm.running_mean,
    )


def test_reversible_gradients_equal_stored_gradients_for_a_dense_tanh_state():
    torch.manual_seed(1)
    model = VectorODENet("hamiltonian", dim=4, hidden=8, steps=12, horizon=3.0).double()
    y = torch.randn(7, 4, dtype=torch.float64)
    _, g_store, _ = _train_step(model, "store", y)
    _, g_rev, _ = _train_step(model, "reversible", y)
    assert _rel(g_rev, g_store) <= 1e-8


class _ScaledCoupling(TwoFieldBlock, ReversibleBlock):
    """A reversible block the fused paths do not know: ``Y⁺ = 2Y + hF(Z)``, ``Z⁺ = Z + hG(Y⁺)``."""

    name = "scaled_coupling_test"

    @classmethod
    def declared_stability(cls):
        return None

    def step(self, state):
        y = 2 * state.y + self.h * self.fields[0](state.z)
        return Pair(y, state.z + self.h * self.fields[1](y))

    def inverse(self, state):
        z = state.z - self.h * self.fields[1](state.y)
        return Pair((state.y - self.h * self.fields[0](z)) / 2, z)


def test_reversible_policy_uses_any_blocks_inverse():
    torch.manual_seed(2)
    blocks = [_ScaledCoupling((nn.Linear(3, 3), nn.Linear(3, 3)), h=0.5) for _ in range(4)]
    stage = Stage(blocks, horizon=2.0).double()
    y = torch.randn(5, 6, dtype=torch.float64)
    _, g_store, _ = _train_step(stage, "store", y)
    _, g_rev, _ = _train_step(stage, "reversible", y)
    assert _rel(g_rev, g_store) <= 1e-12


def _saved_bytes(model, x):
    """Bytes of the tensors autograd saves for backward during one forward (no parameters)."""
    params = {id(p) for p in model.parameters()}
    total = 0

    def pack(t):
        nonlocal total
        if id(t) not in params:
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return total


@pytest.mark.parametrize("scheme", ["hamiltonian", "midpoint", "leapfrog", "revnet"])
def test_saved_bytes_do_not_grow_with_steps_under_reversible(scheme):
    x = torch.randn(4, 1, 8, 8)
    saved = {}
    for policy in ("store", "reversible"):
        for steps in (4, 16):
            model = _image_net(scheme, steps=steps, memory=policy).train()
            saved[policy, steps] = _saved_bytes(model, x)
    assert saved["reversible", 16] == saved["reversible", 4]
    assert saved["store", 16] > 3 * saved["store", 4] / 2
    assert saved["reversible", 4] < saved["store", 4]


def test_reversible_policy_runs_and_matches_store_under_bfloat16_autocast():
    model = _image_net("hamiltonian", steps=4)
    x = torch.randn(8, 1, 8, 8)
    grads = {}
    for policy in ("store", "reversible"):
        m = set_memory_policy(copy.deepcopy(model), policy).train()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = m(x).float().square().sum()
        loss.backward()
        grads[policy] = torch.cat([p.grad.flatten() for p in m.parameters()])
    assert torch.isfinite(grads["reversible"]).all()
    assert _rel(grads["reversible"], grads["store"]) < 5e-2  # bfloat16: 8 mantissa bits


def test_reversible_forward_without_grad_equals_store():
    model = _image_net("midpoint", steps=4).eval()
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        out_store = model(x)
        out_rev = set_memory_policy(copy.deepcopy(model), "reversible")(x)
    torch.testing.assert_close(out_rev, out_store, rtol=0, atol=0)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("scheme", ["euler", "rk4", "lm"])
def test_reversible_policy_on_a_non_reversible_scheme_names_the_allowed_ones(scheme):
    pattern = rf"'reversible'.*{scheme!r} has none.*allow it:.*hamiltonian.*leapfrog.*midpoint"
    with pytest.raises(ValueError, match=pattern):
        _image_net(scheme, memory="reversible")
    with pytest.raises(ValueError, match=pattern):
        create_model(f"{scheme}_digits", memory="reversible")
    model = _image_net(scheme)
    with pytest.raises(ValueError, match=pattern):
        set_memory_policy(model, "reversible")
    assert all(stage.memory == "store" for stage in model.stages)


def test_set_memory_policy_rejects_unknown_policies_and_models_without_stages():
    with pytest.raises(ValueError, match=r"Unknown memory policy 'revers'; allowed: \['adjoint'"):
        set_memory_policy(_image_net("hamiltonian"), "revers")
    with pytest.raises(ValueError, match="has no odenets Stage"):
        set_memory_policy(nn.Linear(2, 2), "reversible")
    with pytest.raises(TypeError, match="needs a torch.nn.Module"):
        set_memory_policy("hamiltonian_digits", "reversible")


def test_reversible_policy_rejects_dropout_in_the_field():
    field = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1))
    stage = Stage([odenets.create_block("hamiltonian", field, h=0.1)], horizon=0.1)
    with pytest.raises(ValueError, match="dropout.*memory='checkpoint'"):
        stage.memory = "reversible"


def test_adjoint_policy_needs_an_adaptive_scheme():
    with pytest.raises(ValueError, match=r"'adjoint'.*'euler' is a fixed-step.*allow it: \['node'"):
        _image_net("euler", memory="adjoint")


# --------------------------------------------------------------------------------- adjoint
@pytest.mark.skipif("node" not in adaptive_schemes(), reason="Neural ODE block not registered")
def test_adjoint_policy_switches_node_to_odeint_adjoint_and_matches_store():
    torch.manual_seed(3)
    tight = {"rtol": 1e-6, "atol": 1e-8}  # the small variants' own 1e-3 is too loose to compare
    model = create_model("node_vector", steps=2, hidden=8, scheme_kwargs=tight).double()
    y = torch.randn(5, 2, dtype=torch.float64)
    _, g_store, _ = _train_step(model, "store", y)
    adjoint = set_memory_policy(copy.deepcopy(model), "adjoint")
    adjoint(y).square().sum().backward()
    g_adj = torch.cat([p.grad.flatten() for p in adjoint.parameters()])
    block = adjoint.stage.blocks[0]
    assert block.nfe_backward > 0  # the backward solved the adjoint ODE
    assert block.adjoint is False  # the block is left as configured
    assert _rel(g_adj, g_store) < 1e-4  # both solves at rtol 1e-6


class _RecordingAdaptive(AdaptiveBlock):
    """An adaptive block that records the ``adjoint`` argument of every solve."""

    name = "recording_adaptive_test"

    def __init__(self, field, h):
        super().__init__(field, h)
        self.seen = []

    def solve(self, y, *, adjoint):
        self.seen.append(adjoint)
        return y + self.h * self.field(y)


def test_adjoint_policy_passes_the_adjoint_as_an_argument_and_leaves_the_block_alone():
    block = _RecordingAdaptive(nn.Linear(2, 2), h=0.5)
    stage = Stage([block], horizon=1.0, steps=2, memory="adjoint")
    stage(torch.randn(3, 2))
    assert block.adjoint is False  # never switched, not even while integrating
    stage.memory = "store"
    stage(torch.randn(3, 2))
    block.adjoint = True  # a user's own setting is what the store policy uses
    stage(torch.randn(3, 2))
    assert block.seen == [True, True, False, False, True, True]
    assert block.adjoint is True


def test_reversible_policy_refuses_double_backward():
    model = create_model("hamiltonian_vector", memory="reversible").double()
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()


# ------------------------------------------------------- Momentum ResNet: the reference
def test_momentum_resnet_equals_the_momentumnet_reference():
    """Sander et al.'s package (``momentumnet``, ``h = 1``): our store and reversible
    policies give its backprop outputs and gradients to round-off. Its memory-free mode
    rounds ``γ`` to a fraction n/65536 and reads ``v`` back in float32 (its exact
    fixed-point ``v``), so it agrees only to ~1e-5."""
    from momentumnet import MomentumNet

    torch.manual_seed(4)
    gamma, steps, dim = 0.9, 6, 5
    fields = [
        nn.Sequential(nn.Linear(dim, 8), nn.Tanh(), nn.Linear(8, dim)).double()
        for _ in range(steps)
    ]
    blocks = [odenets.create_block("momentum_resnet", f, h=1.0, gamma=gamma) for f in fields]
    ours = Stage(blocks, horizon=float(steps))
    params = list(ours.parameters())
    x = torch.randn(7, dim, dtype=torch.float64)
    probe = torch.randn(7, dim, dtype=torch.float64)

    def outputs_and_grads(model):
        xr = x.clone().requires_grad_()
        out = model(xr)
        grads = torch.autograd.grad((out * probe).sum(), [xr, *params])
        return torch.cat([out.detach().flatten(), *(g.flatten() for g in grads)])

    reference = outputs_and_grads(MomentumNet(fields, gamma=gamma, use_backprop=True))
    for policy in ("store", "reversible"):
        ours.memory = policy
        assert _rel(outputs_and_grads(ours), reference) < 1e-13, policy
    memory_free = outputs_and_grads(MomentumNet(fields, gamma=gamma, use_backprop=False))
    assert 1e-8 < _rel(memory_free, reference) < 1e-4
