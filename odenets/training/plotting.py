"""Learning-curve figure from ``metrics.jsonl`` records."""

from __future__ import annotations

import os
from pathlib import Path


def plot_learning_curves(records: list[dict], path: str | os.PathLike, title: str = "") -> Path:
    """Plot loss and accuracy per epoch (train and validation) and save a PNG at ``path``.

    ``records`` are the per-epoch dicts of ``metrics.jsonl``; keys ``train_loss``,
    ``val_loss``, ``train_acc``, ``val_acc`` are drawn when present (other keys, e.g. the
    dynamics metrics, are drawn in the loss panel when they end in ``_loss`` or ``_mse``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    epochs = [r["epoch"] for r in records]  # counted from 1
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    loss_keys = sorted({k for r in records for k in r if k.endswith(("_loss", "_mse"))})
    for key in loss_keys:
        xs = [e for e, r in zip(epochs, records, strict=True) if key in r]
        ax_loss.plot(xs, [r[key] for r in records if key in r], marker=".", label=key)
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log")
    acc_keys = [k for k in ("train_acc", "val_acc") if any(k in r for r in records)]
    for key in acc_keys:
        xs = [e for e, r in zip(epochs, records, strict=True) if key in r]
        ax_acc.plot(xs, [100 * r[key] for r in records if key in r], marker=".", label=key)
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    if not acc_keys:
        ax_acc.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
