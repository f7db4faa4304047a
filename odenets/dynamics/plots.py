"""PNG plots of a dynamics run: predicted against true trajectories or fields, learning curve."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_trajectories(path: Path, times, true, pred, horizon: float, count: int = 3) -> Path:
    """Each state component against time (solid: truth, dashed: model) and the phase plane."""
    count = min(count, true.shape[0])
    dims = true.shape[-1]
    fig, axes = plt.subplots(count, dims + 1, figsize=(4 * (dims + 1), 2.6 * count), squeeze=False)
    t = times.numpy()
    for i in range(count):
        for d in range(dims):
            ax = axes[i, d]
            ax.plot(t, true[i, :, d].numpy(), "k-", lw=1.2, label="true")
            ax.plot(t, pred[i, :, d].numpy(), "r--", lw=1.2, label="model")
            ax.axvline(horizon, color="grey", ls=":", lw=1)
            ax.set_title(f"test trajectory {i}, component {d}", fontsize=9)
        ax = axes[i, dims]
        ax.plot(true[i, :, 0].numpy(), true[i, :, 1 % dims].numpy(), "k-", lw=1)
        ax.plot(pred[i, :, 0].numpy(), pred[i, :, 1 % dims].numpy(), "r--", lw=1)
        ax.set_title("phase plane", fontsize=9)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_fields(path: Path, times, true, pred, columns: int = 5) -> Path:
    """Channel 0 of test trajectory 0 at a few times: truth (top), model (middle), error."""
    n = true.shape[1]
    picks = sorted({round(k * (n - 1) / (columns - 1)) for k in range(columns)})
    fig, axes = plt.subplots(3, len(picks), figsize=(2.4 * len(picks), 6.6), squeeze=False)
    low, high = float(true[0, :, 0].min()), float(true[0, :, 0].max())
    spread = float((pred[0, :, 0] - true[0, :, 0]).abs().max()) or 1.0
    for j, k in enumerate(picks):
        rows = (true[0, k, 0], pred[0, k, 0], pred[0, k, 0] - true[0, k, 0])
        for r, (field, label) in enumerate(zip(rows, ("true", "model", "error"), strict=True)):
            ax = axes[r, j]
            if field.dim() == 1:
                ax.plot(field.numpy())
            else:
                scale = dict(vmin=-spread, vmax=spread) if r == 2 else dict(vmin=low, vmax=high)
                ax.imshow(field.numpy(), cmap="RdBu_r" if r == 2 else "viridis", **scale)
                ax.set_xticks([])
                ax.set_yticks([])
            ax.set_title(f"{label} t={float(times[k]):.3g}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_learning_curve(path: Path, records: list[dict]) -> Path:
    """log₁₀ MSE (train, test, extrapolation) against the training iteration."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    steps = [r["iteration"] for r in records]
    for key in ("log10_mse_train", "log10_mse_test", "log10_mse_extrapolation"):
        values = [r.get(key, math.nan) for r in records]
        ax.plot(steps, values, marker=".", label=key.replace("log10_mse_", ""))
    ax.set_xlabel("iteration")
    ax.set_ylabel("log10 MSE")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
