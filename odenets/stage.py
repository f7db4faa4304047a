"""A stage: ``N`` steps of one scheme over a horizon ``T`` (``h = T/N``)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ._validation import check_positive_int, check_step
from .blocks.base import Block, State
from .blocks.factory import create_block, default_fields
from .memory import MEMORY_POLICIES, frozen_running_stats, get_memory_policy
from .registry import get_scheme

__all__ = ["MEMORY_POLICIES", "Stage", "frozen_running_stats", "set_memory_policy"]


class Stage(nn.Module):
    """Integrate ``steps`` steps of a scheme from the stage input, with step ``h = T/N``.

    ``blocks`` holds one block per step (per-step weights: a time-dependent vector field)
    or a single block reused at every step (shared weights: an autonomous field). The
    scheme's state (two fields, or a history for two-step schemes) is built by the first
    block's ``init``, advanced by its ``start`` (the scheme's starter) and then ``step``, and
    read back by ``output``, so multistep histories start as in the papers. ``memory``
    chooses how activations are kept for backward (:mod:`odenets.memory`).
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
        scheme: str | type[Block],
        *,
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
        """A stage of ``scheme`` (a registered name or a Block class) with registered fields."""
        scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
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
        """The name of the memory policy (:data:`odenets.memory.MEMORY_POLICIES`)."""
        return self._policy.name

    @memory.setter
    def memory(self, name: str) -> None:
        policy = get_memory_policy(name)
        policy.check(self)
        self._policy = policy

    def block_at(self, j: int) -> Block:
        """The block that takes step ``j`` (0-based)."""
        return self.blocks[0 if len(self.blocks) == 1 else j]

    # -------------------------------------------------------------------------- forward
    def forward(self, y0: torch.Tensor) -> torch.Tensor:
        return self.blocks[-1].output(self._policy.integrate(self, y0))

    def states(self, y0: torch.Tensor) -> Iterator[tuple[int, Block, State]]:
        """Yield ``(j, block_j, state_j)`` before every step and the final state (``j = N``).

        Step ``0`` is the block's ``start`` (its starter), every later step its ``step``.
        """
        state = self.blocks[0].init(y0)
        for j in range(self.steps):
            block = self.block_at(j)
            yield j, block, state
            state = block.start(state) if j == 0 else block.step(state)
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


def set_memory_policy(model: nn.Module, policy: str) -> nn.Module:
    """Set the memory policy of every :class:`Stage` in ``model``; returns ``model``.

    All stages are checked (the policy's own ``check``) before any is changed, so a policy
    that one stage cannot use leaves the model as it was.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"set_memory_policy needs a torch.nn.Module, got {type(model).__name__}")
    chosen = get_memory_policy(policy)
    stages = [m for m in model.modules() if isinstance(m, Stage)]
    if not stages:
        raise ValueError(
            f"{type(model).__name__} has no odenets Stage, so it has no memory policy to set"
        )
    for stage in stages:
        chosen.check(stage)
    for stage in stages:
        stage._policy = chosen
    return model
