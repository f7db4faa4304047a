"""Neural ODE training options: RNODE regularisers against closed forms, the Hutchinson estimate,
train/eval solvers, STEER end times, solver step counters against independent counts."""

import math

import numpy as np
import pytest
import torch
from linear_field import DT, Linear
from scipy.linalg import expm
from torch import nn

import odenets
from odenets.blocks import NodeBlock, TimeDependentField
from odenets.regularizers import continuous_penalty
from odenets.training import NFEMeter


def matrix():
    return np.array([[-0.4, 1.5, 0.0], [-1.5, -0.2, 0.7], [0.3, -0.7, -0.5]])


def gramian(a: np.ndarray, q: np.ndarray, h: float) -> np.ndarray:
    """``∫₀ʰ exp(Aᵀt) Q exp(At) dt`` by Van Loan's block exponential (1978)."""
    d = len(a)
    m = np.zeros((2 * d, 2 * d))
    m[:d, :d], m[:d, d:], m[d:, d:] = -a.T, q, a
    e = expm(m * h)
    return e[d:, d:].T @ e[:d, d:]


def test_kinetic_energy_matches_the_closed_form_on_a_linear_field():
    a, h = matrix(), 1.3
    block = NodeBlock(Linear(a), h=h, rtol=1e-10, atol=1e-12, kinetic=0.7)
    y0 = torch.randn(5, 3, dtype=DT)
    y1 = block(y0)
    g = gramian(a, a.T @ a, h)  # ∫ ‖A y(t)‖² dt = y0ᵀ G y0
    exact = np.mean([y @ g @ y for y in y0.numpy()]) / 3  # per state entry
    assert block.kinetic_energy == pytest.approx(exact, rel=1e-8)
    assert block.regularization_loss.item() == pytest.approx(0.7 * exact, rel=1e-8)
    assert torch.allclose(y1, y0 @ torch.from_numpy(expm(h * a)).T, rtol=1e-8, atol=1e-10)
    assert block.jacobian_frobenius is None


def test_jacobian_term_matches_the_closed_form_for_the_drawn_probes():
    # ∂F/∂y = A everywhere: the integrand ‖εᵀA‖² is constant, so the term is h‖Aᵀε‖²/D
    a, h = matrix(), 0.9
    block = NodeBlock(Linear(a), h=h, rtol=1e-9, atol=1e-11, jacobian=2.0, kinetic=0.5)
    y0 = torch.randn(6, 3, dtype=DT)
    torch.manual_seed(3)
    block(y0)
    torch.manual_seed(3)
    probe = torch.randn_like(y0).numpy()  # the block draws the same probes
    exact = h * np.mean(np.sum((probe @ a) ** 2, axis=1)) / 3
    assert block.jacobian_frobenius == pytest.approx(exact, rel=1e-8)
    kinetic = np.mean([y @ gramian(a, a.T @ a, h) @ y for y in y0.numpy()]) / 3
    assert block.regularization_loss.item() == pytest.approx(0.5 * kinetic + 2 * exact, rel=1e-8)


def test_the_penalty_differentiates_to_the_hand_gradient():
    # J = h/(D B) Σ_b ‖Aᵀε_b‖², so ∂J/∂A = 2h/(D B) Σ_b ε_b ε_bᵀ A
    a, h = matrix(), 0.6
    field = Linear(a)
    block = NodeBlock(field, h=h, method="rk4", options={"step_size": 0.1}, jacobian=1.0)
    y0 = torch.randn(8, 3, dtype=DT)
    torch.manual_seed(5)
    block(y0)
    block.regularization_loss.backward()
    torch.manual_seed(5)
    e = torch.randn_like(y0)
    expected = 2 * h / (3 * 8) * (e.T @ e) @ field.a.detach()
    assert torch.allclose(field.a.grad, expected, rtol=1e-10)


