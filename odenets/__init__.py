"""odenets: deep networks derived from differential equations.

A zoo of schemes behind one block interface (:func:`create_block`), stages of ``N`` steps
over a horizon ``T`` (:class:`Stage`), model layouts from the papers and a registry
(:func:`create_model`, :func:`list_models`; the same names work in ``timm.create_model``).
"""

from . import blocks as blocks  # registers the schemes
from . import fields as fields  # registers the vector fields
from .blocks import Block, History, ODEForm, Pair, ReversibleBlock, StateLayout
from .blocks.factory import create_block, default_fields
from .models import ODENet, VectorODENet, register_all_small_variants
from .refine import coarsen_model, coarsen_stage, refine_model, refine_stage, swap_scheme
from .registry import (
    create_field,
    create_model,
    get_scheme,
    list_fields,
    list_models,
    list_schemes,
    register_field,
    register_model,
    register_scheme,
)
from .regularizers import time_smoothness
from .stability import CharacteristicPolynomial, StabilityFunction
from .stage import Stage, set_memory_policy

register_all_small_variants()

__version__ = "0.1.0"

__all__ = [
    "Block",
    "CharacteristicPolynomial",
    "History",
    "ODEForm",
    "ODENet",
    "Pair",
    "ReversibleBlock",
    "StabilityFunction",
    "Stage",
    "StateLayout",
    "VectorODENet",
    "coarsen_model",
    "coarsen_stage",
    "create_block",
    "create_field",
    "create_model",
    "default_fields",
    "get_scheme",
    "list_fields",
    "list_models",
    "list_schemes",
    "refine_model",
    "refine_stage",
    "register_field",
    "register_model",
    "register_scheme",
    "set_memory_policy",
    "swap_scheme",
    "time_smoothness",
]
