"""Model reduction for transport: FOMs, POD, autoencoders, projection ROMs, error estimates.

=====================  ======================================================================
``fom``                backward-Euler upwind FOMs (linear advection, Kim et al.'s Burgers) with
                       Newton, O(n) periodic-bidiagonal Jacobians
``snapshots``          exact cell-average snapshot sets of periodic advection (n-width examples)
``pod``                POD by SVD, energy criterion, projection errors
``autoencoders``       Kim et al.'s masked shallow AE (analytic decoder Jacobian), a conv AE,
                       training with Kim et al.'s settings
``roms``               POD/manifold Galerkin and LSPG on the FOM's backward-Euler step
``estimate``           residual-based error bound (Varah stability constant), effectivity,
                       linearised error transport
``latent``             non-intrusive latent ODE ROM stepped by any one-field zoo scheme
=====================  ======================================================================
"""

from .autoencoders import ConvAE, MaskedShallowAE, reconstruction_error, train_autoencoder
from .errors import NewtonDidNotConverge
from .estimate import error_transport_estimate, residual_estimate, trajectory_errors
from .fom import BurgersFOM, LinearAdvectionFOM, PeriodicBidiagonal
from .latent import LatentDynamicsROM, fit_latent_rom, latent_schemes
from .pod import POD, compute_pod, projection_error
from .roms import LinearTrial, ManifoldTrial, ROMSolution, relative_error, rom_step, solve_rom
from .snapshots import advection_snapshots, cell_averages, profile_values

__all__ = [
    "POD",
    "BurgersFOM",
    "ConvAE",
    "LatentDynamicsROM",
    "LinearAdvectionFOM",
    "LinearTrial",
    "ManifoldTrial",
    "MaskedShallowAE",
    "NewtonDidNotConverge",
    "PeriodicBidiagonal",
    "ROMSolution",
    "advection_snapshots",
    "cell_averages",
    "compute_pod",
    "error_transport_estimate",
    "fit_latent_rom",
    "latent_schemes",
    "profile_values",
    "projection_error",
    "reconstruction_error",
    "relative_error",
    "residual_estimate",
    "rom_step",
    "solve_rom",
    "train_autoencoder",
    "trajectory_errors",
]
