"""Neural ODE (Chen et al. 2018): a block that integrates its field with torchdiffeq."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torchdiffeq
from torch import nn

from .._validation import check_positive_int
from ..registry import register_scheme
from ..stability import StabilityFunction
from .base import AdaptiveBlock, Block


class TimeDependentField(nn.Module):
    """A vector field ``F(y, t)`` of the state and the time (e.g. Chen et al.'s ConcatConv).

    :class:`NodeBlock` calls it as ``field(y, t)`` with ``t`` the time within the step
    (``0 ≤ t ≤ h``, a 0-d tensor); fixed-step schemes call ``field(y)``, which means ``t = 0``.
    """

    def forward(self, y: torch.Tensor, t: torch.Tensor | float = 0.0) -> torch.Tensor:
        raise NotImplementedError


@register_scheme
class NodeBlock(AdaptiveBlock):
    """Neural ODE: ``y⁺ = y(h)`` for ``y' = F(y)``, ``y(0) = y``, solved by torchdiffeq.

    Chen, Rubanova, Bettencourt & Duvenaud (2018). ``method`` is any torchdiffeq solver
    (default ``dopri5``: Dormand–Prince 5(4), adaptive, order 5) with tolerances ``rtol``,
    ``atol`` (defaults 1e-6, 1e-8, accurate solves for analysis and scheme swaps; Chen et al.
    train at 1e-3, and the models set their own: docs/continuous.md) and solver ``options``
    (e.g. ``{"step_size": 0.1}`` for fixed-grid methods; without it a fixed-grid method takes
    one step of size ``h``). ``adjoint=True`` back-propagates with the adjoint ODE
    (``odeint_adjoint``: memory independent of the number of solver steps); it is the block's
    own setting, which ``memory="adjoint"`` overrides per call through
    ``solve(y, adjoint=True)`` without changing it.
    ``augment=p`` appends ``p`` zero channels at ``init`` and drops them at ``output``
    (augmented Neural ODE, Dupont et al. 2019): the field acts on ``C + p`` channels.

    **Evaluation solver.** ``eval_method``, ``eval_rtol``, ``eval_atol``, ``eval_options``
    (``None``: the training value) are used when the block is in ``eval()`` mode: e.g.
    train on a fixed grid (``method="rk4", options={"step_size": 0.5}``) and evaluate with
    an adaptive solver (``eval_method="dopri5"``), or the reverse.

    **Regularisers** (RNODE, Finlay, Jacobsen, Nurbekyan & Oberman 2020, "How to train your
    neural ODE"), computed only in training mode with gradients on: the state is augmented by
    per-example accumulators integrated with it by the same solver,

    * kinetic energy ``K = (1/B) Σ_b ∫₀ᵀ ‖F(y_b(t))‖² / D dt``,
    * Jacobian Frobenius norm ``J = (1/B) Σ_b ∫₀ᵀ ‖εᵀ ∂F/∂y(y_b(t))‖² / D dt``, the Hutchinson
      estimate of ``∫ ‖∂F/∂y‖_F² / D dt`` (``E[εεᵀ] = I``; one probe ``ε`` per example and
      solve, Gaussian or Rademacher (``probe``), fixed over the solve as in RNODE),

    with ``D`` the number of state entries per example. ``regularization_loss`` (a tensor
    with its graph, or ``None``) is ``kinetic·K + jacobian·J`` of the last training solve,
    ``kinetic_energy`` and ``jacobian_frobenius`` its two terms (floats, for logging);
    :func:`odenets.regularizers.continuous_penalty` sums the loss over a model.

    **STEER** (Ghosh, Behl, Dupont, Torr & Namboodiri 2020): with ``steer=b`` (``0 ≤ b <
    h``) each training solve ends at ``T ~ U(h − b, h + b)`` instead of ``h``; evaluation
    ends at ``h``.

    ``order`` and ``stability`` are those of the chosen method; the stability argument is
    ``dt·λ`` with ``dt`` the solver's internal step (``h`` for a fixed-grid method without
    ``step_size``). After each ``step``: ``nfe_forward`` counts the field evaluations it made,
    ``nfe_backward`` those of the adjoint solves run since (0 with direct backprop, which
    differentiates the stored graph of the forward evaluations instead); ``steps_accepted``
    and ``steps_rejected`` count the solver's steps (every grid step of a fixed-grid method is
    accepted), ``steps_accepted_backward`` / ``steps_rejected_backward`` those of the adjoint
    solve. Methods that report no steps (``scipy_solver``) leave them ``None``.
    """

    name = "node"
    order = 5
    default_field = "residual"
    default_field_kwargs = ({"norm": None, "act": "tanh"},)  # smooth: adaptive steps stay large
    # The small variants solve at rtol = atol = 1e-3: measured on digits (seed 0, 8 epochs),
    # dopri5 then takes 20 evaluations per forward (3 accepted steps) against 172 at the
    # block default, 2.5 s/epoch instead of 16.6 s, and 96.67 % instead of 95.19 ± 0.80 %
    # (docs/continuous.md: the learned field is not stiff, |λ| ≲ 0.7).
    small_variant_kwargs = {"rtol": 1e-3, "atol": 1e-3}

    def __init__(
        self,
        fields,
        h: float,
        method: str = "dopri5",
        rtol: float = 1e-6,
        atol: float = 1e-8,
        options: dict | None = None,
        adjoint: bool = False,
        augment: int = 0,
        *,
        kinetic: float = 0.0,
        jacobian: float = 0.0,
        probe: str = "gaussian",
        steer: float = 0.0,
        eval_method: str | None = None,
        eval_rtol: float | None = None,
        eval_atol: float | None = None,
        eval_options: dict | None = None,
    ):
        super().__init__(fields, h)
        self.method = _check_method(method, "method")
        self.rtol = _check_tolerance(rtol, "rtol")
        self.atol = _check_tolerance(atol, "atol")
        self.options = _check_options(method, options)
        if not isinstance(adjoint, bool):
            raise TypeError(f"adjoint must be True or False, got {adjoint!r}")
        self.adjoint = adjoint
        self.augment = 0 if augment == 0 else check_positive_int(augment, "augment")
        self.order = ODE_METHODS[method].order
        self.kinetic = _check_weight(kinetic, "kinetic")
        self.jacobian = _check_weight(jacobian, "jacobian")
        if probe not in PROBES:
            raise ValueError(f"probe must be one of {sorted(PROBES)}, got {probe!r}")
        self.probe = probe
        self.steer = _check_weight(steer, "steer")
        if self.steer >= self.h:
            raise ValueError(
                f"steer = {steer!r} must be smaller than h = {self.h!r}: the end time is drawn "
                f"from U(h - steer, h + steer) and must stay > 0"
            )
        self.eval_method = (
            None if eval_method is None else _check_method(eval_method, "eval_method")
        )
        self.eval_rtol = None if eval_rtol is None else _check_tolerance(eval_rtol, "eval_rtol")
        self.eval_atol = None if eval_atol is None else _check_tolerance(eval_atol, "eval_atol")
        if eval_options is not None:
            eval_options = _check_options(eval_method or method, eval_options)
        elif eval_method is not None and ODE_METHODS[eval_method].kind != ODE_METHODS[method].kind:
            eval_options = {}  # the training options belong to another kind of solver
        self.eval_options = eval_options
        self.nfe_forward = 0
        self._backward = {"nfe": 0, "accepted": 0, "rejected": 0}
        self.steps_accepted: int | None = 0
        self.steps_rejected: int | None = 0
        self.regularization_loss: torch.Tensor | None = None
        self.kinetic_energy: float | None = None
        self.jacobian_frobenius: float | None = None

    @property
    def nfe_backward(self) -> int:
        return self._backward["nfe"]

    @property
    def steps_accepted_backward(self) -> int | None:
        return self._backward["accepted"]

    @property
    def steps_rejected_backward(self) -> int | None:
        return self._backward["rejected"]

    @property
    def time_dependent(self) -> bool:
        return isinstance(self.field, TimeDependentField)

    @property
    def regularized(self) -> bool:
        return bool(self.kinetic or self.jacobian)

    @property
    def stability(self):
        return method_stability(self.method)

    @classmethod
    def declared_stability(cls):
        return method_stability("dopri5")

    def solver_settings(self, training: bool | None = None) -> dict:
        """``method``, ``rtol``, ``atol``, ``options`` of a training (or evaluation) solve."""
        training = self.training if training is None else training
        settings = dict(method=self.method, rtol=self.rtol, atol=self.atol, options=self.options)
        if not training:
            for key in settings:
                value = getattr(self, f"eval_{key}")
                if value is not None:
                    settings[key] = value
        return settings

    def init(self, y0: torch.Tensor) -> torch.Tensor:
        if not self.augment:
            return y0
        zeros = y0.new_zeros((y0.shape[0], self.augment) + tuple(y0.shape[2:]))
        return torch.cat([y0, zeros], dim=1)

    def output(self, state: torch.Tensor) -> torch.Tensor:
        return state[:, : state.shape[1] - self.augment] if self.augment else state

    def end_time(self, y: torch.Tensor) -> torch.Tensor:
        """``h``, or in training with ``steer = b`` a draw of ``U(h − b, h + b)``."""
        if self.training and self.steer:
            u = torch.rand((), dtype=y.dtype, device=y.device)
            return self.h + self.steer * (2 * u - 1)
        return torch.tensor(self.h, dtype=y.dtype, device=y.device)

    def solve(self, y: torch.Tensor, *, adjoint: bool) -> torch.Tensor:
        """``y(h)``; ``adjoint=True`` differentiates by the adjoint ODE (``odeint_adjoint``)."""
        settings = self.solver_settings()
        regularize = self.regularized and self.training and torch.is_grad_enabled()
        probe = _draw_probe(y, self.probe) if regularize and self.jacobian else None
        func = _make_func(
            self.field, self.time_dependent, ODE_METHODS[settings["method"]].kind,
            kinetic=regularize and bool(self.kinetic), probe=probe,
        )  # fmt: skip
        t = torch.stack([torch.zeros((), dtype=y.dtype, device=y.device), self.end_time(y)])
        state = (y, y.new_zeros(y.shape[0], func.num_terms)) if regularize else y
        solver = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
        solution = solver(func, state, t, **settings)
        self.nfe_forward = func.counts["nfe"]
        self.steps_accepted = func.counts["accepted"]
        self.steps_rejected = func.counts["rejected"]
        self._backward = func.counts = func.fresh_counts()  # later calls: the adjoint solve
        if not regularize:
            self.regularization_loss = self.kinetic_energy = self.jacobian_frobenius = None
            return solution[-1]
        y1, terms = solution[0][-1], solution[1][-1].mean(0)
        loss, index = 0.0, 0
        self.kinetic_energy = self.jacobian_frobenius = None
        if self.kinetic:
            self.kinetic_energy = float(terms[index].detach())
            loss = loss + self.kinetic * terms[index]
            index += 1
        if self.jacobian:
            self.jacobian_frobenius = float(terms[index].detach())
            loss = loss + self.jacobian * terms[index]
        self.regularization_loss = loss
        return y1

    # ---------------------------------------------------------------------- swaps
    def swap_refusal(self, target: type[Block]) -> str | None:
        if issubclass(target, NodeBlock) or not (self.augment or self.time_dependent):
            return None
        what = "augmented channels" if self.augment else "a time-dependent field F(y, t)"
        return (
            f"this node block has {what}, which fixed-step blocks (calling F(y)) cannot "
            f"represent; swap to 'node' with method='rk4' or 'euler' instead"
        )

    def swap_options(self) -> dict:
        return {"augment": self.augment}

    def extra_repr(self) -> str:
        extra = f", augment={self.augment}" if self.augment else ""
        for key in ("kinetic", "jacobian", "steer"):
            if getattr(self, key):
                extra += f", {key}={getattr(self, key):g}"
        if self.eval_method is not None:
            extra += f", eval_method={self.eval_method!r}"
        return (
            f"h={self.h:g}, method={self.method!r}, rtol={self.rtol:g}, atol={self.atol:g}, "
            f"adjoint={self.adjoint}{extra}"
        )


PROBES = ("gaussian", "rademacher")


def _draw_probe(y: torch.Tensor, kind: str) -> torch.Tensor:
    """A Hutchinson probe ``ε`` like ``y`` with ``E[ε] = 0`` and ``E[εεᵀ] = I``."""
    if kind == "gaussian":
        return torch.randn_like(y)
    return torch.randint_like(y, 0, 2).mul_(2).sub_(1)


class _ODEFunc(nn.Module):
    """``f(t, y)`` for torchdiffeq around a field ``F(y)`` (or ``F(y, t)``), counting calls.

    With regularisers the state is ``(y, r)``, ``r`` the per-example accumulators
    ``dr/dt = [‖F‖²/D, ‖εᵀ∂F/∂y‖²/D]`` (the terms asked for, in that order).
    """

    def __init__(self, field: nn.Module, time_dependent: bool, kinetic: bool, probe):
        super().__init__()
        self.field = field
        self.time_dependent = time_dependent
        self.kinetic = kinetic
        self.probe = probe
        self.num_terms = int(kinetic) + int(probe is not None)
        self.counts = self.fresh_counts()

    @staticmethod
    def fresh_counts() -> dict:
        return {"nfe": 0, "accepted": 0, "rejected": 0}

    def evaluate(self, t, y):
        return self.field(y, t) if self.time_dependent else self.field(y)

    def forward(self, t, state):
        self.counts["nfe"] += 1
        if not self.num_terms:
            return self.evaluate(t, state)
        y = state[0]
        with torch.enable_grad():
            if self.probe is not None and not y.requires_grad:
                y = y.detach().requires_grad_(True)
            f = self.evaluate(t, y)
            size = f[0].numel()
            terms = []
            if self.kinetic:
                terms.append(f.pow(2).flatten(1).sum(1) / size)
            if self.probe is not None:
                (vjp,) = torch.autograd.grad(f, y, self.probe, create_graph=True)
                terms.append(vjp.pow(2).flatten(1).sum(1) / size)
        return f, torch.stack(terms, dim=1)


class _FixedGridFunc(_ODEFunc):
    def callback_step(self, t0, y0, dt):
        self.counts["accepted"] += 1

    def callback_step_adjoint(self, t0, y0, dt):
        self.counts["accepted"] += 1


class _AdaptiveFunc(_ODEFunc):
    def callback_accept_step(self, t0, y0, dt):
        self.counts["accepted"] += 1

    def callback_reject_step(self, t0, y0, dt):
        self.counts["rejected"] += 1

    def callback_accept_step_adjoint(self, t0, y0, dt):
        self.counts["accepted"] += 1

    def callback_reject_step_adjoint(self, t0, y0, dt):
        self.counts["rejected"] += 1


class _UncountedFunc(_ODEFunc):
    @staticmethod
    def fresh_counts() -> dict:
        return {"nfe": 0, "accepted": None, "rejected": None}


_FUNCS = {"adaptive": _AdaptiveFunc, "fixed": _FixedGridFunc, "multistep": _FixedGridFunc,
          "external": _UncountedFunc}  # fmt: skip


def _make_func(field, time_dependent: bool, kind: str, kinetic: bool, probe) -> _ODEFunc:
    return _FUNCS[kind](field, time_dependent, kinetic, probe)


# ------------------------------------------------------------------------- method facts
@dataclass(frozen=True)
class ODEMethod:
    """What the library knows of a torchdiffeq method (from torchdiffeq's documentation).

    ``kind``: ``"adaptive"`` (embedded explicit RK pair, error-controlled), ``"fixed"``
    (explicit RK on a fixed grid), ``"multistep"`` (Adams, fixed grid) or ``"external"``
    (scipy); ``order``: of the propagated solution (for multistep, the largest of the
    variable order); ``options``: the keyword options its solver takes.
    """

    kind: str
    order: int

    @property
    def options(self) -> frozenset[str]:
        return _OPTIONS[self.kind]

    @property
    def explicit_runge_kutta(self) -> bool:
        return self.kind in ("adaptive", "fixed")


_ADAPTIVE = {"first_step", "safety", "ifactor", "dfactor", "max_num_steps", "step_t", "jump_t",
             "dtype", "max_step", "min_step"}  # fmt: skip
_FIXED = {"step_size", "grid_constructor", "perturb", "interp"}
_OPTIONS = {
    "adaptive": frozenset(_ADAPTIVE | {"norm"}),
    "fixed": frozenset(_FIXED | {"norm"}),
    "multistep": frozenset(_FIXED | {"max_order", "max_iters", "implicit", "norm"}),
    "external": frozenset({"solver", "max_step", "min_step", "norm"}),
}
#: torchdiffeq's methods (its README and FURTHER_DOCUMENTATION); ``scipy_solver``'s order
#: depends on the scipy method it wraps, so it is declared 1 (no claim)
ODE_METHODS = {
    "dopri8": ODEMethod("adaptive", 8),
    "dopri5": ODEMethod("adaptive", 5),
    "bosh3": ODEMethod("adaptive", 3),
    "fehlberg2": ODEMethod("adaptive", 2),
    "adaptive_heun": ODEMethod("adaptive", 2),
    "euler": ODEMethod("fixed", 1),
    "midpoint": ODEMethod("fixed", 2),
    "heun2": ODEMethod("fixed", 2),
    "heun3": ODEMethod("fixed", 3),
    "rk4": ODEMethod("fixed", 4),
    "explicit_adams": ODEMethod("multistep", 4),
    "implicit_adams": ODEMethod("multistep", 4),
    "fixed_adams": ODEMethod("multistep", 4),
    "scipy_solver": ODEMethod("external", 1),
}
_ARG = "dt·λ(∂F/∂y), dt the solver's internal step"
#: highest degree of R(z) the measurement resolves (dopri8 has 13 stages)
_MAX_DEGREE = 16


def method_stability(method: str) -> StabilityFunction:
    """Stability function ``R(z)`` of one step of a torchdiffeq explicit Runge–Kutta method.

    Measured from the method itself through torchdiffeq's public ``odeint``: one step of
    size 1 on ``y' = N y``, ``N`` the nilpotent shift (``N e_k = e_{k+1}``), from ``e_0``.
    Every stage of an explicit RK step is a polynomial in ``N`` applied to ``y₀``, so the
    step returns ``R(N) e_0 = Σ_k c_k e_k``: the coefficients of ``R``, exact up to
    round-off (e.g. dopri5: degree 6, last coefficient 1/600). Variable-order multistep and
    external (scipy) methods have no single ``R(z)``.
    """
    if not ODE_METHODS[method].explicit_runge_kutta:
        rk = sorted(m for m, facts in ODE_METHODS.items() if facts.explicit_runge_kutta)
        raise ValueError(
            f"ODE method {method!r} is a variable-order multistep or external solver: it has "
            f"no single stability function R(z); use an explicit Runge–Kutta method ({rk})"
        )
    coefficients = _measured_coefficients(method)
    return StabilityFunction(
        coefficients,
        formula=f"R(z) = polynomial of degree {len(coefficients) - 1} ({method}, measured)",
        argument=_ARG,
    )


@functools.cache
def _measured_coefficients(method: str) -> tuple[float, ...]:
    n = _MAX_DEGREE + 1
    shift = torch.diag(torch.ones(n - 1, dtype=torch.float64), -1)
    e0 = torch.zeros(n, dtype=torch.float64)
    e0[0] = 1.0
    fixed = ODE_METHODS[method].kind == "fixed"
    # one step of size 1: a fixed grid of one cell, or a first step that is always accepted
    options = {"step_size": 1.0} if fixed else {"first_step": 1.0}
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with torch.no_grad():
        y1 = torchdiffeq.odeint(lambda _, y: shift @ y, e0, t, rtol=1e30, atol=1e30,
                                method=method, options=options)[-1]  # fmt: skip
    coefficients = y1.tolist()
    if coefficients[-1] != 0.0:
        raise RuntimeError(f"R(z) of {method!r} has degree > {_MAX_DEGREE}: not resolved")
    while len(coefficients) > 1 and abs(coefficients[-1]) < 1e-15:
        coefficients.pop()
    return tuple(coefficients)


def _check_tolerance(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a positive real number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be finite and > 0, got {value!r}")
    return float(value)


def _check_method(method, what: str) -> str:
    if method not in ODE_METHODS:
        raise ValueError(
            f"Unknown ODE {what} {method!r}; valid torchdiffeq methods: {sorted(ODE_METHODS)}"
        )
    return method


def _check_weight(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a real number >= 0, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be finite and >= 0, got {value!r}")
    return float(value)


def _check_options(method: str, options: dict | None) -> dict:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict of solver options, got {type(options).__name__}")
    allowed = ODE_METHODS[method].options
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"ODE method {method!r} does not accept option(s) {unknown}; "
            f"accepted: {sorted(allowed)}"
        )
    if "step_size" in options and options["step_size"] is not None:
        _check_tolerance(options["step_size"], "options['step_size']")
    return dict(options)
