"""diagnose(): report structure, network-level checks against independent computations."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import odenets
from odenets.diagnostics import compact_summary, diagnose
from odenets.diagnostics.network import (
    gradient_norms,
    perturbation_growth,
    refinement_consistency,
)

DT = torch.float64


def vector_model(scheme, **kw):
    torch.manual_seed(0)
    return odenets.create_model(f"{scheme}_vector", hidden=8, **kw)


@pytest.mark.parametrize("scheme", ["hamiltonian", "leapfrog", "midpoint", "lm", "rk4"])
def test_report_on_vector_models_is_complete_and_strict_json(scheme):
    model = vector_model(scheme)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(5, 2)
    report = diagnose(model, x, k=1, num_points=2, consistency=False)
    data = json.loads(report.to_json())  # strict JSON: allow_nan=False inside
    assert data["model"] == f"{scheme}_vector" and data["dtype"] == "float64"
    (stage,) = data["stages"]
    assert len(stage["blocks"]) == 4 and len(stage["growth"]) == 2
    for b in report.blocks:
        assert b.max_amplification is not None and b.margin == 1 - b.max_amplification
        assert len(b.eigenvalues) == 2  # one entry per point
        assert b.param_grad_norm is not None and b.param_grad_norm > 0
    assert report.network.top_singular_value > 0
    assert "stage" in report.summary() and scheme in report.summary()
    for k, v in model.state_dict().items():  # the model itself is untouched
        torch.testing.assert_close(v, before[k])


def test_two_field_and_history_step_map_radius_equals_declared_amplification():
    """For the zoo's two-field and history blocks the declared analysis is exact for the
    linearisation: ρ(step-map Jacobian) = largest characteristic root at z = h^p λ."""
    for scheme in ("hamiltonian", "leapfrog", "lm"):
        model = vector_model(scheme, dim=4)
        report = diagnose(
            model,
            torch.randn(3, 4),
            k=2,
            num_points=1,
            step_map=True,
            method="dense",
            stage_maps=False,
            growth=False,
            gradients=False,
            input_output=False,
            consistency=False,
        )
        for b in report.blocks[1:]:  # step 0 of lm/leapfrog may start from rest: still square
            assert b.step_map_radius == pytest.approx(b.max_amplification, rel=1e-7)


def test_reversibility_error_is_round_off_for_reversible_blocks_only():
    x = torch.randn(4, 4)
    rev = diagnose(
        vector_model("hamiltonian", dim=4),
        x,
        k=1,
        num_points=2,
        stage_maps=False,
        growth=False,
        gradients=False,
        consistency=False,
    )
    assert all(b.reversibility_error < 1e-12 for b in rev.blocks)
    plain = diagnose(
        vector_model("euler"),
        torch.randn(4, 2),
        k=1,
        num_points=1,
        stage_maps=False,
        growth=False,
        gradients=False,
        consistency=False,
    )
    assert all(b.reversibility_error is None for b in plain.blocks)


def test_stage_singular_values_and_growth_match_dense_jacobian():
    model = vector_model("rk2", dim=6).to(DT).eval()
    stage = model.stage
    y0 = torch.randn(1, 6, dtype=DT)
    jac = torch.autograd.functional.jacobian(stage, y0).reshape(6, 6).numpy()
    report = diagnose(
        model,
        y0.repeat(2, 1),
        k=3,
        num_points=1,
        method="arpack",
        gradients=False,
        consistency=False,
    )
    np.testing.assert_allclose(
        report.stages[0].singular_values[0], np.linalg.svd(jac, compute_uv=False)[:3], rtol=1e-7
    )
    growth = perturbation_growth(stage, y0, seed=3, relative_size=1e-7)
    v = torch.randn(y0.shape, generator=torch.Generator().manual_seed(3), dtype=DT)
    v = (v / v.norm()).numpy().ravel()
    assert growth["linear"][0] == pytest.approx(1.0)
    assert growth["linear"][-1] == pytest.approx(np.linalg.norm(jac @ v), rel=1e-10)
    np.testing.assert_allclose(growth["finite"], growth["linear"], rtol=1e-5)


def test_gradient_norms_match_plain_backward():
    torch.manual_seed(1)
    model = odenets.create_model("euler_digits", widths=(4, 6), steps=2).to(DT).eval()
    x, y = torch.rand(6, 1, 8, 8, dtype=DT), torch.randint(0, 10, (6,))
    got = gradient_norms(model, x, y)
    assert got["loss"] == "cross-entropy"
    nn.functional.cross_entropy(model(x), y).backward()
    for stage, g in zip(model.stages, got["stages"], strict=True):
        for block, norm in zip(stage.blocks, g["param_grad_norms"], strict=True):
            expect = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in block.parameters()))
            assert norm == pytest.approx(expect, rel=1e-10)
        assert len(g["state_grad_norms"]) == stage.steps + 1
    # the state gradient of the last state of the last stage by hand (one example)
    model.zero_grad()
    captured = {}
    hook = model.stages[-1].register_forward_hook(lambda m, a, out: captured.update(out=out))
    xi = x[:1]
    out = model(xi)
    hook.remove()
    (g_last,) = torch.autograd.grad(nn.functional.cross_entropy(out, y[:1]), captured["out"])
    single = gradient_norms(model, xi, y[:1])["stages"][-1]["state_grad_norms"][-1]
    assert single == pytest.approx(float(g_last.norm()), rel=1e-10)


@pytest.mark.parametrize("scheme, order", [("euler", 1), ("rk2", 2)])
def test_refinement_consistency_observes_the_scheme_order(scheme, order):
    torch.manual_seed(2)
    model = odenets.create_model(f"{scheme}_vector", hidden=8, shared=True, steps=8)
    model = model.to(DT).eval()
    result = refinement_consistency(model, torch.randn(4, 2, dtype=DT))
    assert result["change_2N"] > result["change_4N"] > 0
    assert result["observed_order"] == pytest.approx(order, abs=0.15)


def test_compact_summary_is_small_json_and_leaves_model_alone():
    torch.manual_seed(3)
    model = odenets.create_model("hamiltonian_digits", widths=(4, 8), steps=2).train()
    x, y = torch.rand(10, 1, 8, 8), torch.randint(0, 10, (10,))
    summary = compact_summary(model, (x, y), k=2)
    json.dumps(summary, allow_nan=False)
    assert set(summary) == {
        "min_margin",
        "max_h_over_h_star",
        "blocks_unstable_for_every_h",
        "network_top_singular_value",
        "blocks",
    }
    assert len(summary["blocks"]) == 4
    assert summary["min_margin"] == min(b["margin"] for b in summary["blocks"])
    assert all(b["grad_norm"] > 0 for b in summary["blocks"])
    assert model.training and all(p.grad is None for p in model.parameters())
    assert next(model.parameters()).dtype == torch.float32


def test_bad_input_errors():
    with pytest.raises(ValueError, match="has no odenets blocks"):
        diagnose(nn.Linear(3, 3), torch.randn(2, 3))
    model = vector_model("euler")
    with pytest.raises(ValueError, match=r"batch of shape \(2, 3\) does not fit model"):
        diagnose(model, torch.randn(2, 3))
    with pytest.raises(ValueError, match="k=3 eigenvalues requested but the state dimension is"):
        diagnose(model, torch.randn(2, 2), k=3)
    with pytest.raises(ValueError, match="num_points=5 but the batch has only 2 examples"):
        diagnose(model, torch.randn(2, 2), num_points=5)
    with pytest.raises(TypeError, match="needs a torch.nn.Module"):
        diagnose("euler_vector", torch.randn(2, 2))
    with pytest.raises(ValueError, match="2 inputs but 3 labels"):
        diagnose(model, (torch.randn(2, 2), torch.zeros(3, dtype=torch.long)))


def test_implicit_block_pairs_explicit_spectrum_with_least_damped_implicit_eigenvalue():
    implicit_cls = [
        odenets.get_scheme(s)
        for s in odenets.list_schemes()
        if issubclass(odenets.get_scheme(s), odenets.blocks.ImplicitBlock)
    ]
    if not implicit_cls:
        pytest.skip("no implicit scheme registered")
    model = vector_model(implicit_cls[0].name, dim=3)
    report = diagnose(
        model,
        torch.randn(2, 3),
        k=3,
        num_points=1,
        method="dense",
        stage_maps=False,
        growth=False,
        gradients=False,
        input_output=False,
        consistency=False,
    )
    for b in report.blocks:
        assert any("implicit part" in n for n in b.notes)
        lam_i = b.implicit_eigenvalues
        assert np.all(lam_i.real <= 1e-12)  # −LᵀL: no growth from the implicit part
        weakest = lam_i[np.argmin(np.abs(lam_i))]
        z_e = b.h * b.relevant_eigenvalues
        bound = np.max(np.abs(1 + z_e)) / abs(1 - b.h * weakest)  # R = (1 + z_e)/(1 − z_i)
        # the verdict is the step map's own ρ (exact solve): the pairing is only a bound
        assert b.max_amplification == pytest.approx(b.step_map_radius, rel=1e-9)
        assert b.max_amplification <= bound * (1 + 1e-12)
