"""Memory policies: what a stage keeps for the backward pass, one object per policy.

A policy decides what a :class:`~odenets.stage.Stage` keeps for backward
(``Stage(memory=...)``, ``ODENet(memory=...)``, ``create_model(name, memory=...)``, or
:func:`~odenets.stage.set_memory_policy` on a built model). Each is a :class:`MemoryPolicy`
with ``check(stage)`` (can this stage use it? a clear error if not) and
``integrate(stage, y0)`` (the stage's final state):

* ``"store"`` (default): plain backprop, activations of every step are kept: O(N) memory.
* ``"checkpoint"``: ``torch.utils.checkpoint`` per step, any scheme: keeps the step inputs
  (O(N), a few tensors per step) and recomputes one step at a time in backward.
* ``"reversible"``: reversible schemes only (:func:`reversible_schemes`): keeps only the
  stage's final state and rebuilds earlier states with the exact inverse step in backward
  (Gomez et al. 2017; Chang et al. 2018): activation memory O(1) in the number of steps,
  compute about 4/3 of plain backprop where the scheme fuses its inverse with the VJP of
  its step (:meth:`~odenets.blocks.ReversibleBlock.reverse`).
* ``"adjoint"``: adaptive blocks (:func:`adaptive_schemes`) solve with ``adjoint=True``
  (``torchdiffeq.odeint_adjoint``, Chen et al. 2018): O(1) memory in the solver's steps.
  The adjoint is an argument of :meth:`~odenets.blocks.AdaptiveBlock.solve`; the block is
  not modified.

Step ``0`` of a stage is the block's ``start`` (its starter), every later step ``step``.

Batch normalisation: a field in train mode normalises with the statistics of its input
batch, which is a deterministic function of the batch, so the inverse step rebuilds the
states exactly (up to round-off). Running statistics are updated once per step in the
forward pass, as with ``"store"``; the recomputations in backward (reversible and
checkpoint) normalise with batch statistics too but never update running statistics
(:func:`frozen_running_stats`), so one training step leaves the same running statistics as
the store policy (memcnn updated them twice).

Mixed precision: the backward pass runs the inverse and the recomputation under the
autocast state of the forward pass. Distributed data parallel: parameter gradients leave
the reversible stage through autograd like any other op, so DDP's gradient hooks see them.

This module sits below :mod:`odenets.stage`: a policy reads a stage through ``steps``,
``blocks``, ``block_at(j)``, ``scheme`` and ``modules()`` only.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.utils.checkpoint import checkpoint

from .blocks.base import AdaptiveBlock, ReversibleBlock, State, recompute_vjp, state_leaves
from .registry import get_scheme, list_schemes, register_into

if TYPE_CHECKING:
    from .stage import Stage

__all__ = [
    "MEMORY_POLICIES",
    "MemoryPolicy",
    "adaptive_schemes",
    "frozen_running_stats",
    "get_memory_policy",
    "register_memory_policy",
    "reversible_schemes",
]


class MemoryPolicy:
    """How a stage integrates and what it keeps for backward; subclasses set ``name``."""

    name: str = ""

    def check(self, stage: Stage) -> None:
        """Raise a ``ValueError`` that says why ``stage`` cannot use this policy."""

    def integrate(self, stage: Stage, y0: torch.Tensor) -> State:
        """The stage's final state from the stage input ``y0``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<memory policy {self.name!r}>"


#: name → policy object; :func:`register_memory_policy` adds one
MEMORY_POLICIES: dict[str, MemoryPolicy] = {}


def register_memory_policy(policy: MemoryPolicy) -> MemoryPolicy:
    """Add a policy object under its ``name`` (a duplicate name is an error)."""
    if not isinstance(policy, MemoryPolicy) or not policy.name:
        raise TypeError(f"a memory policy must be a named MemoryPolicy, got {policy!r}")
    return register_into(MEMORY_POLICIES, "memory policy", policy.name, policy)


