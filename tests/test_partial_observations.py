"""Partial observations: an encoder infers the hidden state, a zoo scheme integrates the field."""

from __future__ import annotations

import pytest
import torch

from odenets.dynamics.partial import (
    HistoryEncoder,
    MLPVectorField,
    ObservationMask,
    PartialObservationModel,
    PartialPhysicsField,
    hidden_state_fit,
)

OMEGA, GAMMA, DT, WINDOW, STEPS = 1.3, 0.1, 0.2, 4, 8
A = torch.tensor([[0.0, 1.0], [-(OMEGA**2), -GAMMA]], dtype=torch.float64)


def oscillator(count, seed):
    """Exact trajectories x(t_j) = exp(jΔt A) x_0 of the damped oscillator (x, v)."""
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randn(count, 2, generator=gen, dtype=torch.float64)
    step = torch.linalg.matrix_exp(DT * A)
    states = [x0]
    for _ in range(WINDOW + STEPS - 1):
        states.append(states[-1] @ step.T)
    return torch.stack(states, 1)  # (count, T, 2)


def fit(model, obs, iterations):
    """Full-batch L-BFGS (the problems are small and smooth)."""
    opt = torch.optim.LBFGS(model.parameters(), max_iter=iterations, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-12, tolerance_change=1e-14)  # fmt: skip
    first = model.loss(obs, STEPS).item()

    def closure():
        opt.zero_grad()
        loss = model.loss(obs, STEPS)
        loss.backward()
        return loss

    opt.step(closure)
    return first, model.loss(obs, STEPS).item()


class Linear(torch.nn.Module):
    def __init__(self, matrix):
        super().__init__()
        self.register_buffer("matrix", matrix)

    def forward(self, x):
        return x @ self.matrix.T


def test_known_linear_dynamics_recover_the_hidden_velocity_without_gauge():
    torch.manual_seed(0)
    mask = ObservationMask(2, [0])
    train, test = oscillator(64, 0), oscillator(32, 1)
    model = PartialObservationModel(HistoryEncoder(mask, WINDOW, hidden=0), Linear(A), DT,
                                    scheme="rk4", substeps=2).double()  # fmt: skip
    first, last = fit(model, mask.observe(train), 60)
    assert last < 1e-3 * first
    with torch.no_grad():
        v_hat = model.encoder(mask.observe(test[:, :WINDOW]))[:, 1]
    v_true = test[:, WINDOW - 1, 1]
    assert ((v_hat - v_true).norm() / v_true.norm()) < 0.02


def test_learned_linear_dynamics_recover_the_hidden_state_up_to_a_linear_gauge():
    torch.manual_seed(0)
    mask = ObservationMask(2, [True, False])
    train, test = oscillator(64, 2), oscillator(32, 3)
    model = PartialObservationModel(HistoryEncoder(mask, WINDOW, hidden=0),
                                    MLPVectorField(2, hidden=0), DT).double()  # fmt: skip
    first, last = fit(model, mask.observe(train), 150)
    assert last < 1e-2 * first
    with torch.no_grad():
        z_train = model(mask.observe(train[:, :WINDOW]), STEPS)
        z_test = model(mask.observe(test[:, :WINDOW]), STEPS)
    k = WINDOW - 1
    gauge = hidden_state_fit(z_train[..., 1:], train[:, k:, 1:], train[:, k:, :1])
    v_hat = gauge(z_test[..., 1:], test[:, k:, :1])
    v_true = test[:, k:, 1:]
    assert ((v_hat - v_true).norm() / v_true.norm()) < 0.05
    observed_err = (z_test[..., 0] - test[:, k:, 0]).pow(2).mean() / test[..., 0].pow(2).mean()
    assert observed_err < 1e-2


def test_hybrid_field_pins_observed_equation():
    mask = ObservationMask(3, [0, 2])
    field = PartialPhysicsField(mask, lambda x: x[:, :2] * 2.0, torch.nn.Linear(3, 1))
    x = torch.randn(5, 3)
    out = field(x)
    assert torch.equal(out[:, [0, 2]], 2 * x[:, :2])


@pytest.mark.parametrize(
    "observed, fragment",
    [([], "hides every coordinate"), ([False, False], "hides every coordinate"),
     ([0, 1], "nothing is hidden"), ([True, True], "nothing is hidden"),
     ([2], r"indices in \[0, 2\)"), ([True], "one entry per state coordinate")],
)  # fmt: skip
def test_bad_observation_masks_are_rejected(observed, fragment):
    with pytest.raises(ValueError, match=fragment):
        ObservationMask(2, observed)


def test_bad_history_and_scheme_are_rejected():
    mask = ObservationMask(2, [0])
    encoder = HistoryEncoder(mask, WINDOW, hidden=0)
    with pytest.raises(ValueError, match=r"history must be \(batch, 4, 1\)"):
        encoder(torch.zeros(3, WINDOW, 2))
    with pytest.raises(ValueError, match="one-field scheme"):
        PartialObservationModel(encoder, MLPVectorField(2, 0), DT, scheme="hamiltonian")
    with pytest.raises(ValueError, match="state dimension 2"):
        mask.observe(torch.zeros(3, 4))
