"""Models over the live registry (incl. timm), the papers' layouts, stages, the regulariser."""

from __future__ import annotations

import pytest
import timm
import torch

import odenets
from odenets import ODENet, Stage, VectorODENet
from odenets.blocks import AdaptiveBlock, History
from odenets.models.paper import LAYOUTS, PUBLISHED_PARAMS

MODELS = odenets.list_models()


def _has_adaptive_block(name: str) -> bool:
    model = odenets.create_model(name)
    return any(isinstance(m, AdaptiveBlock) for m in model.modules())


# Slow tier (CI runs it): the papers' full-size layouts, and image/signal models integrated
# by an adaptive solver. The fast tier still builds each of them (timm test, counts).
SLOW = set(LAYOUTS) | {
    n for n in MODELS if n not in LAYOUTS and not n.endswith("_vector") and _has_adaptive_block(n)
}
TIERED = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in MODELS]


def example_input(model, batch: int = 2) -> torch.Tensor:
    """A small input the model accepts: images 12×12, signals of length 16, vector states."""
    if isinstance(model, VectorODENet):
        return torch.randn(batch, model.dim)
    in_chans, ndim = getattr(model, "in_chans", None), getattr(model, "ndim", None)
    if in_chans is None or ndim not in (1, 2):
        pytest.fail(f"{type(model).__name__}: teach example_input() the input of this model")
    size = 12 if ndim == 2 else 16  # 12: three 2× poolings still leave ≥ 1 pixel
    return torch.randn((batch, in_chans) + (size,) * ndim)


def expected_output_shape(model, batch: int) -> tuple[int, ...]:
    if isinstance(model, VectorODENet) and not model.num_classes:
        return (batch, model.dim)
    return (batch, model.num_classes)


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", TIERED)
def test_forward_backward_every_registered_model(name):
    torch.manual_seed(0)
    model = odenets.create_model(name)
    x = example_input(model)
    out = model(x)
    assert out.shape == expected_output_shape(model, x.shape[0])
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without a gradient: {missing}"
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad}"


def _build_with_seed(create, name):
    torch.manual_seed(0)
    return create(name).eval()


@pytest.mark.parametrize("name", MODELS)
def test_timm_create_model_builds_the_same_module(name):
    ours = _build_with_seed(odenets.create_model, name)
    theirs = _build_with_seed(timm.create_model, name)
    assert type(ours) is type(theirs)
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert a[key].shape == b[key].shape, key
        assert torch.equal(a[key], b[key]), f"same seed, different initial {key}"


@pytest.mark.parametrize("name", TIERED)
def test_timm_create_model_gives_the_same_outputs(name):
    ours = _build_with_seed(odenets.create_model, name)
    theirs = _build_with_seed(timm.create_model, name)
    x = example_input(ours)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=0, rtol=0)


# --------------------------------------------------------------------- the papers' layouts
@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_ruthotto_haber_layouts_have_the_published_parameter_counts(name):
    assert count(odenets.create_model(name)) == PUBLISHED_PARAMS[name]