def get_memory_policy(name: str) -> MemoryPolicy:
    if not isinstance(name, str) or name not in MEMORY_POLICIES:
        raise ValueError(f"Unknown memory policy {name!r}; allowed: {sorted(MEMORY_POLICIES)}")
    return MEMORY_POLICIES[name]


def reversible_schemes() -> list[str]:
    """Registered schemes with an exact inverse step (they allow ``memory="reversible"``)."""
    return [n for n in list_schemes() if issubclass(get_scheme(n), ReversibleBlock)]


def adaptive_schemes() -> list[str]:
    """Registered adaptive (Neural ODE) schemes (they allow ``memory="adjoint"``)."""
    return [n for n in list_schemes() if issubclass(get_scheme(n), AdaptiveBlock)]


def _step_of(block, j: int):
    """The map that takes step ``j`` of a stage: the starter at ``j = 0``."""
    return block.start if j == 0 else block.step


# ------------------------------------------------------------------------ store, checkpoint
class StorePolicy(MemoryPolicy):
    """Plain backprop: every step's activations are kept for backward."""

    name = "store"

    def integrate(self, stage: Stage, y0: torch.Tensor) -> State:
        state = stage.blocks[0].init(y0)
        for j in range(stage.steps):
            state = _step_of(stage.block_at(j), j)(state)
        return state


class CheckpointPolicy(MemoryPolicy):
    """Activation checkpointing per step: keeps step inputs, recomputes the step in backward.

    The recomputation does not touch batch-norm running statistics (they were updated once,
    in the forward pass), so a training step matches the store policy.
    """

    name = "checkpoint"

    def integrate(self, stage: Stage, y0: torch.Tensor) -> State:
        state = stage.blocks[0].init(y0)
        for j in range(stage.steps):
            block = stage.block_at(j)
            if torch.is_grad_enabled():
                state = checkpoint(
                    _step_of(block, j),
                    state,
                    use_reentrant=False,
                    context_fn=lambda block=block: (nullcontext(), frozen_running_stats(block)),
                )
            else:
                state = _step_of(block, j)(state)
        return state


@contextmanager
def frozen_running_stats(module: nn.Module):
    """Batch norms of ``module`` leave the context with the running statistics they had.

    For recomputations in backward: inside, a batch norm in train mode runs exactly as in
    the forward pass (batch statistics, same saved tensors), and its running statistics
    and batch counter are put back on exit, so they are updated once per training step.
    """
    norms = [
        m
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats
    ]
    saved = [[b.clone() for b in m.buffers(recurse=False)] for m in norms]
    try:
        yield
    finally:
        for m, buffers in zip(norms, saved, strict=True):
            for b, value in zip(m.buffers(recurse=False), buffers, strict=True):
                # through .data: like the kernel's own update, a restore must not bump the
                # version counter (batch norm nodes of the forward pass saved these buffers)
                b.data.copy_(value)


# ------------------------------------------------------------------------------- reversible
class ReversiblePolicy(MemoryPolicy):
    """Exact reversible backprop: keep the final state only, invert the steps in backward.

    Each step is one autograd node that saves nothing; the last saves the final state.
    In backward, the node of step ``j`` gets state ``j+1`` (handed over by the node of step
    ``j+1``) and calls the block's :meth:`~odenets.blocks.ReversibleBlock.reverse`, which
    rebuilds state ``j`` with the inverse step and pulls the gradient back through step
    ``j`` (fused by the scheme: the field evaluations of the inverse are those of the step,
    made once, with a graph). Parameter gradients leave every node as it finishes (DDP
    buckets them while backward goes on). The node of step 0 also differentiates ``init``;
    a starter step of the scheme's own (``start``, e.g. midpoint's forward Euler step) is
    not what ``inverse`` undoes, so it is recomputed from the rebuilt stage input instead.
    """

    name = "reversible"

    def check(self, stage: Stage) -> None:
        if not issubclass(stage.scheme, ReversibleBlock):
            raise ValueError(
                f"memory policy 'reversible' needs a scheme with an exact inverse step; "
                f"{stage.scheme.name!r} has none. Schemes that allow it: "
                f"{reversible_schemes()}. memory='checkpoint' works with any scheme."
            )
        for module in stage.modules():
            if isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0:
                raise ValueError(
                    "memory policy 'reversible' rebuilds states by evaluating the vector "
                    "fields again, so they must be deterministic; this stage has dropout "
                    f"(p={module.p}). Use memory='checkpoint' (it replays the random state)."
                )

    def integrate(self, stage: Stage, y0: torch.Tensor) -> State:
        if not torch.is_grad_enabled():
            return MEMORY_POLICIES["store"].integrate(stage, y0)
        handover = _Handover()
        leaves = (y0,)
        for j in range(stage.steps):
            block = stage.block_at(j)
            params = [p for p in block.parameters() if p.requires_grad]
            last = j == stage.steps - 1
            leaves = _ReversibleStep.apply(stage, j, last, handover, len(leaves), *leaves, *params)
        return stage.scheme.state_layout.from_leaves(leaves)


