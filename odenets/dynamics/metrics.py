"""Metrics of predicted trajectories: log₁₀ MSE in and beyond the horizon, parameter error."""

from __future__ import annotations

import math

import torch


def log10_mse(pred: torch.Tensor, true: torch.Tensor) -> float:
    """``log₁₀ mean((pred − true)²)``; ``nan`` for an empty window, ``inf`` for a blow-up."""
    if true.numel() == 0:
        return math.nan
    mse = float(((pred - true) ** 2).mean())
    if not math.isfinite(mse):
        return math.inf
    return math.log10(max(mse, 1e-300))


def parameter_error(estimates: dict[str, float], truth: dict[str, float]) -> float:
    """Mean relative error in % over the parameters the physical model estimates."""
    keys = [k for k in estimates if k in truth]
    if not keys:
        return math.nan
    errors = [abs(estimates[k] - truth[k]) / abs(truth[k]) for k in keys]
    return 100.0 * sum(errors) / len(errors)


def energy_drift(energy: torch.Tensor) -> float:
    """Mean over trajectories of ``max_t |E(t) − E(0)| / |E(0)|`` for energies ``(B, T)``."""
    e0 = energy[:, :1]
    drift = (energy - e0).abs().amax(dim=1) / e0.abs().clamp_min(1e-12).squeeze(1)
    return float(drift.mean())


@torch.no_grad()
def evaluate(model, data) -> dict:
    """Predict every test trajectory over the whole data window from its initial state.

    Returns log₁₀ MSE over ``t < horizon`` (``log10_mse_test``) and beyond it
    (``log10_mse_extrapolation``), the same on the training trajectories (and on the
    validation split as ``log10_mse_val``, when the data has one), the parameter
    error of the physical part, the energy drift of conservative systems, and the NFE of
    one test prediction; and the test predictions ``(n_test, T, *state)``.
    """
    h, n = data.horizon_steps, data.test.shape[1]
    was_training = model.training
    model.eval()
    pred = model(data.test[:, 0], n)
    nfe = model.nfe
    train_pred = model(data.train[:, 0], h)
    val = getattr(data, "val", None)
    val_pred = model(val[:, 0], h) if val is not None else None
    model.train(was_training)
    metrics = {
        "log10_mse_train": log10_mse(train_pred, data.train[:, :h]),
        "log10_mse_test": log10_mse(pred[:, :h], data.test[:, :h]),
        "log10_mse_extrapolation": log10_mse(pred[:, h:], data.test[:, h:]),
        "nfe": nfe,
    }
    if val is not None:
        metrics["log10_mse_val"] = log10_mse(val_pred, val[:, :h])
    physics = model.physics
    if physics is not None:
        estimates = physics.estimates()
        metrics["param_error_pct"] = parameter_error(estimates, data.params)
        metrics.update({f"param_{k}": v for k, v in estimates.items()})
    energy = data.energy(pred)
    if energy is not None:
        metrics["energy_drift"] = energy_drift(energy)
        metrics["energy_drift_data"] = energy_drift(data.energy(data.test))
    return metrics, pred
