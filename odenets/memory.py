"""Memory policies of a stage: exact reversible backprop, the adjoint, and a model-wide switch.

A policy decides what a :class:`~odenets.stage.Stage` keeps for the backward pass
(``Stage(memory=...)``, ``ODENet(memory=...)``, ``create_model(name, memory=...)``, or
:func:`set_memory_policy` on a built model):

* ``"store"`` (default): plain backprop, activations of every step are kept: O(N) memory.
* ``"checkpoint"``: ``torch.utils.checkpoint`` per step, any scheme: keeps the step inputs
  (O(N), a few tensors per step) and recomputes one step at a time in backward.
* ``"reversible"``: reversible schemes only (``hamiltonian``, ``midpoint``, ``leapfrog``,
  ``revnet``, ...): keeps only the stage's final state and rebuilds earlier states with
  the exact inverse step in backward (Gomez et al. 2017; Chang et al. 2018): activation
  memory O(1) in the number of steps, compute about 4/3 of plain backprop (one extra
  vector-field evaluation per step, fused with the recomputation).
* ``"adjoint"``: adaptive Neural ODE blocks: ``torchdiffeq.odeint_adjoint`` (Chen et al.
  2018), O(1) memory by solving the adjoint ODE backwards.

Batch normalisation: a field in train mode normalises with the statistics of its input
batch, which is a deterministic function of the batch, so the inverse step rebuilds the
states exactly (up to round-off). Running statistics are updated once per step in the
forward pass, as with ``"store"``; the recomputations in backward (reversible and
checkpoint) normalise with batch statistics too but never update running statistics
(:func:`~odenets.stage.frozen_running_stats`), so one training step leaves the same
running statistics as the store policy (memcnn updated them twice).

Mixed precision: the backward pass runs the inverse and the recomputation under the
autocast state of the forward pass. Distributed data parallel: parameter gradients leave
the reversible stage through autograd like any other op, so DDP's gradient hooks see them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from .blocks.base import (
    AdaptiveBlock,
    History,
    Pair,
    ReversibleBlock,
    State,
    StateLayout,
)
from .blocks.hamiltonian import PartitionedEulerBlock
from .blocks.leapfrog import LeapfrogBlock
from .blocks.midpoint import MidpointBlock
from .registry import get_scheme, list_schemes
from .stage import MEMORY_POLICIES, Stage, frozen_running_stats, integrate_store
from .stage import register_memory_policy as _register

__all__ = [
    "MEMORY_POLICIES",
    "adaptive_schemes",
    "reversible_schemes",
    "set_memory_policy",
]


def reversible_schemes() -> list[str]:
    """Registered schemes with an exact inverse step (they allow ``memory="reversible"``)."""
    return [n for n in list_schemes() if issubclass(get_scheme(n), ReversibleBlock)]


def adaptive_schemes() -> list[str]:
    """Registered adaptive (Neural ODE) schemes (they allow ``memory="adjoint"``)."""
    return [n for n in list_schemes() if issubclass(get_scheme(n), AdaptiveBlock)]


def set_memory_policy(model: nn.Module, policy: str) -> nn.Module:
    """Set the memory policy of every :class:`Stage` in ``model``; returns ``model``.

    All stages are validated before any is changed, so a policy that one stage cannot use
    leaves the model as it was.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"set_memory_policy needs a torch.nn.Module, got {type(model).__name__}")
    if policy not in MEMORY_POLICIES:
        raise ValueError(f"Unknown memory policy {policy!r}; allowed: {sorted(MEMORY_POLICIES)}")
    stages = [m for m in model.modules() if isinstance(m, Stage)]
    if not stages:
        raise ValueError(
            f"{type(model).__name__} has no odenets Stage, so it has no memory policy to set"
        )
    check = getattr(MEMORY_POLICIES[policy], "check", None)
    for stage in stages:
        if check is not None:
            check(stage)
    for stage in stages:
        stage.memory = policy
    return model