class _Handover:
    """The state rebuilt by one step's backward node, for the node of the step before."""

    state: State = None


class _ReversibleStep(torch.autograd.Function):
    """Step ``j`` of a reversible stage (step 0 includes ``init``); see ReversiblePolicy."""

    @staticmethod
    def forward(ctx, stage, j, last, handover, num_leaves, *inputs):
        ctx.stage, ctx.j, ctx.last, ctx.handover = stage, j, last, handover
        ctx.params = inputs[num_leaves:]
        ctx.autocast = _autocast_state(inputs[0].device.type)
        block = stage.block_at(j)
        leaves = inputs[:num_leaves]
        state = block.init(leaves[0]) if j == 0 else block.state_layout.from_leaves(leaves)
        outputs = state_leaves(_step_of(block, j)(state))
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
        if ctx.last:
            state = block.state_layout.from_leaves(ctx.saved_tensors)
        else:
            state = ctx.handover.state
        acc: dict[torch.Tensor, torch.Tensor] = {}
        with torch.autocast(**ctx.autocast), frozen_running_stats(block), torch.no_grad():
            if j == 0 and block.has_own_starter:
                y0 = block.output(block.inverse(state))  # inverse gets the current value right
                _, (grad_y0,) = recompute_vjp(
                    lambda y: block.start(block.init(y)), y0, grads, block, acc
                )
                pulled = (grad_y0,)
            elif j == 0:
                state, grads = block.reverse(state, grads, acc)
                _, pulled = recompute_vjp(block.init, block.output(state), grads, block, acc)
            else:
                state, pulled = block.reverse(state, grads, acc)
        ctx.handover.state = state if j > 0 else None
        return (None,) * 5 + tuple(pulled) + tuple(acc.get(p) for p in ctx.params)


def _autocast_state(device_type: str) -> dict:
    return dict(
        device_type=device_type,
        enabled=torch.is_autocast_enabled(device_type),
        dtype=torch.get_autocast_dtype(device_type),
        cache_enabled=torch.is_autocast_cache_enabled(),
    )


# ---------------------------------------------------------------------------------- adjoint
class AdjointPolicy(MemoryPolicy):
    """Adaptive blocks solve with ``adjoint=True`` (``torchdiffeq.odeint_adjoint``, O(1))."""

    name = "adjoint"

    def check(self, stage: Stage) -> None:
        if not issubclass(stage.scheme, AdaptiveBlock):
            available = adaptive_schemes() or "none registered"
            raise ValueError(
                f"memory policy 'adjoint' solves the adjoint ODE of an adaptive (Neural ODE) "
                f"block; {stage.scheme.name!r} is a fixed-step scheme. Schemes that allow it: "
                f"{available}. Use memory='reversible' (reversible schemes) or 'checkpoint'."
            )

    def integrate(self, stage: Stage, y0: torch.Tensor) -> State:
        state = stage.blocks[0].init(y0)
        for j in range(stage.steps):
            state = stage.block_at(j).solve(state, adjoint=True)
        return state


for _policy in (StorePolicy(), CheckpointPolicy(), ReversiblePolicy(), AdjointPolicy()):
    register_memory_policy(_policy)
del _policy
