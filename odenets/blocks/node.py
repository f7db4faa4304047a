"""Neural ODE (Chen et al. 2018): a block that integrates its field with torchdiffeq."""

from __future__ import annotations

import inspect
import math

import numpy as np
import torch
import torchdiffeq
from torch import nn
from torchdiffeq._impl.odeint import SOLVERS

from .._validation import check_positive_int
from ..registry import register_scheme
from ..stability import StabilityFunction
from .base import AdaptiveBlock


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
    ``atol`` and solver ``options`` (e.g. ``{"step_size": 0.1}`` for fixed-grid methods;
    without it a fixed-grid method takes one step of size ``h``). ``adjoint=True``
    back-propagates with the adjoint ODE (``odeint_adjoint``: memory independent of the
    number of solver steps); it is a plain attribute that memory policies may switch.
    ``augment=p`` appends ``p`` zero channels at ``init`` and drops them at ``output``
    (augmented Neural ODE, Dupont et al. 2019): the field acts on ``C + p`` channels.

    ``order`` and ``stability`` are those of the chosen method; the stability argument is
    ``dt·λ`` with ``dt`` the solver's internal step (``h`` for a fixed-grid method without
    ``step_size``). After each ``step``: ``nfe_forward`` counts the field evaluations it made,
    ``nfe_backward`` those of the adjoint solves run since (0 with direct backprop, which
    differentiates the stored graph of the forward evaluations instead).
    """

    name = "node"
    order = 5
    default_field = "residual"
    default_field_kwargs = ({"norm": None, "act": "tanh"},)  # smooth: adaptive steps stay large

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
    ):
        super().__init__(fields, h)
        if method not in SOLVERS:
            raise ValueError(
                f"Unknown ODE method {method!r}; valid torchdiffeq methods: {sorted(SOLVERS)}"
            )
        self.method = method
        self.rtol = _check_tolerance(rtol, "rtol")
        self.atol = _check_tolerance(atol, "atol")
        self.options = _check_options(method, options)
        if not isinstance(adjoint, bool):
            raise TypeError(f"adjoint must be True or False, got {adjoint!r}")
        self.adjoint = adjoint
        self.augment = 0 if augment == 0 else check_positive_int(augment, "augment")
        self.order = _ORDERS.get(method, getattr(SOLVERS[method], "order", 1))
        self.nfe_forward = 0
        self._backward_calls = [0]

    @property
    def nfe_backward(self) -> int:
        return self._backward_calls[0]

    @property
    def time_dependent(self) -> bool:
        return isinstance(self.field, TimeDependentField)

    @property
    def stability(self):
        return method_stability(self.method)

    @classmethod
    def declared_stability(cls):
        return method_stability("dopri5")

    def init(self, y0: torch.Tensor) -> torch.Tensor:
        if not self.augment:
            return y0
        zeros = y0.new_zeros((y0.shape[0], self.augment) + tuple(y0.shape[2:]))
        return torch.cat([y0, zeros], dim=1)

    def output(self, state: torch.Tensor) -> torch.Tensor:
        return state[:, : state.shape[1] - self.augment] if self.augment else state

    def step(self, y: torch.Tensor) -> torch.Tensor:
        forward_calls = [0]
        func = _ODEFunc(self.field, self.time_dependent, forward_calls)
        t = torch.tensor([0.0, self.h], dtype=y.dtype, device=y.device)
        kwargs = dict(rtol=self.rtol, atol=self.atol, method=self.method, options=self.options)
        if self.adjoint:
            solution = torchdiffeq.odeint_adjoint(func, y, t, **kwargs)
        else:
            solution = torchdiffeq.odeint(func, y, t, **kwargs)
        self.nfe_forward = forward_calls[0]
        self._backward_calls = func.calls = [0]  # later calls come from the adjoint solve
        return solution[-1]

    def extra_repr(self) -> str:
        extra = f", augment={self.augment}" if self.augment else ""
        return (
            f"h={self.h:g}, method={self.method!r}, rtol={self.rtol:g}, atol={self.atol:g}, "
            f"adjoint={self.adjoint}{extra}"
        )


class _ODEFunc(nn.Module):
    """``f(t, y)`` for torchdiffeq around a field ``F(y)`` (or ``F(y, t)``), counting calls."""

    def __init__(self, field: nn.Module, time_dependent: bool, calls: list[int]):
        super().__init__()
        self.field = field
        self.time_dependent = time_dependent
        self.calls = calls

    def forward(self, t, y):
        self.calls[0] += 1
        return self.field(y, t) if self.time_dependent else self.field(y)


# ------------------------------------------------------------------------- method facts
# orders of the multistep / external methods (the RK classes carry their own `order`)
_ORDERS = {"explicit_adams": 4, "implicit_adams": 4, "fixed_adams": 4}
# fixed-grid explicit RK methods with s = p ≤ 4: R(z) is the Taylor polynomial of degree p
_TAYLOR_DEGREE = {"euler": 1, "midpoint": 2, "heun2": 2, "heun3": 3, "rk4": 4}


def method_stability(method: str) -> StabilityFunction:
    """Stability function ``R(z)`` of a torchdiffeq method, computed from its tableau.

    Explicit RK: ``R(z) = 1 + Σ_k (bᵀA^{k−1}𝟙) z^k`` (e.g. dopri5: degree 6, last coefficient
    1/600). Variable-order multistep and external (scipy) methods have no single ``R(z)``.
    """
    if method in _TAYLOR_DEGREE:
        p = _TAYLOR_DEGREE[method]
        coefficients = tuple(1.0 / math.factorial(k) for k in range(p + 1))
        return StabilityFunction(coefficients, formula=f"R(z) = Σ_(k≤{p}) z^k/k!", argument=_ARG)
    tableau = getattr(SOLVERS[method], "tableau", None)
    if tableau is None:
        raise ValueError(
            f"ODE method {method!r} is a variable-order multistep or external solver: it has "
            f"no single stability function R(z); use an explicit Runge–Kutta method "
            f"({sorted(_TAYLOR_DEGREE)} or an adaptive RK such as 'dopri5')"
        )
    b = tableau.c_sol.double().numpy()
    s = len(b)
    a = np.zeros((s, s))
    for i, row in enumerate(tableau.beta):
        a[i + 1, : len(row)] = row.double().numpy()
    coefficients, v = [1.0], np.ones(s)
    for _ in range(s):
        coefficients.append(float(b @ v))
        v = a @ v
    while abs(coefficients[-1]) < 1e-15:
        coefficients.pop()
    return StabilityFunction(
        tuple(coefficients),
        formula=f"R(z) = polynomial of degree {len(coefficients) - 1} ({method} tableau)",
        argument=_ARG,
    )


_ARG = "dt·λ(∂F/∂y), dt the solver's internal step"


def _check_tolerance(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a positive real number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be finite and > 0, got {value!r}")
    return float(value)


def _check_options(method: str, options: dict | None) -> dict:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict of solver options, got {type(options).__name__}")
    allowed = _solver_options(SOLVERS[method])
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"ODE method {method!r} does not accept option(s) {unknown}; "
            f"accepted: {sorted(allowed)}"
        )
    if "step_size" in options and options["step_size"] is not None:
        _check_tolerance(options["step_size"], "options['step_size']")
    return dict(options)


def _solver_options(solver: type) -> set[str]:
    """Keyword options of a torchdiffeq solver class (its ``__init__`` chain) and ``norm``."""
    names = {"norm"}
    for cls in solver.__mro__:
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names - {"self", "func", "y0", "rtol", "atol"}
