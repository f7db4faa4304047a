"""A stage: ``N`` steps of one scheme over a horizon ``T`` (``h = T/N``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ._validation import check_positive_int, check_step
from .blocks.base import Block, State
from .blocks.factory import create_block, default_fields
from .registry import register_into

# name -> integrate(stage, y0) -> final state; extended by odenets.memory (reversible, ...)
MEMORY_POLICIES: dict[str, Callable[[Stage, torch.Tensor], State]] = {}


def register_memory_policy(name: str):
    def decorator(fn):
        return register_into(MEMORY_POLICIES, "memory policy", name, fn)

    return decorator


class Stage(nn.Module):
    """Integrate ``steps`` steps of a scheme from the stage input, with step ``h = T/N``.

    ``blocks`` holds one block per step (per-step weights: a time-dependent vector field)
    or a single block reused at every step (shared weights: an autonomous field). The
    scheme's state (two fields, or a history for two-step schemes) is built by the first
    block's ``init`` and read back by ``output``, so multistep histories start as in the
    papers. ``memory`` chooses how activations are kept for backward (see
    :data:`MEMORY_POLICIES`).
    """

    def __init__(self, blocks, horizon: float, steps: int | None = None, memory: str = "store"):
        super().__init__()
        blocks = [blocks] if isinstance(blocks, Block) else list(blocks)
        if not blocks or not all(isinstance(b, Block) for b in blocks):
            raise TypeError("a Stage needs one or more odenets Block instances")
        if len({type(b) for b in blocks}) != 1:
            raise TypeError("all blocks of a stage must use the same scheme")
        steps = len(blocks) if steps is None else check_positive_int(steps, "steps")
        if len(blocks) not in (1, steps):
            raise ValueError(
                f"a stage of {steps} steps needs 1 block (shared weights) or {steps} blocks "
                f"(per-step weights), got {len(blocks)}"
            )
        self.blocks = nn.ModuleList(blocks)
        self.steps = steps
        self.horizon = horizon
        self.memory = memory

    @classmethod
    def build(
        cls,
        scheme: str,
        channels: int,
        ndim: int,
        steps: int,
        horizon: float,
        shared: bool = False,
        field: str | None = None,
        field_kwargs: dict | None = None,
        scheme_kwargs: dict | None = None,
        memory: str = "store",
    ) -> Stage:
        """A stage of registered scheme ``scheme`` with registered vector fields."""
        steps = check_positive_int(steps, "steps")
        h = check_step(horizon, "horizon T") / steps
        blocks = [
            create_block(
                scheme,
                default_fields(scheme, channels, ndim, field, **(field_kwargs or {})),
                h=h,
                **(scheme_kwargs or {}),
            )
            for _ in range(1 if shared else steps)
        ]
        return cls(blocks, horizon, steps=steps, memory=memory)

    # ----------------------------------------------------------------------- properties
    @property
    def horizon(self) -> float:
        return self._horizon

    @horizon.setter
    def horizon(self, value: float) -> None:
        self._horizon = check_step(value, "horizon T")
        for block in self.blocks:
            block.h = self._horizon / self.steps

    @property
    def h(self) -> float:
        return self.horizon / self.steps

    @property
    def shared(self) -> bool:
        return len(self.blocks) == 1 and self.steps > 1

    @property
    def scheme(self) -> type[Block]:
        return type(self.blocks[0])

    @property
    def memory(self) -> str:
        return self._memory

    @memory.setter
    def memory(self, policy: str) -> None:
        if policy not in MEMORY_POLICIES:
            raise ValueError(
                f"Unknown memory policy {policy!r}; allowed: {sorted(MEMORY_POLICIES)}"
            )
        check = getattr(MEMORY_POLICIES[policy], "check", None)
        if check is not None:
            check(self)
        self._memory = policy

    def block_at(self, j: int) -> Block:
        """The block that takes step ``j`` (0-based)."""
        return self.blocks[0 if len(self.blocks) == 1 else j]

    # -------------------------------------------------------------------------- forward
    def forward(self, y0: torch.Tensor) -> torch.Tensor:
        state = MEMORY_POLICIES[self.memory](self, y0)
        return self.blocks[-1].output(state)

    def states(self, y0: torch.Tensor) -> Iterator[tuple[int, Block, State]]:
        """Yield ``(j, block_j, state_j)`` before every step and the final state (``j = N``)."""
        state = self.blocks[0].init(y0)
        for j in range(self.steps):
            yield j, self.block_at(j), state
            state = self.block_at(j).step(state)
        yield self.steps, self.blocks[-1], state

    def time_smoothness(self) -> torch.Tensor:
        """``Σ_j ‖θ_{j+1} − θ_j‖²`` over consecutive blocks (zero for shared weights)."""
        total = torch.zeros(())
        for prev, nxt in zip(self.blocks[:-1], self.blocks[1:], strict=True):
            for p, q in zip(prev.parameters(), nxt.parameters(), strict=True):
                total = total.to(p) + (q - p).pow(2).sum()
        return total

    def extra_repr(self) -> str:
        weights = "shared" if self.shared else "per-step"
        return (
            f"scheme={self.scheme.name!r}, steps={self.steps}, horizon={self.horizon:g}, "
            f"h={self.h:g}, weights={weights}, memory={self.memory!r}"
        )


@register_memory_policy("store")
def integrate_store(stage: Stage, y0: torch.Tensor) -> State:
    """Plain backprop: every step's activations are kept for backward."""
    state = stage.blocks[0].init(y0)
    for j in range(stage.steps):
        state = stage.block_at(j).step(state)
    return state


@register_memory_policy("checkpoint")
def integrate_checkpoint(stage: Stage, y0: torch.Tensor) -> State:
    """Activation checkpointing per step: keeps step inputs, recomputes the step in backward.

    The recomputation does not touch batch-norm running statistics (they were updated once,
    in the forward pass), so a training step matches the store policy.
    """
    state = stage.blocks[0].init(y0)
    for j in range(stage.steps):
        block = stage.block_at(j)
        if torch.is_grad_enabled():
            state = checkpoint(
                block.step,
                state,
                use_reentrant=False,
                context_fn=lambda block=block: (nullcontext(), frozen_running_stats(block)),
            )
        else:
            state = block.step(state)
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
