"""Depth refinement/coarsening and scheme swapping."""

import numpy as np
import pytest
import torch
import torchdiffeq

import odenets
from odenets import Stage, coarsen_model, coarsen_stage, refine_model, refine_stage, swap_scheme
from odenets.blocks import AdaptiveBlock, ReversibleBlock

DT = torch.float64
FIXED_STEP = [
    s for s in odenets.list_schemes() if not issubclass(odenets.get_scheme(s), AdaptiveBlock)
]


def smooth_stage(scheme, steps=2, shared=True, dim=4, horizon=1.0, seed=0, **scheme_kwargs):
    """A dense stage of smooth (tanh, no norm) fields in float64."""
    torch.manual_seed(seed)
    cls = odenets.get_scheme(scheme)
    field_kwargs = {"norm": None, "act": "tanh"}
    if cls.default_field == "residual":
        field_kwargs["width"] = 6
    stage = Stage.build(
        scheme, channels=dim, ndim=0, steps=steps, horizon=horizon, shared=shared,
        field_kwargs=field_kwargs, scheme_kwargs=scheme_kwargs or None,
    )  # fmt: skip
    return stage.to(DT)


def run(stage, y0):
    with torch.no_grad():
        return stage(y0)


# ---------------------------------------------------------------------------- refinement
def test_refine_interpolates_in_time_and_coarsen_inverts_it():
    stage = smooth_stage("rk4", steps=3, shared=False)
    fine = refine_stage(stage)
    assert fine.steps == 6 and len(fine.blocks) == 6 and fine.h == stage.h / 2
    assert fine.horizon == stage.horizon and all(b.h == stage.h / 2 for b in fine.blocks)
    old = [dict(b.named_parameters()) for b in stage.blocks]
    new = [dict(b.named_parameters()) for b in fine.blocks]
    for key in old[0]:
        for j in range(3):
            assert torch.equal(new[2 * j][key], old[j][key])  # t = j h: the old block
        for j in range(2):
            assert torch.allclose(new[2 * j + 1][key], (old[j][key] + old[j + 1][key]) / 2)
        assert torch.equal(new[5][key], old[2][key])  # past the last block: held
    back = coarsen_stage(fine)
    assert back.steps == 3 and back.h == stage.h
    for a, b in zip(stage.state_dict().values(), back.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    y0 = torch.randn(3, 4, dtype=DT)
    assert torch.equal(run(back, y0), run(stage, y0))


def test_refine_then_coarsen_model_returns_the_original_weights():
    model = odenets.create_model("hamiltonian_digits")
    twice = refine_model(refine_model(model))
    assert [s.steps for s in twice.stages] == [12, 12]
    back = coarsen_model(coarsen_model(twice))
    assert [s.steps for s in back.stages] == [3, 3]
    original = model.state_dict()
    assert back.state_dict().keys() == original.keys()
    for key, value in back.state_dict().items():
        assert torch.equal(value, original[key]), key
    assert all(p.grad is None for p in model.parameters())  # a copy: the model is untouched
    assert [s.steps for s in model.stages] == [3, 3]


def test_shared_weights_are_copied():
    stage = smooth_stage("euler", steps=4, shared=True)
    fine = refine_stage(stage)
    assert len(fine.blocks) == 1 and fine.steps == 8 and fine.blocks[0].h == 0.125
    for a, b in zip(stage.parameters(), fine.parameters(), strict=True):
        assert torch.equal(a, b) and a is not b


def _slopes(stage, y0, levels=4):
    outputs = []
    for _ in range(levels):
        outputs.append(run(stage, y0))
        stage = refine_stage(stage)
    diffs = [(a - b).norm().item() for a, b in zip(outputs[:-1], outputs[1:], strict=True)]
    return np.log2(np.array(diffs[:-1]) / np.array(diffs[1:])), outputs[-1]


@pytest.mark.parametrize("scheme", FIXED_STEP)
def test_refined_shared_stage_converges_at_the_scheme_order(scheme):
    """Self-convergence of repeated refinement: successive differences shrink as ``2^-p``."""
    kwargs = {"start": "taylor"} if scheme == "leapfrog" else {}
    stage = smooth_stage(scheme, steps=4, shared=True, **kwargs)
    order = stage.blocks[0].order
    channels = 4
    y0 = torch.randn(3, channels, dtype=DT) * 0.5
    slopes, _ = _slopes(stage, y0, levels=5 if order < 4 else 4)
    assert abs(slopes[-1] - order) < 0.3, (scheme, slopes)


@pytest.mark.parametrize("scheme", ["euler", "rk4", "imex"])
def test_refined_stage_converges_to_the_ode_solution(scheme):
    stage = smooth_stage(scheme, steps=4, shared=True, seed=3)
    block = stage.blocks[0]
    if scheme == "imex":
        with torch.no_grad():
            block.weight.mul_(2.0)  # a noticeable implicit part y' = F(y) − LᵀL y

    def rhs(t, y):
        out = block.field(y)
        if scheme == "imex":
            out = out - block.weight.pow(2) * y  # depthwise L on vectors: diagonal
        return out

    y0 = torch.randn(3, 4, dtype=DT)
    with torch.no_grad():
        exact = torchdiffeq.odeint(rhs, y0, torch.tensor([0.0, 1.0], dtype=DT), rtol=1e-12,
                                   atol=1e-12)[-1]  # fmt: skip
    errors = []
    for _ in range(4):
        errors.append((run(stage, y0) - exact).norm().item())
        stage = refine_stage(stage)
    slopes = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert abs(slopes[-1] - block.order) < 0.25, slopes
    assert errors[-1] < errors[0] / 2 ** (2 * block.order)


def test_per_step_weights_converge_at_first_order():
    """Frozen per-step weights: refinement converges to the ODE with the interpolated θ(t)
    at order 1 even for rk4 (each block holds θ constant over its step)."""
    stage = smooth_stage("rk4", steps=3, shared=False, seed=4)
    y0 = torch.randn(2, 4, dtype=DT)
    slopes, _ = _slopes(stage, y0, levels=5)
    assert abs(slopes[-1] - 1.0) < 0.2, slopes


# ----------------------------------------------------------------------------- swapping
def test_swap_euler_to_rk4_runs_the_same_fields_under_rk4():
    model = odenets.create_model("euler_vector").to(DT)
    swapped = swap_scheme(model, "rk4")
    assert swapped.scheme == "rk4" and type(swapped.stage.blocks[0]).__name__ == "RK4Block"
    manual = Stage(
        [odenets.create_block("rk4", b.fields, h=b.h) for b in model.stage.blocks],
        model.stage.horizon,
    )
    y0 = torch.randn(5, 2, dtype=DT)
    assert torch.equal(run(swapped, y0), run(manual, y0))
    assert not torch.equal(run(swapped, y0), run(model, y0))
    assert model.scheme == "euler"  # original untouched


def test_swap_steps_equals_refinement_and_node_euler_equals_euler():
    model = odenets.create_model("euler_vector").to(DT)
    y0 = torch.randn(5, 2, dtype=DT)
    assert torch.equal(run(swap_scheme(model, "euler", steps=8), y0), run(refine_model(model), y0))
    as_node = swap_scheme(model, "node", method="euler")  # one torchdiffeq Euler step per block
    assert torch.allclose(run(as_node, y0), run(model, y0), rtol=1e-14, atol=1e-14)


def test_swap_to_imex_adds_a_zero_operator_and_keeps_the_ode():
    model = odenets.create_model("parabolic_digits").eval()
    swapped = swap_scheme(model, "imex")
    assert all(torch.equal(b.weight, torch.zeros_like(b.weight)) for b in swapped.stages[0].blocks)
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(swapped(x), model(x), rtol=1e-5, atol=1e-5)


def test_swap_between_partitioned_and_history_schemes():
    ham = odenets.create_model("hamiltonian_vector").to(DT)
    rev = swap_scheme(ham, "revnet")
    assert issubclass(rev.stage.scheme, ReversibleBlock)
    y0 = torch.randn(3, 2, dtype=DT)
    assert torch.isfinite(run(rev, y0)).all()
    lm = odenets.create_model("lm_vector").to(DT)
    mid = swap_scheme(lm, "midpoint")
    assert torch.isfinite(run(mid, y0)).all()


# ----------------------------------------------------------------------------- bad input
def test_refining_an_adaptive_stage_is_refused():
    model = odenets.create_model("odenet_digits")
    with pytest.raises(ValueError, match="cannot refine a stage of the adaptive scheme 'node'"):
        refine_model(model)
    with pytest.raises(ValueError, match="cannot coarsen a stage of the adaptive scheme 'node'"):
        coarsen_stage(model.stages[0])


def test_coarsening_odd_steps_is_refused():
    with pytest.raises(ValueError, match="needs an even count; this stage has 3 steps"):
        coarsen_stage(smooth_stage("euler", steps=3))


def test_swap_errors_say_why():
    euler = odenets.create_model("euler_vector")
    with pytest.raises(ValueError, match=r"'euler' advances a state y but 'leapfrog' a state"):
        swap_scheme(euler, "leapfrog")
    with pytest.raises(ValueError, match="'euler' advances a state y but 'hamiltonian'"):
        swap_scheme(euler, "hamiltonian")
    with pytest.raises(ValueError, match="'midpoint' discretises dy/dt = F.* but 'leapfrog'"):
        swap_scheme(odenets.create_model("midpoint_vector"), "leapfrog")
    with pytest.raises(ValueError, match="'imex' discretises y' = F.y. − LᵀL y and 'rk4' has no"):
        swap_scheme(odenets.create_model("imex_vector"), "rk4")
    with pytest.raises(ValueError, match="time-dependent field F.y, t."):
        swap_scheme(odenets.create_model("odenet_digits"), "rk4")
    with pytest.raises(ValueError, match="augmented channels"):
        swap_scheme(odenets.create_model("anode_digits", time_dependent=False), "euler")
    with pytest.raises(ValueError, match="Unknown scheme 'rk5'"):
        swap_scheme(euler, "rk5")
    with pytest.raises(ValueError, match="has no odenets Stage"):
        refine_model(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("scheme", FIXED_STEP)
def test_swap_to_the_same_scheme_with_twice_the_steps_equals_refinement(scheme):
    """Every scheme's own parameters and options survive the swap (carried, not rebuilt)."""
    model = odenets.create_model(f"{scheme}_vector").to(DT)
    for block in model.stage.blocks:  # own parameters away from their initial values
        for name in block.carried_parameters:
            with torch.no_grad():
                block.get_parameter(name).add_(0.05)
    y0 = torch.randn(4, 2, dtype=DT)
    swapped = swap_scheme(model, scheme, steps=2 * model.stage.steps)
    assert torch.equal(run(swapped, y0), run(refine_model(model), y0))


def test_swap_carries_the_momentum_coefficient_unless_given():
    model = odenets.create_model("momentum_resnet_vector", scheme_kwargs={"gamma": 0.8}).to(DT)
    swapped = swap_scheme(model, "momentum_resnet", steps=8)
    assert {b.gamma for b in swapped.stage.blocks} == {0.8}
    assert swap_scheme(model, "momentum_resnet", gamma=0.3).stage.blocks[0].gamma == 0.3
