"""The registry: listing, overrides, name clashes, one-call block construction.

The per-model tests over the live registry (forward/backward, timm) are in test_models.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import odenets
from odenets.registry import register_model

MODELS = odenets.list_models()
SCHEMES = odenets.list_schemes()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_has_its_small_variants(scheme):
    """Generated from the live scheme registry (their forward passes: test_models.py)."""
    for suffix in ("digits", "signal", "vector"):
        assert f"{scheme}_{suffix}" in MODELS
    assert odenets.create_model(f"{scheme}_signal").stages[0].scheme is odenets.get_scheme(scheme)


def test_papers_layouts_are_registered():
    for name in (
        "rh_parabolic_cifar10",
        "rh_hamiltonian_stl10",
        "rh_second_order_cifar100",
        "chang_hamiltonian74",
        "chang_hamiltonian218",
        "chang_midpoint62",
        "chang_leapfrog62",
        "resnet32_euler",
        "lm_resnet20",
        "lm_resnet32",
        "lm_resnet56",
        "revnet38",
    ):
        assert name in MODELS


def test_list_models_pattern():
    assert odenets.list_models("rh_*_cifar10") == [
        "rh_hamiltonian_cifar10",
        "rh_parabolic_cifar10",
        "rh_second_order_cifar10",
    ]
    assert odenets.list_models("no_such_model*") == []
    assert MODELS == sorted(MODELS)
    assert set(odenets.list_models("*_vector")) >= {f"{s}_vector" for s in SCHEMES}


def test_overrides_replace_defaults_and_none_is_dropped():
    model = odenets.create_model("euler_digits", widths=(8,), num_classes=3, steps=None)
    assert len(model.stages) == 1 and model.stages[0].steps == 3  # steps=None kept default
    assert model.fc.out_features == 3
    assert model.model_name == "euler_digits"


def test_duplicate_model_name_is_an_error():
    def euler_digits():
        return nn.Identity()

    with pytest.raises(ValueError, match="already registered"):
        register_model(euler_digits)


def test_model_name_clashing_with_timm_is_an_error():
    def resnet18():  # a timm model
        return nn.Identity()

    with pytest.raises(ValueError, match="clashes with a timm model"):
        register_model(resnet18)
    assert "resnet18" not in odenets.list_models()


class UserField(nn.Module):
    """A field written by a user, unknown to the registry."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, y):
        return torch.sin(self.linear(y))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_any_user_module_is_integrated_in_one_call(scheme):
    cls = odenets.get_scheme(scheme)
    dim = 4
    block = odenets.create_block(scheme, UserField(cls.field_channels(dim)), h=0.1)
    assert isinstance(block, cls) and block.h == 0.1
    assert len(block.fields) == cls.num_fields
    if cls.num_fields == 2:  # the second field is a copy with fresh weights
        w0, w1 = (f.linear.weight for f in block.fields)
        assert w0.shape == w1.shape and not torch.equal(w0, w1)
    y = torch.randn(3, dim)
    out = odenets.Stage([block], horizon=0.3, steps=3)(y)
    assert out.shape == y.shape and torch.isfinite(out).all()
    assert not torch.allclose(out, y)


class ParameterFreeField(nn.Module):
    """A field whose layout cannot be read from a weight: ``F(y) = −sin(y)``."""

    def forward(self, y):
        return -torch.sin(y)


def test_create_block_passes_channels_and_ndim_to_a_scheme_that_takes_them():
    """IMEX around a user field (docs/continuous.md): ``channels``/``ndim`` reach the scheme."""
    with pytest.raises(ValueError, match="pass channels= and ndim="):
        odenets.create_block("imex", ParameterFreeField(), h=0.5)
    block = odenets.create_block("imex", ParameterFreeField(), h=0.5, channels=3, ndim=1)
    assert (block.channels, block.ndim) == (3, 1)
    y = torch.randn(2, 3, 8)
    assert block(y).shape == y.shape


@pytest.mark.parametrize("name", [n for n in MODELS if not n.endswith("_vector")])
def test_image_and_signal_models_declare_the_size_of_their_data(name):
    """What ``odenets diagnose`` feeds a fresh model: declared by its builder, not guessed."""
    from odenets.registry import model_builder

    spatial = model_builder(name).spatial_size
    assert len(spatial) in (1, 2) and all(isinstance(n, int) and n > 0 for n in spatial)
