"""Network-level stability: perturbation growth, gradient norms, reversibility, refinement.

* :func:`perturbation_growth`: ``‖δy_j‖/‖δy_0‖`` through the steps of a stage, both
  linearised (a JVP along a random direction) and for a finite perturbation.
* :func:`gradient_norms`: on a batch, ``‖∇_θ L‖`` of every block's weights and the RMS over
  examples of ``‖∂ℓ/∂y_j‖`` for every state of every stage (exploding / vanishing).
* :func:`reversibility_error`: ``‖inverse(step(s)) − s‖ / ‖s‖`` of a reversible block.
* :func:`refinement_consistency`: the output change when every stage is refined
  ``N → 2N → 4N`` steps (``h → h/2 → h/4``) and the observed order ``log₂(d₁/d₂)``.

Singular values of the input–output and stage maps come from
:func:`odenets.diagnostics.spectra.singular_values` on a :class:`LinearizedMap`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..blocks.base import AdaptiveBlock, Block, ReversibleBlock
from ..refine import refine_model
from ..stage import Stage
from .operators import LinearizedMap, flatten_state, state_tensors


def find_stages(model: nn.Module) -> list[tuple[str, Stage]]:
    """The ``(name, Stage)`` pairs of a model, in registration order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, Stage)]


def _stage_outputs(stage: Stage, y0: torch.Tensor) -> list[torch.Tensor]:
    """``output(state_j)`` for ``j = 0..N`` (the tensor the stage would hand on)."""
    return [stage.blocks[-1].output(state) for _, _, state in stage.states(y0)]


def perturbation_growth(
    stage: Stage, y0: torch.Tensor, seed: int = 0, relative_size: float = 1e-3
) -> dict[str, list[float]]:
    """Growth ``‖δy_j‖/‖δy_0‖`` of a perturbation of the stage input, for ``j = 0..N``.

    ``linear``: the linearised growth along one random unit direction (a JVP, exact for an
    infinitesimal perturbation); ``finite``: the same direction scaled to
    ``relative_size·‖y_0‖``, propagated through the nonlinear steps.
    """
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(y0.shape, generator=gen, dtype=y0.dtype).to(y0.device)
    v = v / v.norm()
    with torch.no_grad():
        sizes = [t.numel() for t in _stage_outputs(stage, y0)]
        trajectory = LinearizedMap(
            lambda y: torch.cat([t.reshape(-1) for t in _stage_outputs(stage, y)]), y0
        )
        tangents = torch.split(trajectory.matvec(v.reshape(-1)), sizes)
        eps = relative_size * float(y0.norm()) or relative_size
        base = _stage_outputs(stage, y0)
        moved = _stage_outputs(stage, y0 + eps * v)
    linear = [float(t.norm()) for t in tangents]
    finite = [float((b - m).norm()) / eps for b, m in zip(base, moved, strict=True)]
    return {"linear": linear, "finite": finite}


def reversibility_error(block: Block, state, first: bool = False) -> float | None:
    """``‖inverse(step(s)) − s‖ / ‖s‖``; ``None`` if not reversible or, for the first step
    of a stage (``first``), if the scheme takes it with a starter step that ``inverse`` does
    not undo."""
    if not isinstance(block, ReversibleBlock) or (first and block.has_own_starter):
        return None
    with torch.no_grad():
        back = block.inverse(block.step(state))
        s = flatten_state(state)
        return float((flatten_state(back) - s).norm() / s.norm().clamp_min(1e-300))


def default_loss(output: torch.Tensor, labels: torch.Tensor | None, seed: int = 0):
    """``(per-example losses, description)``: cross-entropy with labels, else ``⟨out, u⟩``.

    Without labels the loss is a fixed random unit projection of the output, so that
    ``∂ℓ/∂y_j = J_{j→out}ᵀ u`` measures how the backward pass scales a unit signal.
    """
    if labels is not None and output.dim() == 2 and labels.dim() == 1:
        return F.cross_entropy(output, labels, reduction="none"), "cross-entropy"
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(output.shape[1:], generator=gen, dtype=output.dtype).to(output.device)
    u = u / u.norm()
    per_example = (output * u).reshape(output.shape[0], -1).sum(dim=1)
    return per_example, "random unit projection <out, u>"


