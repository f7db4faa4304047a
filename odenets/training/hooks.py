"""Optional per-epoch hooks of the training loop."""

from __future__ import annotations

import json
import os

import torch
from torch import nn


def diagnostics_available() -> bool:
    try:
        from odenets.diagnostics import compact_summary  # noqa: F401
    except ImportError:
        return False
    return True


def require_diagnostics() -> None:
    """Fail early (before training) when ``diagnose_every > 0`` cannot be honoured."""
    if not diagnostics_available():
        raise ValueError(
            "diagnose_every > 0 needs odenets.diagnostics.compact_summary, which cannot be "
            "imported in this installation; set diagnose_every to 0"
        )


def write_diagnostics(model: nn.Module, batch: torch.Tensor, path: str | os.PathLike, **extra):
    """Append ``compact_summary(model, batch)`` (plus ``extra``, e.g. the epoch) to ``path``."""
    from odenets.diagnostics import compact_summary

    was_training = model.training
    model.eval()
    try:
        summary = compact_summary(model, batch)
    finally:
        model.train(was_training)
    with open(path, "a") as f:
        f.write(json.dumps({**extra, **summary}, default=float) + "\n")
    return summary
