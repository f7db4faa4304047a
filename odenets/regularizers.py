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


def continuous_penalty(model: nn.Module) -> torch.Tensor | None:
    """``Σ_blocks λ_K K + λ_J J``: the RNODE penalties of the model's last training forward pass.

    Finlay, Jacobsen, Nurbekyan & Oberman (2020), "How to train your neural ODE": the kinetic
    energy ``∫‖F(y(t))‖² dt`` and the Jacobian Frobenius norm ``∫‖∂F/∂y‖_F² dt`` (Hutchinson
    estimate) of every block that computed one (``regularization_loss``, e.g. a ``node``
    block built with ``kinetic=`` / ``jacobian=`` weights, in training mode); ``None`` when
    no module did, so a model without them costs nothing.
    """
    terms = [
        m.regularization_loss
        for m in model.modules()
        if getattr(m, "regularization_loss", None) is not None
    ]
    if not terms:
        return None
    return torch.stack([torch.as_tensor(t) for t in terms]).sum()
