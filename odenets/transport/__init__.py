"""Transport: 1-D periodic conservation laws, classical finite-volume schemes, learned steppers.

``u_t + f(u)_x = ν u_xx + g(x, t)`` on cell averages (:mod:`.grid`, :mod:`.laws`); classical
schemes in conservation form, one file each: :class:`Upwind` and :class:`GodunovRK`,
:class:`LaxFriedrichs`, :class:`LaxWendroff`, :class:`MUSCL` (minmod, van Leer),
:class:`WENO5` (Jiang–Shu), advanced in time by the zoo's SSP-RK3 tableau at the CFL step
(:mod:`.timestep`); learned steppers built from zoo blocks and a Bar-Sinai-style
polynomial-constrained flux net (:mod:`.learned`); and the analysis that reads them as
numerical schemes: truncation-error order, moment conditions, von Neumann factor, CFL limit,
Jacobian spectra, blow-up fraction (:mod:`.analysis`, :mod:`.rollout`). See docs/transport.md.
"""

from .analysis import (
    amplification,
    cfl_limit,
    consistency_order,
    fit_order,
    impulse_stencil,
    increment,
    jacobian_spectrum,
    max_amplification,
    moment_residuals,
    truncation_errors,
)
from .base import Scheme
from .grid import Grid, downsample
from .laws import Burgers, ConservationLaw, LinearAdvection, SumOfModes
from .lax_friedrichs import LaxFriedrichs
from .lax_wendroff import LaxWendroff
from .learned import (
    ConvStepper,
    LearnedFiniteVolume,
    LearnedStencil,
    PolynomialFluxNet,
    first_order_schemes,
    train_stepper,
)
from .muscl import MUSCL
from .rollout import BlowUpWarning, Rollout, rollout
from .timestep import CourantWarning, cfl_dt, check_courant
from .upwind import GodunovRK, Upwind
from .weno import WENO5

__all__ = [
    "MUSCL",
    "WENO5",
    "BlowUpWarning",
    "Burgers",
    "ConservationLaw",
    "ConvStepper",
    "CourantWarning",
    "GodunovRK",
    "Grid",
    "LaxFriedrichs",
    "LaxWendroff",
    "LearnedFiniteVolume",
    "LearnedStencil",
    "LinearAdvection",
    "PolynomialFluxNet",
    "Rollout",
    "Scheme",
    "SumOfModes",
    "Upwind",
    "amplification",
    "cfl_dt",
    "cfl_limit",
    "check_courant",
    "consistency_order",
    "downsample",
    "first_order_schemes",
    "fit_order",
    "impulse_stencil",
    "increment",
    "jacobian_spectrum",
    "max_amplification",
    "moment_residuals",
    "rollout",
    "train_stepper",
    "truncation_errors",
]