# Weights per step of width C, counted by hand from the layers (K without bias + affine norm
# for the symmetric layers; conv–BN–ReLU–conv(+bias) residual branches; full W + bias for the
# antisymmetric layer; LM's k; two fields on C/2 channels for the partitioned schemes).
PER_STEP = {
    "parabolic": lambda c: 9 * c * c + 2 * c,
    "leapfrog": lambda c: 9 * c * c + 2 * c,
    "hamiltonian": lambda c: 2 * (9 * (c // 2) ** 2 + 2 * (c // 2)),
    "midpoint": lambda c: 9 * c * c + c,
    "euler": lambda c: 18 * c * c + 3 * c,
    "lm": lambda c: 18 * c * c + 3 * c + 1,
    "revnet": lambda c: 2 * (18 * (c // 2) ** 2 + 3 * (c // 2)),
}
# (scheme, stage widths, steps per stage) from the papers (see odenets/models/paper.py)
PAPER_FACTS = {
    "chang_hamiltonian74": ("hamiltonian", (32, 64, 112), 6),
    "chang_hamiltonian218": ("hamiltonian", (32, 64, 128), 18),
    "chang_midpoint62": ("midpoint", (32, 64, 112), 10),
    "chang_midpoint182": ("midpoint", (32, 64, 128), 30),
    "chang_leapfrog62": ("leapfrog", (32, 64, 112), 10),
    "chang_leapfrog182": ("leapfrog", (32, 64, 128), 30),
    "resnet32_euler": ("euler", (16, 32, 64), 5),
    "lm_resnet20": ("lm", (16, 32, 64), 3),
    "lm_resnet32": ("lm", (16, 32, 64), 5),
    "lm_resnet56": ("lm", (16, 32, 64), 9),
    "revnet38": ("revnet", (32, 64, 112), 3),
}


def hand_count(scheme, widths, steps, num_classes=10, in_chans=3):
    opening = 9 * in_chans * widths[0] + 2 * widths[0]
    stages = steps * sum(PER_STEP[scheme](c) for c in widths)
    connectives = sum(a * b + 2 * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    return opening + stages + connectives + widths[-1] * num_classes + num_classes


def test_every_paper_layout_has_a_hand_checked_count():
    assert set(LAYOUTS) == set(PAPER_FACTS) | set(PUBLISHED_PARAMS)


@pytest.mark.parametrize("name", sorted(PAPER_FACTS))
def test_paper_layout_parameter_count_by_hand(name):
    model = odenets.create_model(name)
    scheme, widths, steps = PAPER_FACTS[name]
    assert model.scheme == scheme
    assert [s.steps for s in model.stages] == [steps] * len(widths)
    assert all(len(s.blocks) == steps for s in model.stages), "per-step weights"
    assert all(s.h == 1.0 for s in model.stages)
    assert count(model) == hand_count(scheme, widths, steps)


def test_ruthotto_haber_stage_part_is_nine_c_squared_per_step():
    """Parabolic − Hamiltonian = 3 steps · 4.5 C² summed over the stage widths (R&H Table 1)."""
    for data, widths in (("cifar10", (32, 64, 112)), ("stl10", (16, 32, 64, 128))):
        parabolic = count(odenets.create_model(f"rh_parabolic_{data}"))
        hamiltonian = count(odenets.create_model(f"rh_hamiltonian_{data}"))
        assert parabolic - hamiltonian == 3 * 9 * sum(c * c for c in widths) // 2


def test_resnet32_euler_depth():
    """Depth 32 = opening + 2 convs per Euler step (3 stages × 5) + classifier."""
    model = odenets.create_model("resnet32_euler")
    assert 1 + 2 * sum(s.steps for s in model.stages) + 1 == 32


def test_overrides_reach_the_layout():
    model = odenets.create_model("rh_hamiltonian_cifar10", steps=6, horizon=3.0, num_classes=7)
    assert [s.steps for s in model.stages] == [6, 6, 6]
    assert all(abs(s.h - 0.5) < 1e-15 for s in model.stages)
    assert model.fc.out_features == 7


def test_head_width_adds_a_last_connective():
    plain = ODENet("euler", widths=(8, 16), steps=1, num_classes=3)
    headed = ODENet("euler", widths=(8, 16), steps=1, num_classes=3, head_width=24)
    assert headed.num_features == 24 and headed.fc.in_features == 24
    # 1×1 conv 16→24 (no bias) + BN (2·24) and the classifier grows by 8·3 weights
    assert count(headed) - count(plain) == 16 * 24 + 2 * 24 + 8 * 3
    assert headed(torch.randn(2, 3, 8, 8)).shape == (2, 3)


# -------------------------------------------------------------------------------- stages
def test_stage_step_is_horizon_over_steps_and_shared_weights():
    per_step = Stage.build("rk4", channels=4, ndim=0, steps=5, horizon=2.0)
    shared = Stage.build("rk4", channels=4, ndim=0, steps=5, horizon=2.0, shared=True)
    assert per_step.h == shared.h == 0.4
    assert all(b.h == 0.4 for b in per_step.blocks) and len(per_step.blocks) == 5
    assert len(shared.blocks) == 1 and shared.shared
    assert [id(shared.block_at(j)) for j in range(5)] == [id(shared.blocks[0])] * 5


def test_histories_start_as_in_the_papers():
    """Leapfrog: ``y₋₁ = y₀``; midpoint: the first step is forward Euler."""
    torch.manual_seed(0)
    y0 = torch.randn(3, 4, dtype=torch.float64)
    leapfrog = Stage.build("leapfrog", channels=4, ndim=0, steps=3, horizon=1.0).double()
    state = leapfrog.blocks[0].init(y0)
    assert isinstance(state, History) and torch.equal(state.previous, y0)
    midpoint = Stage.build("midpoint", channels=4, ndim=0, steps=3, horizon=1.0).double()
    states = [s for _, _, s in midpoint.states(y0)]
    assert all(isinstance(t, torch.Tensor) for s in states for t in s)  # no empty history
    assert midpoint.blocks[0].has_own_starter
    assert midpoint.scheme.declared_starter.stability.numerator == (1.0, 1.0)  # R = 1 + z
    field, h = midpoint.blocks[0].field, midpoint.h
    with torch.no_grad():
        torch.testing.assert_close(states[1].current, y0 + h * field(y0))
        torch.testing.assert_close(states[1].previous, y0)


# ------------------------------------------------------------------ time-smoothness
def flat_parameters(block) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in block.parameters()])


def test_time_smoothness_equals_sum_of_squared_differences():
    torch.manual_seed(0)
    model = ODENet("parabolic", widths=(4, 8), steps=(3, 4), num_classes=2)
    expected = 0.0
    for stage in model.stages:
        thetas = [flat_parameters(b) for b in stage.blocks]
        expected += sum(
            float((b - a).pow(2).sum()) for a, b in zip(thetas[:-1], thetas[1:], strict=True)
        )
    value = odenets.time_smoothness(model, alpha=0.3).detach()
    assert expected > 0
    assert abs(float(value) - 0.3 * expected) < 1e-5 * expected


def test_time_smoothness_gradient_is_the_discrete_laplacian():
    """``∂/∂θ_j α Σ‖θ_{j+1} − θ_j‖² = 2α(2θ_j − θ_{j−1} − θ_{j+1})`` at interior steps."""
    torch.manual_seed(0)
    stage = Stage.build("euler", channels=3, ndim=0, steps=4, horizon=1.0).double()
    alpha = 0.7
    odenets.time_smoothness(stage, alpha).backward()
    for j in (1, 2):
        prev, mid, nxt = (list(stage.blocks[i].parameters()) for i in (j - 1, j, j + 1))
        for p, q, r in zip(prev, mid, nxt, strict=True):
            torch.testing.assert_close(q.grad, 2 * alpha * (2 * q - p - r).detach())


def test_time_smoothness_vanishes_for_constant_or_shared_weights():
    shared = ODENet("rk2", widths=(4,), steps=3, shared=True, num_classes=2)
    assert float(odenets.time_smoothness(shared, alpha=1.0).detach()) == 0.0
    stage = Stage.build("euler", channels=3, ndim=0, steps=3, horizon=1.0)
    for block in stage.blocks[1:]:
        block.load_state_dict(stage.blocks[0].state_dict())
    assert float(odenets.time_smoothness(stage, alpha=1.0).detach()) == 0.0
