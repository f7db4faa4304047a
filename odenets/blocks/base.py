"""The block interface: one step ``h`` of a numerical scheme applied to learned vector fields.

A block owns its vector field(s) and its step size and exposes three methods:

* ``init(y0) -> state``: build the scheme's state from a stage input tensor,
* ``step(state) -> state``: advance by one step ``h``,
* ``output(state) -> tensor``: read the stage output back from a state.

What a program needs to know about the scheme is class data (diffrax-style):

* ``state_layout``: :class:`StateLayout` ``ONE`` (a tensor ``y``), ``TWO_FIELD``
  (:class:`Pair` ``(Y, Z)``: channels split in halves once, at ``init``), or ``HISTORY``
  (:class:`History` ``(previous, current)`` of a two-step scheme),
* ``ode_form``: which continuous problem the scheme discretises, :class:`ODEForm`,
* ``order``: the classical order of accuracy,
* ``stability``: :class:`~odenets.stability.StabilityFunction` (one-step) or
  :class:`~odenets.stability.CharacteristicPolynomial` (multistep / partitioned),
* ``num_fields``: how many vector fields the scheme uses (two for partitioned schemes).

Capabilities are types, found with ``isinstance``: :class:`ReversibleBlock` (has an exact
``inverse``), :class:`ImplicitBlock` (solves a linear/nonlinear system per step) and
:class:`AdaptiveBlock` (an error-controlled ODE solver over ``h``).
"""

from __future__ import annotations

import copy
import enum
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from .._validation import check_step


class StateLayout(enum.Enum):
    ONE = "y"
    TWO_FIELD = "(Y, Z)"
    HISTORY = "(y_prev, y)"


class ODEForm(enum.Enum):
    """The continuous problem a block discretises (used by tests, refinement, diagnostics)."""

    FIRST_ORDER = "dy/dt = F(y)"
    SECOND_ORDER = "d²y/dt² = F(y), dy/dt(0) = 0"
    PARTITIONED = "dY/dt = F_Y(Z), dZ/dt = F_Z(Y)"


class Pair(NamedTuple):
    """Two-field state ``(Y, Z)`` of a partitioned scheme (Hamiltonian, RevNet)."""

    y: torch.Tensor
    z: torch.Tensor


class History(NamedTuple):
    """State of a two-step scheme: ``previous = y_{j-1}``, ``current = y_j``.

    ``previous is None`` means no history yet: the next step is the scheme's starter
    (forward Euler for midpoint and LM-ResNet, as in the papers).
    """

    previous: torch.Tensor | None
    current: torch.Tensor


State = Any  # torch.Tensor | Pair | History


class Block(nn.Module):
    """One step of a scheme. Subclasses set the class data and implement ``step``."""

    name: ClassVar[str] = ""
    state_layout: ClassVar[StateLayout] = StateLayout.ONE
    ode_form: ClassVar[ODEForm] = ODEForm.FIRST_ORDER
    order: ClassVar[int] = 1
    num_fields: ClassVar[int] = 1
    #: name of the vector field the model builders use when none is given
    default_field: ClassVar[str] = "residual"
    #: keyword arguments the default field needs from the scheme (e.g. a sign)
    default_field_kwargs: ClassVar[tuple[dict, ...]] = ({},)

    def __init__(self, fields: nn.Module | tuple[nn.Module, ...], h: float):
        super().__init__()
        fields = self._normalise_fields(fields)
        self.fields = nn.ModuleList(fields)
        self.h = h

    # ------------------------------------------------------------------ fields and step
    @classmethod
    def _normalise_fields(cls, fields) -> list[nn.Module]:
        if not isinstance(fields, (list, tuple, nn.ModuleList)):
            fields = [fields]  # one field (a module, or anything else: rejected below)
        fields = list(fields)
        for f in fields:
            if not isinstance(f, nn.Module):
                raise TypeError(
                    f"scheme {cls.name!r}: a vector field must be a torch.nn.Module mapping a "
                    f"state tensor to its time derivative, got {type(f).__name__}"
                )
        if len(fields) == 1 and cls.num_fields == 2:
            # One user field for a two-field scheme: the second gets independent weights.
            fields.append(copy.deepcopy(fields[0]))
            _reset_parameters(fields[1])
        if len(fields) != cls.num_fields:
            raise ValueError(
                f"scheme {cls.name!r} takes {cls.num_fields} vector field(s), got {len(fields)}"
            )
        return fields

    @property
    def field(self) -> nn.Module:
        """The (first) vector field."""
        return self.fields[0]

    @property
    def h(self) -> float:
        return self._h

    @h.setter
    def h(self, value: float) -> None:
        self._h = check_step(value)

    @property
    def stability(self):
        """Stability function or characteristic polynomial (may depend on parameters)."""
        return type(self).declared_stability()

    @classmethod
    def declared_stability(cls):
        raise NotImplementedError

    @classmethod
    def field_channels(cls, channels: int) -> int:
        """Channels each vector field acts on, given the stage width."""
        return channels

    def init(self, y0: torch.Tensor) -> State:
        return y0

    def step(self, state: State) -> State:
        raise NotImplementedError

    def output(self, state: State) -> torch.Tensor:
        return state

    def forward(self, y0: torch.Tensor) -> torch.Tensor:
        """A single step from a stage input (``init``, ``step``, ``output``)."""
        return self.output(self.step(self.init(y0)))

    def extra_repr(self) -> str:
        return f"h={self.h:g}"


class ReversibleBlock(Block):
    """A block whose step has an exact inverse: ``inverse(step(s)) == s`` up to round-off."""

    def inverse(self, state: State) -> State:
        raise NotImplementedError


class ImplicitBlock(Block):
    """A block that solves a system per step (e.g. IMEX: ``(I + hLᵀL) y⁺ = y + hF(y)``)."""


class AdaptiveBlock(Block):
    """A block whose step ``h`` is covered by an error-controlled ODE solver."""


# ---------------------------------------------------------------------------- two-field helpers
class TwoFieldBlock(Block):
    """Base for partitioned schemes on ``Pair(Y, Z)``: the state's channels split in halves."""

    state_layout = StateLayout.TWO_FIELD
    ode_form = ODEForm.PARTITIONED
    num_fields = 2

    @classmethod
    def field_channels(cls, channels: int) -> int:
        check_even_channels(cls.name, channels)
        return channels // 2

    def init(self, y0: torch.Tensor) -> Pair:
        check_even_channels(self.name, y0.shape[1] if y0.dim() > 1 else y0.shape[0])
        y, z = torch.chunk(y0, 2, dim=1)
        return Pair(y, z)

    def output(self, state: Pair) -> torch.Tensor:
        return torch.cat([state.y, state.z], dim=1)


def check_even_channels(scheme: str, channels: int) -> None:
    if channels % 2:
        raise ValueError(
            f"scheme {scheme!r} splits the state into two fields (Y, Z) along channels, so it "
            f"needs an even channel count; got {channels}"
        )


class HistoryBlock(Block):
    """Base for two-step schemes on ``History(previous, current)``."""

    state_layout = StateLayout.HISTORY

    def init(self, y0: torch.Tensor) -> History:
        return History(None, y0)

    def output(self, state: History) -> torch.Tensor:
        return state.current


def _reset_parameters(module: nn.Module) -> None:
    for m in module.modules():
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