# ------------------------------------------------------------------------------- reversible
@_register("reversible")
def integrate_reversible(stage: Stage, y0: torch.Tensor) -> State:
    """Exact reversible backprop: keep the final state only, invert the steps in backward.

    Each step is one autograd node that saves nothing; the last saves the final state.
    In backward, the node of step ``j`` rebuilds state ``j`` from state ``j+1`` (handed
    over by the node of step ``j+1``) with the inverse step and pulls the gradient back
    through step ``j``, fused: the vector-field evaluations of the inverse are those of
    the step, so they are made once, with a graph. Parameter gradients leave every node
    as it finishes (DDP buckets them while backward goes on). The node of step 0 also
    differentiates ``init`` (leapfrog's Taylor start uses the field); a starter step that
    ``inverse`` does not undo (midpoint's first, forward-Euler, step) is recomputed from
    the rebuilt stage input instead.
    """
    if not torch.is_grad_enabled():
        return integrate_store(stage, y0)
    layout = stage.scheme.state_layout
    handover = _Handover()
    leaves = (y0,)
    for j in range(stage.steps):
        block = stage.block_at(j)
        params = [p for p in block.parameters() if p.requires_grad]
        last = j == stage.steps - 1
        leaves = _ReversibleStep.apply(stage, j, last, handover, len(leaves), *leaves, *params)
    return _rebuild(layout, leaves)


def _check_reversible(stage: Stage) -> None:
    if not issubclass(stage.scheme, ReversibleBlock):
        raise ValueError(
            f"memory policy 'reversible' needs a scheme with an exact inverse step; "
            f"{stage.scheme.name!r} has none. Schemes that allow it: {reversible_schemes()}. "
            f"memory='checkpoint' works with any scheme."
        )
    for module in stage.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0:
            raise ValueError(
                "memory policy 'reversible' rebuilds states by evaluating the vector fields "
                "again, so they must be deterministic; this stage has dropout "
                f"(p={module.p}). Use memory='checkpoint' (it replays the random state)."
            )


integrate_reversible.check = _check_reversible


class _Handover:
    """The state rebuilt by one step's backward node, for the node of the step before."""

    state: State = None


class _ReversibleStep(torch.autograd.Function):
    """Step ``j`` of a reversible stage (step 0 includes ``init``); see integrate_reversible."""

    @staticmethod
    def forward(ctx, stage, j, last, handover, num_leaves, *inputs):
        ctx.stage, ctx.j, ctx.last, ctx.handover = stage, j, last, handover
        ctx.num_leaves = num_leaves
        ctx.params = inputs[num_leaves:]
        ctx.autocast = _autocast_state(inputs[0].device.type)
        block = stage.block_at(j)
        leaves = inputs[:num_leaves]
        state = block.init(leaves[0]) if j == 0 else _rebuild(block.state_layout, leaves)
        # a history that starts empty means step 0 is a starter, not the step `inverse` undoes
        ctx.starter = isinstance(state, tuple) and any(t is None for t in state)
        outputs = _leaves(block.step(state))
        # an input passed on as it is (History(y, ·)) autograd aliases by itself; a view
        # (init may chunk y0) must become a tensor of its own
        outputs = tuple(t.clone() if t._base is not None else t for t in outputs)
        if last:
            ctx.save_for_backward(*outputs)  # the only activations kept
        return outputs

    @staticmethod
    @once_differentiable  # an error, not silently wrong, for double backward
    def backward(ctx, *grads):
        stage, j = ctx.stage, ctx.j
        block = stage.block_at(j)
        layout = block.state_layout
        state = _rebuild(layout, ctx.saved_tensors) if ctx.last else ctx.handover.state
        accumulated: dict[torch.Tensor, torch.Tensor] = {}
        with torch.autocast(**ctx.autocast), frozen_running_stats(block), torch.no_grad():
            if j == 0 and ctx.starter:
                pulled = (_starter_vjp(block, state, grads, accumulated),)
            elif j == 0:
                state, grads = _reverse_step(block, state, grads, accumulated)
                pulled = (_init_vjp(block, state, grads, accumulated),)
            else:
                state, pulled = _reverse_step(block, state, grads, accumulated)
        ctx.handover.state = state if j > 0 else None
        return (None,) * 5 + tuple(pulled) + tuple(accumulated.get(p) for p in ctx.params)