@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
def test_hutchinson_estimate_is_unbiased(probe):
    a, h, n = matrix(), 1.0, 20000
    block = NodeBlock(Linear(a), h=h, method="euler", jacobian=1.0, probe=probe)
    torch.manual_seed(0)
    with torch.no_grad():  # the estimate is computed in training mode with gradients on only
        block(torch.randn(4, 3, dtype=DT))
    assert block.jacobian_frobenius is None
    block(torch.zeros(n, 3, dtype=DT))
    m = a @ a.T  # εᵀ M ε, E = tr M = ‖A‖_F²
    variance = 2 * np.sum(m**2) - (2 * np.sum(np.diag(m) ** 2) if probe == "rademacher" else 0)
    exact = h * np.sum(a**2) / 3
    sigma = h * math.sqrt(variance / n) / 3
    assert abs(block.jacobian_frobenius - exact) < 4 * sigma
    assert sigma < 0.02 * exact  # the test resolves a 2 % bias


def test_regularisers_off_in_evaluation_and_summed_over_a_model():
    model = odenets.create_model("odenet_digits", width=8, method="rk4", kinetic=0.1, jacobian=0.1)
    x = torch.randn(4, 1, 8, 8)
    model.eval()
    model(x)
    assert continuous_penalty(model) is None and model.block.kinetic_energy is None
    model.train()
    model(x)
    block = model.block
    expected = 0.1 * block.kinetic_energy + 0.1 * block.jacobian_frobenius
    assert continuous_penalty(model).item() == pytest.approx(expected, rel=1e-6)
    assert continuous_penalty(nn.Linear(2, 2)) is None


def test_fixed_grid_trained_model_evaluates_adaptively_and_the_reverse():
    torch.manual_seed(0)
    model = odenets.create_model(
        "odenet_digits", width=8, method="rk4", options={"step_size": 0.5}, eval_method="dopri5",
        eval_rtol=1e-4, eval_atol=1e-4,
    )  # fmt: skip
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        assert model.block.nfe_forward == 8 and model.block.steps_accepted == 2
    model.eval()
    with torch.no_grad():
        adaptive = model(x)
    block = model.block
    assert torch.isfinite(adaptive).all()
    accepted, rejected = block.steps_accepted, block.steps_rejected
    assert block.nfe_forward == 2 + 6 * (accepted + rejected)  # dopri5: FSAL, 2 to start
    with torch.no_grad():
        block.eval_method = "rk4"
        block.eval_options = {"step_size": 0.05}
        fine = model(x)
    assert block.nfe_forward == 80
    assert torch.allclose(adaptive, fine, atol=1e-2)  # both solve the same ODE

    reverse = NodeBlock(Linear(matrix()), h=1.0, eval_method="rk4")
    reverse.eval()
    reverse(torch.randn(2, 3, dtype=DT))
    assert reverse.nfe_forward == 4 and reverse.steps_accepted == 1  # one rk4 step of h


@pytest.mark.parametrize("adjoint", [False, True])
def test_step_counters_equal_independent_counts(adjoint):
    a = matrix()
    y0 = torch.randn(4, 3, dtype=DT, requires_grad=True)
    field = Linear(a)
    block = NodeBlock(field, h=1.5, rtol=1e-7, atol=1e-9, options={"first_step": 1.5},
                      adjoint=adjoint)  # fmt: skip
    out = block(y0)
    assert block.nfe_forward == field.calls
    accepted, rejected = block.steps_accepted, block.steps_rejected
    assert rejected >= 1  # the forced first step of 1.5 is too long for tolerance 1e-7
    assert block.nfe_forward == 1 + 6 * (accepted + rejected)  # f(y0), then 6 per attempt
    before = field.calls
    out.sum().backward()
    assert block.nfe_backward == field.calls - before
    if adjoint:
        back = block.steps_accepted_backward + block.steps_rejected_backward
        assert block.nfe_backward == 1 + 6 * back  # the adjoint solve takes the same options
    else:
        assert block.nfe_backward == 0 and block.steps_accepted_backward == 0
    # max_step bounds every step: with a loose tolerance, exactly h / max_step steps
    capped = NodeBlock(
        Linear(a), h=1.0, rtol=1e-2, atol=1e-2, options={"max_step": 0.25, "first_step": 0.25}
    )
    capped(y0)
    assert (capped.steps_accepted, capped.steps_rejected) == (4, 0)
    grid = NodeBlock(Linear(a), h=1.0, method="midpoint", options={"step_size": 0.125})
    grid(y0)
    assert (grid.steps_accepted, grid.steps_rejected, grid.nfe_forward) == (8, 0, 16)


