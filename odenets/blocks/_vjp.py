"""Vector–Jacobian products for the backward steps of reversible blocks.

The backward pass of a reversible stage (``memory="reversible"``) runs under
``torch.no_grad()`` and builds one small graph at a time: a field evaluated at a rebuilt
state, pulled back once and dropped. These helpers are what the fused ``reverse`` methods
of the reversible schemes (and the generic one of :class:`~odenets.blocks.ReversibleBlock`)
are written with (:func:`~odenets.blocks.base.recompute_vjp` is the generic one);
parameter gradients go into a dict ``parameter → gradient``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def field_vjp(field: nn.Module, x: torch.Tensor, grad: torch.Tensor, scale: float, acc: dict):
    """``F(x)`` (no graph kept) and ``(∂F/∂x)ᵀ (scale·grad)``; parameter parts into ``acc``."""
    with torch.enable_grad():
        x = x.detach().requires_grad_()
        out = field(x)
        params = [p for p in field.parameters() if p.requires_grad]
        grad_out = grad.to(out.dtype) * scale  # as autograd does for ``scale * F(x)``
        grads = torch.autograd.grad(out, (x, *params), grad_out, allow_unused=True)
    accumulate(acc, params, grads[1:])
    grad_x = torch.zeros_like(x) if grads[0] is None else grads[0]
    return out.detach(), grad_x


def add_into(pulled: torch.Tensor, other: torch.Tensor, alpha: float = 1) -> torch.Tensor:
    """``pulled + alpha·other``, in place when it can be: ``pulled`` is a fresh VJP result."""
    if pulled.dtype == torch.result_type(pulled, other):
        return pulled.add_(other, alpha=alpha)
    return pulled + alpha * other


def pull_back(outputs: Sequence[torch.Tensor], inputs: Sequence[torch.Tensor], grads):
    """``autograd.grad`` of ``outputs`` (those on the graph) at ``grads``, w.r.t. ``inputs``."""
    pairs = [(o, g.to(o.dtype)) for o, g in zip(outputs, grads, strict=True) if o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    outs, grad_outs = zip(*pairs, strict=True)
    return torch.autograd.grad(outs, inputs, grad_outs, allow_unused=True)


def accumulate(acc: dict, params, grads) -> None:
    for p, g in zip(params, grads, strict=True):
        if g is not None:
            acc[p] = g if p not in acc else acc[p] + g
