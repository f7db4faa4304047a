"""Regularisers for the training loop."""

from __future__ import annotations

import torch
from torch import nn

from .stage import Stage


def time_smoothness(model: nn.Module, alpha: float = 1.0) -> torch.Tensor:
    """``α Σ_stages Σ_j ‖θ_{j+1} − θ_j‖²``: smoothness in "time" of per-step weights.

    The regulariser of Ruthotto & Haber (2018) and Chang et al. (2018); it favours weights
    that vary smoothly with depth, i.e. a network that discretises a time-dependent ODE.
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha!r}")
    terms = [m.time_smoothness() for m in model.modules() if isinstance(m, Stage)]
    if not terms:
        return torch.zeros(())
    return alpha * torch.stack([t.to(terms[0]) for t in terms]).sum()