class Identity(TimeDependentField):
    """``F(y, t) = y``: ``y(T) = y(0) eᵀ``, so the end time can be read off the output."""

    def forward(self, y, t=0.0):
        return y


def test_steer_draws_end_times_in_training_only():
    block = NodeBlock(Identity(), h=1.0, rtol=1e-9, atol=1e-9, steer=0.5)
    y0 = torch.ones(1, 1, dtype=DT)
    ends = [math.log(float(block(y0))) for _ in range(40)]
    assert 0.5 <= min(ends) < max(ends) <= 1.5 and max(ends) - min(ends) > 0.5
    block.eval()
    assert math.log(float(block(y0))) == pytest.approx(1.0, rel=1e-8)


def test_meter_logs_steps_and_regularisers():
    torch.manual_seed(0)
    model = odenets.create_model("odenet_digits", width=8, rtol=1e-2, atol=1e-2, kinetic=1.0)
    meter = NFEMeter()
    x = torch.randn(8, 1, 8, 8)
    totals = {"nfe": 0, "acc": 0, "ke": 0.0}
    for _ in range(2):
        model(x).sum().backward()
        meter.after_train_step(model)
        totals["nfe"] += model.block.nfe_forward
        totals["acc"] += model.block.steps_accepted
        totals["ke"] += model.block.kinetic_energy
    model.eval()
    model(x)
    meter.after_eval_batch(model)
    out = meter.period_metrics()
    assert out["nfe_forward_train"] == totals["nfe"] / 2
    assert out["steps_accepted_train"] == totals["acc"] / 2
    assert out["kinetic_energy_train"] == pytest.approx(totals["ke"] / 2)
    assert out["nfe_forward_eval"] == model.block.nfe_forward
    assert "jacobian_frobenius_train" not in out and meter.period_metrics() == {}


def test_bad_training_options():
    field = Linear(matrix())
    with pytest.raises(ValueError, match="steer = 1.0 must be smaller than h = 1.0"):
        NodeBlock(field, h=1.0, steer=1.0)
    with pytest.raises(ValueError, match="kinetic must be finite and >= 0"):
        NodeBlock(field, h=1.0, kinetic=-1.0)
    with pytest.raises(TypeError, match="jacobian must be a real number"):
        NodeBlock(field, h=1.0, jacobian="yes")
    with pytest.raises(ValueError, match="probe must be one of"):
        NodeBlock(field, h=1.0, jacobian=1.0, probe="uniform")
    with pytest.raises(ValueError, match="Unknown ODE eval_method 'rk5'"):
        NodeBlock(field, h=1.0, eval_method="rk5")
    with pytest.raises(ValueError, match="does not accept option"):
        NodeBlock(field, h=1.0, eval_method="rk4", eval_options={"first_step": 0.1})


def test_waveforms_dataset_is_fixed_balanced_and_registered():
    from odenets.data import get_dataset, list_datasets
    from odenets.data.signals import CLASSES, make_waveforms, waveform

    assert "waveforms" in list_datasets()
    data = get_dataset("waveforms")
    assert (len(data.train), len(data.val), len(data.test)) == (1200, 400, 400)
    assert data.sample_shape == (1, 40) and data.num_classes == len(CLASSES) == 10
    assert torch.bincount(data.train.y).tolist() == [120] * 10
    again = get_dataset("waveforms")
    assert torch.equal(data.test.x, again.test.x)  # a function of its seed only
    x, y = make_waveforms(20, seed=1, noise=0.0)
    rng = np.random.default_rng(1)
    rng.permutation(20)
    assert np.allclose(x[0, 0], waveform(int(y[0]), rng), atol=1e-6)  # noise 0: the clean form
    with pytest.raises(ValueError, match="val_fraction"):
        get_dataset("waveforms", val_fraction=0.2)
    with pytest.raises(ValueError, match="label must be in 0..9"):
        waveform(10, rng)
