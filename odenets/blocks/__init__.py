"""The scheme zoo: one file per scheme family, all behind :class:`Block`."""

from .base import (
    AdaptiveBlock,
    Block,
    History,
    HistoryBlock,
    ImplicitBlock,
    ODEForm,
    Pair,
    ReversibleBlock,
    Starter,
    StateLayout,
    StateType,
    TwoFieldBlock,
    state_argument,
    state_leaves,
    state_like,
)
from .euler import AntisymmetricBlock, EulerBlock, ParabolicBlock
from .hamiltonian import HamiltonianBlock, PartitionedEulerBlock
from .imex import ImexBlock
from .leapfrog import LeapfrogBlock
from .midpoint import MidpointBlock
from .momentum_resnet import MomentumResNetBlock, MomentumState
from .multistep import LMBlock
from .node import NodeBlock, TimeDependentField
from .reversible_heun import HeunState, ReversibleHeunBlock
from .revnet import RevNetBlock
from .runge_kutta import HEUN, RK4, ButcherTableau, RK2Block, RK4Block, RungeKuttaBlock
from .ssp_rk3 import SSP_RK3, SSPRK3Block

__all__ = [
    "HEUN",
    "RK4",
    "SSP_RK3",
    "AdaptiveBlock",
    "AntisymmetricBlock",
    "Block",
    "ButcherTableau",
    "EulerBlock",
    "HamiltonianBlock",
    "HeunState",
    "History",
    "HistoryBlock",
    "ImexBlock",
    "ImplicitBlock",
    "LMBlock",
    "LeapfrogBlock",
    "MidpointBlock",
    "MomentumState",
    "MomentumResNetBlock",
    "NodeBlock",
    "ODEForm",
    "Pair",
    "ParabolicBlock",
    "PartitionedEulerBlock",
    "RK2Block",
    "RK4Block",
    "ReversibleBlock",
    "RevNetBlock",
    "ReversibleHeunBlock",
    "RungeKuttaBlock",
    "SSPRK3Block",
    "Starter",
    "StateLayout",
    "StateType",
    "TimeDependentField",
    "TwoFieldBlock",
    "state_argument",
    "state_leaves",
    "state_like",
]
