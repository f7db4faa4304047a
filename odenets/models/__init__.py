"""Model layouts and the registered variants."""

from . import continuous as continuous  # registers ODE-Net, ANODE and IMEXnet layouts
from . import paper as paper  # registers the papers' layouts
from .odenet import ODENet, VectorODENet
from .small import register_all_small_variants, register_small_variants

__all__ = ["ODENet", "VectorODENet", "register_all_small_variants", "register_small_variants"]
