"""Optional per-epoch hooks of the training loop."""

from __future__ import annotations

import json
import os

import torch
from torch import nn


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
