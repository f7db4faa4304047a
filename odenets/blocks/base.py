"""The block interface: one step ``h`` of a numerical scheme applied to learned vector fields.

A block owns its vector field(s) and its step size and exposes four methods:

* ``init(y0) -> state``: build the scheme's state from a stage input tensor,
* ``start(state) -> state``: the first step of a stage (the scheme's starter; ``step`` unless
  the scheme has a starter step of its own, e.g. midpoint's forward Euler step),
* ``step(state) -> state``: advance by one step ``h``,
* ``output(state) -> tensor``: read the stage output back from a state.

What a program needs to know about the scheme is class data (diffrax-style):

* ``state_layout``: the :class:`StateLayout` of its state: ``ONE`` (a tensor ``y``),
  ``TWO_FIELD`` (:class:`Pair` ``(Y, Z)``: channels split in halves once, at ``init``),
  ``HISTORY`` (:class:`History` ``(previous, current)`` of a two-step scheme), or a layout
  the scheme's own file declares for a state type of its own,
* ``ode_form``: which continuous problem the scheme discretises, :class:`ODEForm`,
* ``order``: the classical order of accuracy with the default options (an instance with
  other options may report another: ``block.order`` is the instance's),
* ``stability``: :class:`~odenets.stability.StabilityFunction` (one-step) or
  :class:`~odenets.stability.CharacteristicPolynomial` (multistep / partitioned),
* ``declared_starter``: a :class:`Starter` when the first step of a stage is not the
  scheme's step on a state with a history (its formula and stability), else ``None``;
  ``block.starter`` is the instance's (it may depend on parameters, e.g. LM's ``k``),
* ``num_fields``: how many vector fields the scheme uses (two for partitioned schemes),
* ``carried_parameters``: the scheme's own parameters besides its fields (IMEX's ``L``,
  LM's ``k``), which refinement interpolates and a swap carries (:meth:`Block.carry_from`).

Capabilities are types, found with ``isinstance``: :class:`ReversibleBlock` (has an exact
``inverse`` and the backward step :meth:`ReversibleBlock.reverse`), :class:`ImplicitBlock`
(solves a linear/nonlinear system per step) and :class:`AdaptiveBlock` (an error-controlled
ODE solver over ``h``, with the adjoint as an argument of :meth:`AdaptiveBlock.solve`).

The state protocol
------------------
Generic code (memory policies, diagnostics, refinement) never switches on a layout: every
state is a plain tensor or a tuple type with

* ``state.leaves()``: its tensors, in a fixed order (what autograd and flattening see),
* ``type(state).from_leaves(leaves)``: the inverse of ``leaves``,
* ``state.argument``: the tensor that the declared stability argument acts on (the state
  ``y``, the current value of a history, ``Y`` of a two-field state),

and the functions :func:`state_leaves`, :func:`state_argument` and :func:`state_like` give
the same for plain tensors. ``block.state_layout.from_leaves(leaves)`` builds a block's state
from its leaves. A scheme with a state of its own defines a ``NamedTuple`` with these three
members and a ``StateLayout(name, description, state_type)`` in its own file.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple, Protocol, runtime_checkable

import torch
from torch import nn

from .._validation import check_step
from ..stability import StabilityFunction
from ._vjp import accumulate, pull_back


class ODEForm(enum.Enum):
    """The continuous problem a block discretises (used by tests, refinement, diagnostics)."""

    FIRST_ORDER = "dy/dt = F(y)"
    SECOND_ORDER = "d²y/dt² = F(y), dy/dt(0) = 0"
    PARTITIONED = "dY/dt = F_Y(Z), dZ/dt = F_Z(Y)"


# ---------------------------------------------------------------------------- state protocol
@runtime_checkable
class StateType(Protocol):
    """What generic code reads from a state that is not a plain tensor."""

    def leaves(self) -> tuple[torch.Tensor, ...]: ...

    @classmethod
    def from_leaves(cls, leaves: Sequence[torch.Tensor]) -> StateType: ...

    @property
    def argument(self) -> torch.Tensor: ...


class Pair(NamedTuple):
    """Two-field state ``(Y, Z)`` of a partitioned scheme (Hamiltonian, RevNet)."""

    y: torch.Tensor
    z: torch.Tensor

    def leaves(self) -> tuple[torch.Tensor, ...]:
        return (self.y, self.z)

    @classmethod
    def from_leaves(cls, leaves: Sequence[torch.Tensor]) -> Pair:
        return cls(*leaves)

    @property
    def argument(self) -> torch.Tensor:
        """``Y``: the composed operator ``∂F_Y/∂Z · ∂F_Z/∂Y`` maps ``Y``-space to itself."""
        return self.y


class History(NamedTuple):
    """State of a two-step scheme: ``previous = y_{j−1}``, ``current = y_j``.

    A stage's initial history is built by the scheme's ``init`` (at rest, ``y₋₁ = y₀``, in
    the papers); a scheme whose first step needs no history declares a :class:`Starter`
    and takes that step in ``start``.
    """

    previous: torch.Tensor
    current: torch.Tensor

    def leaves(self) -> tuple[torch.Tensor, ...]:
        return (self.previous, self.current)

    @classmethod
    def from_leaves(cls, leaves: Sequence[torch.Tensor]) -> History:
        return cls(*leaves)

    @property
    def argument(self) -> torch.Tensor:
        return self.current


State = torch.Tensor | Pair | History | StateType


def state_leaves(state: State) -> tuple[torch.Tensor, ...]:
    """The tensors of a state in a fixed order (a plain tensor is its own single leaf)."""
    return (state,) if isinstance(state, torch.Tensor) else state.leaves()


def state_argument(state: State) -> torch.Tensor:
    """The tensor that the declared stability argument acts on (linearisation point)."""
    return state if isinstance(state, torch.Tensor) else state.argument


def state_like(state: State, leaves: Sequence[torch.Tensor]) -> State:
    """A state of the same type as ``state`` made of ``leaves``."""
    if isinstance(state, torch.Tensor):
        (y,) = leaves
        return y
    return type(state).from_leaves(leaves)


class StateLayout:
    """The kind of state a scheme advances: a name, a description and the state type.

    ``ONE``, ``TWO_FIELD`` and ``HISTORY`` are the library's; the set is open, so a scheme
    with a state of its own declares ``StateLayout("NAME", "(x, v)", MyState)`` in its file.
    Layouts compare by identity; ``name`` and ``value`` read as those of an enum member.
    """

    ONE: ClassVar[StateLayout]
    TWO_FIELD: ClassVar[StateLayout]
    HISTORY: ClassVar[StateLayout]

    def __init__(self, name: str, value: str, state_type: type):
        self.name, self.value, self.state_type = name, value, state_type

    def from_leaves(self, leaves: Sequence[torch.Tensor]) -> State:
        """The state of this layout made of ``leaves`` (see :meth:`StateType.leaves`)."""
        if self.state_type is torch.Tensor:
            (y,) = leaves
            return y
        return self.state_type.from_leaves(leaves)

    def __repr__(self) -> str:
        return f"<StateLayout.{self.name}: {self.value!r}>"


StateLayout.ONE = StateLayout("ONE", "y", torch.Tensor)
StateLayout.TWO_FIELD = StateLayout("TWO_FIELD", "(Y, Z)", Pair)
StateLayout.HISTORY = StateLayout("HISTORY", "(y_prev, y)", History)


@dataclass(frozen=True)
class Starter:
    """The first step of a stage, taken before the scheme's state has a history.

    ``formula`` describes it; ``stability`` is its stability function as a one-step map of
    the stage input, ``y₀ ↦ y₁ = R(z) y₀`` on ``F(y) = λy`` with the scheme's own argument
    ``z = h^p λ`` (forward Euler: ``R(z) = 1 + z``; LM-ResNet: ``1 + (1 + k) z``). A scheme
    whose first step is a step of its own (midpoint's forward Euler step) implements it in
    :meth:`Block.start`; one whose first step is its ``step`` applied to the initial state
    built by ``init`` (a history at rest, ``y₋₁ = y₀``) keeps ``start`` as is.
    """

    formula: str
    stability: StabilityFunction


FORWARD_EULER_R = StabilityFunction((1.0, 1.0), formula="R(z) = 1 + z")


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
    #: how the first step of a stage is taken (``None``: it is an ordinary ``step``), with
    #: the default options and parameters; ``block.starter`` is the instance's
    declared_starter: ClassVar[Starter | None] = None
    #: state-dict names of the scheme's own parameters besides its fields (IMEX's ``weight``
    #: = L, LM's ``k``): refinement interpolates them with the fields, a swap carries each
    #: to a target scheme that declares the same name (:meth:`carry_from`)
    carried_parameters: ClassVar[tuple[str, ...]] = ()

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

    def start(self, state: State) -> State:
        """The first step of a stage (``j = 0``) from the state ``init`` built.

        It is ``step`` unless the scheme has a starter step of its own (declared in
        ``declared_starter``), e.g. midpoint's forward Euler step before there is a history.
        """
        return self.step(state)

    @property
    def starter(self) -> Starter | None:
        """How this block takes the first step of a stage (may depend on its parameters)."""
        return type(self).declared_starter

    @property
    def has_own_starter(self) -> bool:
        """Whether the first step of a stage is ``start`` rather than ``step``."""
        return type(self).start is not Block.start

    def step(self, state: State) -> State:
        raise NotImplementedError

    def output(self, state: State) -> torch.Tensor:
        return state

    def forward(self, y0: torch.Tensor) -> torch.Tensor:
        """A single step from a stage input (``init``, ``start``, ``output``)."""
        return self.output(self.start(self.init(y0)))

    def argument_factors(self, state: State) -> tuple[tuple[nn.Module, torch.Tensor], ...]:
        """``((field, point), ...)``: the operator the declared stability argument names is
        the product, in this order, of the Jacobians of these fields at these points
        (``∂F/∂y`` at ``state.argument`` by default)."""
        return ((self.fields[0], state_argument(state)),)

    # ------------------------------------------------------------- refinement and swaps
    def swap_refusal(self, target: type[Block]) -> str | None:
        """Why this block's fields cannot be run under scheme ``target``, or ``None``."""
        return None

    def swap_options(self) -> dict:
        """Options of this block that a block of another scheme keeps if it accepts them."""
        return {}

    def carry_from(self, source: Block) -> None:
        """Take over the parameters of ``source`` that this scheme declares too (a swap).

        Schemes override it to set what a source without them lacks (IMEX: ``L = 0``, so
        the swapped block discretises the same ODE).
        """
        names = [n for n in self.carried_parameters if n in source.carried_parameters]
        mine, theirs = self.state_dict(), source.state_dict()
        for name in names:
            if mine[name].shape != theirs[name].shape:
                raise ValueError(
                    f"cannot carry {name!r} of shape {tuple(theirs[name].shape)} into "
                    f"{self.name!r} (shape {tuple(mine[name].shape)}); use the source's options"
                )
        self.load_state_dict({n: theirs[n] for n in names}, strict=False)

    def extra_repr(self) -> str:
        return f"h={self.h:g}"


class ReversibleBlock(Block):
    """A block whose step has an exact inverse: ``inverse(step(s)) == s`` up to round-off."""

    def inverse(self, state: State) -> State:
        raise NotImplementedError

    def reverse(self, state: State, grads: tuple[torch.Tensor, ...], param_grads: dict):
        """One step of a reversible backward pass; returns ``(previous_state, previous_grads)``.

        From state ``j+1`` and the gradients of the loss with respect to its leaves,
        rebuild state ``j`` and the gradients with respect to its leaves; the gradients of
        this block's parameters are summed into ``param_grads`` (parameter → tensor).
        Called under ``torch.no_grad()``. This default inverts without a graph, then takes
        the step again with one (two evaluations of each field); schemes override it with a
        fused version whose inverse evaluations are the step's (one evaluation, with graph).
        """
        return recompute_vjp(self.step, self.inverse(state), grads, self, param_grads)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # a fused ``reverse`` is written for one ``step``/``inverse``: a subclass that
        # changes either and not ``reverse`` gets the generic one
        own = cls.__dict__
        if ("step" in own or "inverse" in own) and "reverse" not in own:
            cls.reverse = ReversibleBlock.reverse


class ImplicitBlock(Block):
    """A block that solves a system per step (e.g. IMEX: ``(I + hLᵀL) y⁺ = y + hF(y)``)."""


class AdaptiveBlock(Block):
    """A block whose step ``h`` is covered by an error-controlled ODE solver.

    ``solve(state, adjoint=...)`` integrates over ``h``; ``adjoint=True`` differentiates by
    the adjoint ODE (memory O(1) in the solver's steps). It is an argument, so a memory
    policy chooses it per call without touching the block; ``step`` solves with the block's
    own ``adjoint`` setting.
    """

    adjoint: bool = False
    # Block keywords of the small ``*_digits``/``*_signal``/``*_vector`` variants (e.g. looser
    # tolerances than a general-purpose default); a scheme declares its own.
    small_variant_kwargs: dict = {}

    def step(self, state: State) -> State:
        return self.solve(state, adjoint=self.adjoint)

    def solve(self, state: State, *, adjoint: bool) -> State:
        raise NotImplementedError


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

    def argument_factors(self, state: Pair) -> tuple[tuple[nn.Module, torch.Tensor], ...]:
        """``∂F_Y/∂Z · ∂F_Z/∂Y``: ``F_Y`` at ``Z``, ``F_Z`` at ``Y``."""
        return ((self.fields[0], state.z), (self.fields[1], state.y))


def check_even_channels(scheme: str, channels: int) -> None:
    if channels % 2:
        raise ValueError(
            f"scheme {scheme!r} splits the state into two fields (Y, Z) along channels, so it "
            f"needs an even channel count; got {channels}"
        )


class HistoryBlock(Block):
    """Base for two-step schemes on ``History(previous, current)``, starting at rest."""

    state_layout = StateLayout.HISTORY

    def init(self, y0: torch.Tensor) -> History:
        return History(y0, y0)

    def output(self, state: History) -> torch.Tensor:
        return state.current


def _reset_parameters(module: nn.Module) -> None:
    for m in module.modules():
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()


def recompute_vjp(fn: Callable, state: State, grads, module: nn.Module, acc: dict):
    """Take ``fn(state)`` again with a graph and pull ``grads`` (one per output leaf) back.

    Returns ``(state, grads_state)``: ``state`` detached and the gradients with respect to
    its leaves (zeros where no output depends on a leaf); the gradients of the parameters
    of ``module`` are summed into ``acc``.
    """
    with torch.enable_grad():
        inputs = tuple(t.detach().requires_grad_() for t in state_leaves(state))
        outputs = state_leaves(fn(state_like(state, inputs)))
        params = [p for p in module.parameters() if p.requires_grad]
        pulled = pull_back(outputs, (*inputs, *params), grads)
    accumulate(acc, params, pulled[len(inputs) :])
    grads_state = tuple(
        torch.zeros_like(x) if g is None else g
        for x, g in zip(inputs, pulled[: len(inputs)], strict=True)
    )
    return state_like(state, tuple(t.detach() for t in inputs)), grads_state