def _reverse_step(block, state, grads, accumulated):
    """State ``j`` and the gradient with respect to it, from state ``j+1`` and its gradient."""
    for cls, fused in _FUSED_REVERSE_STEPS.items():
        if type(block).step is cls.step and type(block).inverse is cls.inverse:
            return fused(block, state, grads, accumulated)
    return _generic_reverse_step(block, state, grads, accumulated)


def _field_vjp(field: nn.Module, x: torch.Tensor, grad: torch.Tensor, scale: float, acc):
    """``F(x)`` (no graph kept) and ``(∂F/∂x)ᵀ (scale·grad)``; parameter parts into ``acc``."""
    with torch.enable_grad():
        x = x.detach().requires_grad_()
        out = field(x)
        params = [p for p in field.parameters() if p.requires_grad]
        grad_out = grad.to(out.dtype) * scale  # as autograd does for ``scale * F(x)``
        grads = torch.autograd.grad(out, (x, *params), grad_out, allow_unused=True)
    _accumulate(acc, params, grads[1:])
    grad_x = torch.zeros_like(x) if grads[0] is None else grads[0]
    return out.detach(), grad_x


def _reverse_partitioned(block: PartitionedEulerBlock, state: Pair, grads, acc):
    # step: Y⁺ = Y + h F_Y(Z), Z⁺ = Z + h F_Z(Y⁺); inverse: Z = Z⁺ − h F_Z(Y⁺), Y = Y⁺ − h F_Y(Z)
    field_y, field_z = block.fields
    h = block.h
    grad_y1, grad_z1 = grads
    f_z, pulled = _field_vjp(field_z, state.y, grad_z1, h, acc)
    z = state.z - h * f_z
    grad_y = _add_into(pulled, grad_y1)  # total gradient of Y⁺, which is also that of Y
    f_y, pulled = _field_vjp(field_y, z, grad_y, h, acc)
    y = state.y - h * f_y
    return Pair(y, z), (grad_y, _add_into(pulled, grad_z1))


def _reverse_leapfrog(block: LeapfrogBlock, state: History, grads, acc):
    # step: (y_{j−1}, y_j) ↦ (y_j, 2y_j − y_{j−1} + h² F(y_j)); inverse solves for y_{j−1}
    y, y_next = state
    grad_y, grad_next = grads
    h2 = block.h**2
    f, pulled = _field_vjp(block.field, y, grad_next, h2, acc)
    y_prev = 2 * y - y_next + h2 * f
    return History(y_prev, y), (-grad_next, _add_into(_add_into(pulled, grad_next, 2), grad_y))


def _reverse_midpoint(block: MidpointBlock, state: History, grads, acc):
    # step (after the starter): (y_{j−1}, y_j) ↦ (y_j, y_{j−1} + 2h F(y_j))
    y, y_next = state
    grad_y, grad_next = grads
    f, pulled = _field_vjp(block.field, y, grad_next, 2 * block.h, acc)
    y_prev = y_next - 2 * block.h * f
    return History(y_prev, y), (grad_next, _add_into(pulled, grad_y))


def _add_into(pulled: torch.Tensor, other: torch.Tensor, alpha: float = 1) -> torch.Tensor:
    """``pulled + alpha·other``, in place when it can be: ``pulled`` is a fresh VJP result."""
    if pulled.dtype == torch.result_type(pulled, other):
        return pulled.add_(other, alpha=alpha)
    return pulled + alpha * other


_FUSED_REVERSE_STEPS = {
    PartitionedEulerBlock: _reverse_partitioned,
    LeapfrogBlock: _reverse_leapfrog,
    MidpointBlock: _reverse_midpoint,
}


