"""Step-map verdicts on models: a two-field model above the dense threshold, node at its step."""

import pytest
import torch

import odenets
from odenets.diagnostics import diagnose

CHEAP = dict(
    k=1,
    num_points=1,
    stage_maps=False,
    growth=False,
    gradients=False,
    input_output=False,
    consistency=False,
    step_map=False,
    clamp_k=True,
)


def test_two_field_model_above_the_dense_threshold_agrees_with_the_dense_path():
    """revnet_digits: a (Y, Z) state of 1,024 dimensions, once dense and once matrix-free."""
    torch.manual_seed(0)
    model = odenets.create_model("revnet_digits", steps=1)
    x = torch.randn(1, 1, 8, 8)
    dense = diagnose(model, x, dense_threshold=4096, **CHEAP)
    free = diagnose(model, x, dense_threshold=4, **CHEAP)  # was AttributeError: no 'x0'
    assert len(dense.blocks) == len(free.blocks) == 2
    for d, f in zip(dense.blocks, free.blocks, strict=True):
        assert f.certified
        assert f.max_amplification == pytest.approx(d.max_amplification, rel=1e-6)
        assert f.h_star == pytest.approx(d.h_star, rel=1e-6, abs=1e-12)


def test_node_is_judged_at_its_fixed_solver_step():
    """rk4, step_size 0.1, h = 1, λ = −3: max|R(0.1·(−3))| = 0.741, not |R(−3)| = 1.375."""
    from odenets.blocks.node import NodeBlock

    field = torch.nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        field.weight.fill_(-3.0)
    block = NodeBlock(field, h=1.0, method="rk4", options={"step_size": 0.1})
    model = odenets.models.VectorODENet("node", dim=1, steps=1, horizon=1.0)
    stage = [m for m in model.modules() if isinstance(m, odenets.Stage)][0]
    stage.blocks[0] = block
    report = diagnose(model.double(), torch.randn(1, 1, dtype=torch.float64), **CHEAP)
    b = report.blocks[0]
    z = -0.3
    expect = abs(1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24)
    assert b.max_amplification == pytest.approx(expect, rel=1e-12)
    assert b.max_amplification == pytest.approx(0.741, abs=1e-3)
    assert "step_size=0.1" in b.judged_at and b.judged_h == 0.1
