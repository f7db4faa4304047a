"""The structured result of :func:`odenets.diagnostics.diagnose`: dataclasses → dict/JSON.

A :class:`Report` holds one :class:`StageReport` per stage, each with one
:class:`BlockReport` per step, and a :class:`NetworkReport`. Complex eigenvalues are
written as ``[re, im]`` pairs; ``inf``/``nan`` become ``null`` so that the JSON is strict
(``h_star_unbounded`` says when ``h_star`` is ``null`` because no limit exists).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np


def to_jsonable(value):
    """Convert numpy/complex/inf values into strict-JSON-friendly Python values."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (complex, np.complexfloating)):
        return [to_jsonable(float(value.real)), to_jsonable(float(value.imag))]
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


class _Serialisable:
    def to_dict(self) -> dict:
        return {f.name: to_jsonable(_plain(getattr(self, f.name))) for f in fields(self) if f.repr}


def _plain(value):
    if isinstance(value, _Serialisable):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass
class BlockReport(_Serialisable):
    """Spectra and stability of the block taking step ``step`` of stage ``stage``."""

    stage: int
    step: int
    scheme: str
    state_layout: str
    ode_form: str
    capabilities: list[str]
    h: float
    state_dim: int
    argument: str
    formula: str
    step_power: int
    method: str
    #: per data point: ``{"largest_modulus": [...], "largest_real": [...]}`` of λ(argument)
    eigenvalues: list[dict]
    spectral_radius: float
    max_real: float
    max_amplification: float | None = None
    margin: float | None = None
    h_star: float | None = None
    h_star_unbounded: bool = False
    #: relative tolerance h_star is exact to; the step the verdict is taken at; how; and
    #: whether every eigen-solve it rests on converged (False: no verdict is claimed)
    h_star_rtol: float | None = None
    judged_at: str = ""
    judged_h: float | None = None
    verdict_method: str = ""
    certified: bool | None = None
    #: largest |μ| of the one-step map's Jacobian (max over points) and its top eigenvalues
    step_map_radius: float | None = None
    step_map_eigenvalues: list | None = None
    reversibility_error: float | None = None
    param_grad_norm: float | None = None
    notes: list[str] = field(default_factory=list)
    # for plots, not serialised: the declared stability and the implicit eigenvalues
    stability: object = field(default=None, repr=False, compare=False)
    implicit_eigenvalues: object = field(default=None, repr=False, compare=False)
    relevant_eigenvalues: object = field(default=None, repr=False, compare=False)

    @property
    def h_ratio(self) -> float | None:
        """``h / h*`` at the step judged (``judged_h``): above 1 the step is unstable."""
        if self.h_star is None:
            return 0.0 if self.h_star_unbounded else None
        h = self.h if self.judged_h is None else self.judged_h
        return math.inf if self.h_star == 0 else h / self.h_star


@dataclass
class StageReport(_Serialisable):
    index: int
    name: str
    scheme: str
    steps: int
    horizon: float
    h: float
    shared: bool
    state_shape: list[int]
    blocks: list[BlockReport]
    #: per data point: the top singular values of ∂(stage output)/∂(stage input)
    singular_values: list[list[float]] = field(default_factory=list)
    top_singular_value: float | None = None
    #: per data point: ``{"linear": [...], "finite": [...]}``, ``‖δy_j‖/‖δy_0‖`` for j = 0..N
    growth: list[dict] = field(default_factory=list)
    #: RMS over the batch of ‖∂ℓ/∂y_j‖ for j = 0..N
    state_grad_norms: list[float] | None = None


@dataclass
class NetworkReport(_Serialisable):
    #: per data point: the top singular values of ∂(model output)/∂(model input)
    singular_values: list[list[float]] = field(default_factory=list)
    top_singular_value: float | None = None
    loss: str | None = None
    consistency: dict | None = None


@dataclass
class Report(_Serialisable):
    """Everything :func:`~odenets.diagnostics.diagnose` found, per stage and per block."""

    model: str
    num_points: int
    k: int
    dtype: str
    stages: list[StageReport]
    network: NetworkReport
    options: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def blocks(self) -> list[BlockReport]:
        return [b for s in self.stages for b in s.blocks]

    def to_json(self, path: str | Path | None = None, indent: int = 1) -> str:
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def summary(self) -> str:
        """A human-readable table: one row per block, then the network-level numbers."""
        head = (
            f"{'stage':>5} {'step':>4} {'scheme':<13} {'h':>7} {'max|λ|':>9} {'max Re λ':>9} "
            f"{'max|R|':>8} {'margin':>9} {'h*':>9} {'h/h*':>6} {'ρ(step)':>8} "
            f"{'‖∇θ‖':>9} {'rev.err':>8}"
        )
        lines = [
            f"odenets diagnostics: {self.model} ({self.num_points} point(s), k={self.k},"
            f" {self.dtype})",
            head,
            "-" * len(head),
        ]
        for b in self.blocks:
            h_star = "∞" if b.h_star_unbounded else _fmt(b.h_star)
            lines.append(
                f"{b.stage:>5} {b.step:>4} {b.scheme:<13} {b.h:>7.4g} {_fmt(b.spectral_radius)} "
                f"{_fmt(b.max_real)} {_fmt(b.max_amplification, 8)} {_fmt(b.margin)} "
                f"{h_star:>9} {_fmt(b.h_ratio, 6, '.3g')} {_fmt(b.step_map_radius, 8)} "
                f"{_fmt(b.param_grad_norm)} {_fmt(b.reversibility_error, 8, '.1e')}"
            )
        lines.append(
            "λ: eigenvalues of the operator the scheme's stability reads (JSON 'argument'); "
            "max|R|: amplification at h; h*: largest stable step; ρ(step): spectral radius "
            "of the one-step map"
        )
        lines.append("")
        for s in self.stages:
            growth = [max(g["linear"]) for g in s.growth] if s.growth else []
            sg = s.state_grad_norms
            lines.append(
                f"stage {s.index} ({s.name}: {s.scheme}, {s.steps} steps, h={s.h:.4g}): "
                f"top σ(stage map) = {_fmt(s.top_singular_value, 0)}, "
                f"max growth ‖δy_j‖/‖δy_0‖ = {_fmt(max(growth) if growth else None, 0)}, "
                f"‖∂ℓ/∂y‖ first/last = "
                f"{_fmt(sg[0] if sg else None, 0)}/{_fmt(sg[-1] if sg else None, 0)}"
            )
        net = self.network
        lines.append(f"network: top σ(∂out/∂in) = {_fmt(net.top_singular_value, 0)}")
        c = net.consistency or {}
        if "skipped" in c:
            lines.append(f"refinement: skipped ({c['skipped']})")
        elif c:
            lines.append(
                f"refinement N→2N→4N: output change {_fmt(c['change_2N'], 0)} → "
                f"{_fmt(c['change_4N'], 0)}, observed order {_fmt(c['observed_order'], 0, '.2f')}"
            )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _fmt(value, width: int = 9, spec: str = ".3g") -> str:
    if value is None:
        text = "-"
    elif isinstance(value, float) and math.isinf(value):
        text = "∞"
    else:
        text = format(value, spec)
    return text.rjust(width) if width else text