def _generic_reverse_step(block: ReversibleBlock, state, grads, acc):
    """Any reversible block: ``inverse`` without a graph, then the step again with one."""
    previous = block.inverse(state)
    layout = type(block).state_layout
    with torch.enable_grad():
        inputs = tuple(t.detach().requires_grad_() for t in _leaves(previous))
        outputs = _leaves(block.step(_rebuild(layout, inputs)))
        params = [p for p in block.parameters() if p.requires_grad]
        pulled = _grad(outputs, (*inputs, *params), grads)
    _accumulate(acc, params, pulled[len(inputs) :])
    pulled_state = pulled[: len(inputs)]
    grads = tuple(
        torch.zeros_like(x) if g is None else g for x, g in zip(inputs, pulled_state, strict=True)
    )
    return _rebuild(layout, tuple(t.detach() for t in inputs)), grads


def _init_vjp(block, state, grads, acc) -> torch.Tensor:
    """Gradient of the stage input from that of the initial state: differentiate ``init``."""
    with torch.enable_grad():
        y0 = block.output(state).detach().requires_grad_()
        outputs = _leaves(block.init(y0))
        params = [p for p in block.parameters() if p.requires_grad]
        pulled = _grad(outputs, (y0, *params), grads)
    _accumulate(acc, params, pulled[1:])
    return pulled[0]


def _starter_vjp(block, state, grads, acc) -> torch.Tensor:
    """Gradient of the stage input through ``init`` and a starter step (midpoint's Euler step):
    rebuild the input (``inverse`` gets the current value right), then recompute both."""
    y0 = block.output(block.inverse(state))
    with torch.enable_grad():
        y0 = y0.detach().requires_grad_()
        outputs = _leaves(block.step(block.init(y0)))
        params = [p for p in block.parameters() if p.requires_grad]
        pulled = _grad(outputs, (y0, *params), grads)
    _accumulate(acc, params, pulled[1:])
    return pulled[0]


def _grad(outputs, inputs, grads):
    grads = tuple(g.to(o.dtype) for o, g in zip(outputs, grads, strict=True))
    return torch.autograd.grad(outputs, inputs, grads, allow_unused=True)


def _accumulate(acc: dict, params, grads) -> None:
    for p, g in zip(params, grads, strict=True):
        if g is not None:
            acc[p] = g if p not in acc else acc[p] + g


def _leaves(state: State) -> tuple[torch.Tensor, ...]:
    leaves = (state,) if isinstance(state, torch.Tensor) else tuple(state)
    if any(t is None for t in leaves):
        raise RuntimeError(f"a state to invert has no history yet: {state!r}")
    return leaves


def _rebuild(layout: StateLayout, leaves) -> State:
    if layout is StateLayout.TWO_FIELD:
        return Pair(*leaves)
    if layout is StateLayout.HISTORY:
        return History(*leaves)
    (y,) = leaves
    return y


def _autocast_state(device_type: str) -> dict:
    return dict(
        device_type=device_type,
        enabled=torch.is_autocast_enabled(device_type),
        dtype=torch.get_autocast_dtype(device_type),
        cache_enabled=torch.is_autocast_cache_enabled(),
    )


# ---------------------------------------------------------------------------------- adjoint
@_register("adjoint")
def integrate_adjoint(stage: Stage, y0: torch.Tensor) -> State:
    """Neural ODE blocks integrate with ``torchdiffeq.odeint_adjoint`` (O(1) memory)."""
    configured = [block.adjoint for block in stage.blocks]
    try:
        for block in stage.blocks:
            block.adjoint = True
        return integrate_store(stage, y0)
    finally:
        for block, adjoint in zip(stage.blocks, configured, strict=True):
            block.adjoint = adjoint


def _check_adjoint(stage: Stage) -> None:
    if not issubclass(stage.scheme, AdaptiveBlock):
        available = adaptive_schemes() or "none registered"
        raise ValueError(
            f"memory policy 'adjoint' solves the adjoint ODE of an adaptive (Neural ODE) "
            f"block; {stage.scheme.name!r} is a fixed-step scheme. Schemes that allow it: "
            f"{available}. Use memory='reversible' (reversible schemes) or 'checkpoint'."
        )
    for block in stage.blocks:
        if not isinstance(getattr(block, "adjoint", None), bool):
            raise TypeError(
                f"memory policy 'adjoint' needs blocks with a boolean 'adjoint' switch; "
                f"{type(block).__name__} has none"
            )


integrate_adjoint.check = _check_adjoint