def gradient_norms(model: nn.Module, x: torch.Tensor, labels=None, seed: int = 0) -> dict:
    """Per-block weight-gradient norms and per-state gradient norms on a batch.

    Each stage's forward is recomputed through ``stage.states`` inside a forward hook (same
    values as the stage's memory policy) so that every state ``y_j`` is on the graph.
    """
    stages = find_stages(model)
    recorded: dict[int, list] = {}

    def hook(stage, args, output):
        states = [state for _, _, state in stage.states(args[0])]
        recorded[id(stage)] = states
        return stage.blocks[-1].output(states[-1])

    handles = [stage.register_forward_hook(hook) for _, stage in stages]
    try:
        with torch.enable_grad():
            # the input requires grad so that every state is on the graph, even when the
            # first stage reads the model input directly
            output = model(x.detach().requires_grad_(x.is_floating_point()))
            per_example, description = default_loss(output, labels, seed)
            total = per_example.sum()
            state_lists = [recorded.get(id(stage), []) for _, stage in stages]
            state_inputs = [t for states in state_lists for s in states for t in state_tensors(s)]
            params = [p for _, stage in stages for p in stage.parameters()]
            grads = torch.autograd.grad(
                total, state_inputs + params, allow_unused=True, materialize_grads=True
            )
    finally:
        for handle in handles:
            handle.remove()
    batch = x.shape[0]
    state_grads, param_grads = grads[: len(state_inputs)], grads[len(state_inputs) :]
    it_state, it_param = iter(state_grads), iter(param_grads)
    result = {"loss": description, "stages": []}
    for (_, stage), states in zip(stages, state_lists, strict=True):
        per_state = []
        for s in states:
            g = [next(it_state) for _ in state_tensors(s)]
            sq = sum(t.reshape(batch, -1).pow(2).sum(dim=1) for t in g)
            per_state.append(float(sq.mean().sqrt()))
        per_block = []
        for block in stage.blocks:
            sq = sum(float(next(it_param).pow(2).sum()) for _ in block.parameters())
            per_block.append(math.sqrt(sq) / batch)  # the gradient of the mean loss
        result["stages"].append({"state_grad_norms": per_state, "param_grad_norms": per_block})
    return result


# ------------------------------------------------------------------------------ refinement
def refinement_consistency(model: nn.Module, x: torch.Tensor) -> dict:
    """Output change under depth refinement ``N → 2N → 4N`` and the observed order.

    ``d₁ = ‖f_{2N}(x) − f_N(x)‖/‖f_N(x)‖``, ``d₂ = ‖f_{4N}(x) − f_{2N}(x)‖/‖f_N(x)‖``; for a
    consistent scheme of order ``p`` with smooth weights ``d₁/d₂ → 2^p``.
    """
    stages = find_stages(model)
    if any(isinstance(b, AdaptiveBlock) for _, s in stages for b in s.blocks):
        return {"skipped": "adaptive blocks choose their own steps; refinement does not apply"}
    how = "odenets.refine.refine_model"
    try:
        twice = refine_model(model)
        four = refine_model(twice)
    except ValueError as err:
        return {"skipped": f"refinement not possible: {err}"}
    with torch.no_grad():
        outs = [m.eval()(x) for m in (model, twice, four)]
    scale = float(outs[0].norm()) or 1.0
    d1 = float((outs[1] - outs[0]).norm()) / scale
    d2 = float((outs[2] - outs[1]).norm()) / scale
    order = math.log2(d1 / d2) if d1 > 0 and d2 > 0 else None
    return {"method": how, "change_2N": d1, "change_4N": d2, "observed_order": order}
