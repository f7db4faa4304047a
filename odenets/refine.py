"""Depth refinement/coarsening (multi-level training) and scheme swapping of trained models.

A stage of ``N`` steps over horizon ``T`` reads its per-step weights as samples of a
time-dependent field ``θ(t)``: block ``j`` holds ``θ(t_j)`` at ``t_j = j·h``, ``h = T/N``.
Resampling to ``M`` steps puts block ``i`` at ``s_i = i·T/M`` and interpolates linearly
between the two old blocks around it; past the last old block (``s_i > (N−1)h``) the last
weights are held. Refinement (``M = 2N``, Chang et al. 2018; Meganet's
``prolongateWeights``) therefore keeps the old blocks at the even positions and inserts
midpoints; coarsening (``M = N/2``) keeps every other block and exactly inverts refinement.
Shared weights (one block for all steps) are copied.

The limit of repeated refinement is the ODE with the piecewise-linear ``θ(t)``. With
shared (time-independent) weights the refined stages converge to it at the scheme's order;
with per-step weights every block freezes ``θ`` over its step, which costs one order: the
convergence is first order in ``h`` whatever the scheme.

:func:`swap_scheme` evaluates the same fields under another scheme and/or number of steps
(e.g. weights trained with ``euler`` run under ``rk4``, or ``N`` steps run with ``2N``): if
the outputs barely move, the trained network behaves as a discretisation of an ODE.

What a scheme owns besides its fields is its own business (class data and methods of
:class:`~odenets.blocks.Block`): ``carried_parameters`` are interpolated with the fields
and carried by a swap (:meth:`~odenets.blocks.Block.carry_from`), ``swap_refusal`` says why
a block cannot become another scheme, ``swap_options`` which of its options a block of
another scheme keeps. This module imports no concrete block class.
"""

from __future__ import annotations

import copy
from fractions import Fraction

import torch
from torch import nn

from ._validation import check_positive_int
from .blocks.base import AdaptiveBlock, Block
from .blocks.factory import create_block, scheme_options
from .registry import get_scheme
from .stage import Stage

__all__ = ["coarsen_model", "coarsen_stage", "refine_model", "refine_stage", "swap_scheme"]


def refine_stage(stage: Stage) -> Stage:
    """A new stage of ``2N`` steps with ``h/2``: per-step weights linearly interpolated in time."""
    _check_fixed_step(stage, "refine")
    return _rebuild(stage, 2 * stage.steps)


def coarsen_stage(stage: Stage) -> Stage:
    """A new stage of ``N/2`` steps with ``2h`` keeping every other block (inverts refinement)."""
    _check_fixed_step(stage, "coarsen")
    if stage.steps % 2:
        raise ValueError(
            f"coarsening halves the number of steps, so it needs an even count; this stage has "
            f"{stage.steps} steps"
        )
    return _rebuild(stage, stage.steps // 2)


def refine_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every stage refined (:func:`refine_stage`)."""
    return _map_stages(model, refine_stage)


def coarsen_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every stage coarsened (:func:`coarsen_stage`)."""
    return _map_stages(model, coarsen_stage)


def swap_scheme(model: nn.Module, scheme: str, steps: int | None = None, **scheme_kwargs):
    """A copy of ``model`` whose stages run the same vector fields under ``scheme``.

    ``steps`` (default: each stage's own) resamples per-step weights in time as refinement
    does, keeping each stage's horizon. The target scheme must advance the same state (one
    tensor, two fields ``(Y, Z)`` or a two-step history) of the same ODE form with the same
    number of fields; ``scheme_kwargs`` configure it (e.g. ``method="rk4"`` for ``node``).
    Parameters a scheme declares besides its fields are carried over when both schemes
    declare them (LM-ResNet's ``k``, IMEX's ``L``); a scheme decides what a source without
    them gets (``imex``: ``L = 0``, so the ODE is unchanged) and which targets it refuses
    (``imex`` to a scheme with no implicit operator: its ``L`` is part of the ODE).
    """
    target = get_scheme(scheme)
    if steps is not None:
        check_positive_int(steps, "steps")

    def swap(stage: Stage) -> Stage:
        _check_swap(stage.scheme, target)
        new_steps = stage.steps if steps is None else steps
        blocks = [_convert(b, target, scheme_kwargs) for b in _resampled_blocks(stage, new_steps)]
        return _new_stage(stage, blocks, new_steps)

    swapped = _map_stages(model, swap)
    if isinstance(getattr(swapped, "scheme", None), str):
        swapped.scheme = scheme
    return swapped


# ------------------------------------------------------------------------------ internals
def _check_fixed_step(stage: Stage, what: str) -> None:
    if not isinstance(stage, Stage):
        raise TypeError(f"{what}_stage needs an odenets Stage, got {type(stage).__name__}")
    if issubclass(stage.scheme, AdaptiveBlock):
        raise ValueError(
            f"cannot {what} a stage of the adaptive scheme {stage.scheme.name!r}: its solver "
            f"chooses its own steps inside each block; tighten or loosen its tolerances "
            f"(rtol/atol) or its options['step_size'] instead"
        )


def _rebuild(stage: Stage, steps: int) -> Stage:
    return _new_stage(stage, _resampled_blocks(stage, steps), steps)


def _new_stage(stage: Stage, blocks: list[Block], steps: int) -> Stage:
    try:
        new = Stage(blocks, stage.horizon, steps=steps, memory=stage.memory)
    except ValueError as err:
        raise ValueError(
            f"the new {type(blocks[0]).name!r} stage cannot keep memory policy "
            f"{stage.memory!r}: {err}"
        ) from err
    return new.train(stage.training)


def _resampled_blocks(stage: Stage, steps: int) -> list[Block]:
    """Copies of the stage's blocks for ``steps`` steps, per-step weights interpolated."""
    if len(stage.blocks) == 1:  # shared weights: the field does not depend on time
        return [copy.deepcopy(stage.blocks[0])]
    old = list(stage.blocks)
    blocks = []
    for i in range(steps):
        position = Fraction(i * len(old), steps)  # s_i / h_old, exact
        j = min(int(position), len(old) - 1)
        weight = position - j if j < len(old) - 1 else Fraction(0)
        blocks.append(_interpolate(old[j], old[j + 1] if weight else None, float(weight)))
    return blocks


def _interpolate(left: Block, right: Block | None, weight: float) -> Block:
    """``(1 − w)·left + w·right`` on every floating tensor of the state dict (w = 0: a copy)."""
    block = copy.deepcopy(left)
    if right is None:
        return block
    right_state = right.state_dict()
    state = {
        key: torch.lerp(value, right_state[key], weight) if value.is_floating_point() else value
        for key, value in left.state_dict().items()
    }
    block.load_state_dict(state)
    return block


def _check_swap(source: type[Block], target: type[Block]) -> None:
    why = None
    if source.state_layout is not target.state_layout:
        why = (
            f"{source.name!r} advances a state {source.state_layout.value} but "
            f"{target.name!r} a state {target.state_layout.value}"
        )
    elif source.ode_form is not target.ode_form:
        why = (
            f"{source.name!r} discretises {source.ode_form.value} but {target.name!r} "
            f"{target.ode_form.value}: the same field would define another ODE"
        )
    elif source.num_fields != target.num_fields:
        why = (
            f"{source.name!r} uses {source.num_fields} vector field(s), {target.name!r} "
            f"{target.num_fields}"
        )
    if why:
        raise ValueError(f"cannot swap scheme {source.name!r} to {target.name!r}: {why}")


def _convert(block: Block, target: type[Block], scheme_kwargs: dict) -> Block:
    """A block of ``target`` on the fields of ``block``, with what the schemes carry over."""
    why = block.swap_refusal(target)
    if why:
        raise ValueError(f"cannot swap scheme {block.name!r} to {target.name!r}: {why}")
    accepted = scheme_options(target)
    kept = {k: v for k, v in block.swap_options().items() if k in accepted}
    new = create_block(target, block.fields, h=block.h, **{**kept, **scheme_kwargs})
    reference = next(iter(block.parameters()), None)
    if reference is not None:  # new block-level weights (IMEX's L, LM's k) follow the fields
        new.to(device=reference.device, dtype=reference.dtype)
    new.carry_from(block)
    return new


def _map_stages(model: nn.Module, fn) -> nn.Module:
    if isinstance(model, Stage):
        return fn(model)
    new = copy.deepcopy(model)
    found = False
    for name, module in list(new.named_modules()):
        if isinstance(module, Stage):
            parent_name, _, child = name.rpartition(".")
            setattr(new.get_submodule(parent_name), child, fn(module))
            found = True
    if not found:
        raise ValueError(f"{type(model).__name__} has no odenets Stage to transform")
    return new
