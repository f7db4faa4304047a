"""Bad input: every error says what was wrong and what is allowed (messages pinned)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import odenets
from odenets import ODENet, Stage, VectorODENet
from odenets.blocks import ButcherTableau


# ----------------------------------------------------------------------------- names
def test_unknown_model_lists_close_matches():
    with pytest.raises(
        ValueError, match=r"Unknown model 'rh_parabolic_cifar'.*rh_parabolic_cifar10"
    ):
        odenets.create_model("rh_parabolic_cifar")


def test_unknown_scheme_lists_close_matches():
    with pytest.raises(ValueError, match=r"Unknown scheme 'leapfrg'.*\['leapfrog'"):
        odenets.create_block("leapfrg", nn.Identity(), h=0.1)
    with pytest.raises(
        ValueError, match=r"Unknown scheme 'rk5'. Did you mean one of \['rk4', 'rk2'\]"
    ):
        ODENet("rk5")


def test_unknown_field_lists_close_matches():
    with pytest.raises(ValueError, match=r"Unknown vector field 'symetric'.*'symmetric'"):
        odenets.create_field("symetric", 4, 2)


def test_unknown_override_lists_the_accepted_ones():
    with pytest.raises(ValueError, match=r"does not accept override\(s\) \['widht'\].*'widths'"):
        odenets.create_model("rh_parabolic_cifar10", widht=(8,))
    with pytest.raises(ValueError, match=r"does not accept override\(s\) \['depth'\].*'steps'"):
        odenets.create_model("euler_vector", depth=3)


def test_unknown_scheme_option():
    with pytest.raises(ValueError, match=r"'leapfrog' does not accept option\(s\) \['strat'\]"):
        odenets.create_block("leapfrog", nn.Identity(), h=0.1, strat="rest")
    with pytest.raises(ValueError, match=r"leapfrog start must be one of \['rest', 'taylor'\]"):
        odenets.create_block("leapfrog", nn.Identity(), h=0.1, start="euler")


# -------------------------------------------------------------------------- step size
@pytest.mark.parametrize("h", [0.0, -0.1, math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("scheme", odenets.list_schemes())
def test_step_must_be_finite_and_positive(scheme, h):
    with pytest.raises(ValueError, match=r"step size h must be finite and > 0, got"):
        odenets.create_block(scheme, channels=2, ndim=0, h=h)


def test_step_type_and_setter():
    with pytest.raises(TypeError, match="step size h must be a real number, got str"):
        odenets.create_block("euler", nn.Identity(), h="0.1")
    block = odenets.create_block("euler", nn.Identity(), h=0.1)
    with pytest.raises(ValueError, match="must be finite and > 0"):
        block.h = 0
    block.h = np.float64(0.25)  # numpy scalars and 0-d tensors are accepted
    block.h = torch.tensor(0.5)
    assert block.h == 0.5


@pytest.mark.parametrize("horizon", [0.0, -1.0, math.nan, math.inf])
def test_horizon_must_be_finite_and_positive(horizon):
    with pytest.raises(ValueError, match=r"horizon T must be finite and > 0"):
        Stage.build("euler", channels=2, ndim=0, steps=2, horizon=horizon)
    with pytest.raises(ValueError, match=r"horizon T must be finite and > 0"):
        odenets.create_model("euler_digits", horizon=horizon)


def test_steps_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        Stage.build("euler", channels=2, ndim=0, steps=0, horizon=1.0)
    with pytest.raises(TypeError, match="steps must be a positive integer, got 2.5"):
        Stage.build("euler", channels=2, ndim=0, steps=2.5, horizon=1.0)


# -------------------------------------------------------------------------------- inputs
def test_image_model_rejects_wrong_channels_and_ndim():
    model = odenets.create_model("euler_digits")
    with pytest.raises(
        ValueError,
        match=r"expects input of shape \(B, C, H, W\) with C=1 .*"
        r"got \(2, 3, 8, 8\)",
    ):
        model(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(2 spatial dims\), got \(2, 1, 8\)"):
        model(torch.randn(2, 1, 8))
    with pytest.raises(TypeError, match=r"expected a tensor of shape \(B, C, H, W\), got list"):
        model([1, 2, 3])


def test_signal_model_rejects_images():
    model = odenets.create_model("rk2_signal")
    with pytest.raises(ValueError, match=r"\(B, C, L\) with C=1 \(1 spatial dim\)"):
        model(torch.randn(2, 1, 8, 8))


def test_vector_model_rejects_wrong_dimension():
    model = odenets.create_model("euler_vector")
    with pytest.raises(ValueError, match=r"expects states of shape \(B, 2\), got \(4, 3\)"):
        model(torch.randn(4, 3))


def test_paper_layout_rejects_wrong_channels():
    model = odenets.create_model("rh_parabolic_cifar10")
    with pytest.raises(ValueError, match=r"with C=3 .*got \(2, 1, 32, 32\)"):
        model(torch.randn(2, 1, 32, 32))


# ----------------------------------------------------------------- two-field schemes
TWO_FIELD = [s for s in odenets.list_schemes() if odenets.get_scheme(s).num_fields == 2]


@pytest.mark.parametrize("scheme", TWO_FIELD)
def test_two_field_scheme_needs_even_channels(scheme):
    message = rf"scheme '{scheme}' splits the state into two fields .* even channel count; got 5"
    with pytest.raises(ValueError, match=message):
        ODENet(scheme, widths=(4, 5))
    with pytest.raises(ValueError, match=message):
        Stage.build(scheme, channels=5, ndim=0, steps=1, horizon=1.0)
    with pytest.raises(ValueError, match=message):
        VectorODENet(scheme, dim=5)
    block = odenets.create_block(scheme, channels=4, ndim=0, h=0.1)
    with pytest.raises(ValueError, match=r"even channel count; got 5"):
        block.init(torch.randn(2, 5))


# ------------------------------------------------------------------- other front doors
def test_field_must_be_a_module():
    with pytest.raises(TypeError, match=r"a vector field must be a torch.nn.Module .*got function"):
        odenets.create_block("rk4", lambda y: -y, h=0.1)


def test_block_needs_a_field_or_its_shape():
    with pytest.raises(ValueError, match=r"needs either a vector field module or both"):
        odenets.create_block("euler", h=0.1)


def test_stage_rejects_mixed_schemes_and_wrong_block_count():
    euler = odenets.create_block("euler", nn.Identity(), h=0.1)
    rk2 = odenets.create_block("rk2", nn.Identity(), h=0.1)
    with pytest.raises(TypeError, match="all blocks of a stage must use the same scheme"):
        Stage([euler, rk2], horizon=1.0)
    with pytest.raises(ValueError, match=r"a stage of 3 steps needs 1 block .* or 3 blocks"):
        Stage([euler, euler], horizon=1.0, steps=3)
    with pytest.raises(ValueError, match=r"Unknown memory policy 'disk'; allowed: \["):
        Stage([euler], horizon=1.0, memory="disk")


def test_field_options_are_checked():
    with pytest.raises(ValueError, match=r"ndim must be 0 \(dense vectors\), 1 \(signals\) or 2"):
        odenets.create_field("symmetric", 4, 3)
    with pytest.raises(ValueError, match=r"kernel_size must be odd"):
        odenets.create_field("residual", 4, 2, kernel_size=4)
    with pytest.raises(ValueError, match=r"Unknown activation 'rleu'; allowed: \["):
        odenets.create_field("residual", 4, 2, act="rleu")
    with pytest.raises(ValueError, match=r"Unknown norm 'layer'; allowed: \['batch', 'none'\]"):
        odenets.create_field("symmetric", 4, 2, norm="layer")
    with pytest.raises(ValueError, match=r"sign must be -1 or \+1, got 2"):
        odenets.create_field("symmetric", 4, 2, sign=2)
    with pytest.raises(ValueError, match=r"gamma must be >= 0"):
        odenets.create_field("antisymmetric", 4, 2, gamma=-0.1)


def test_model_options_are_checked():
    with pytest.raises(ValueError, match=r"ODENet ndim must be 1 \(signals\) or 2 \(images\)"):
        ODENet("euler", ndim=3)
    with pytest.raises(ValueError, match=r"steps needs one value per stage \(3\), got 2"):
        ODENet("euler", widths=(4, 8, 16), steps=(1, 2))
    with pytest.raises(ValueError, match="head_width must be a positive integer, got 0"):
        ODENet("euler", widths=(4,), head_width=0)


def test_butcher_tableau_is_validated():
    with pytest.raises(ValueError, match="A must be strictly lower triangular"):
        ButcherTableau(a=((0.5,), (0.5, 0.0)), b=(0.5, 0.5), c=(0.5, 0.5), order=1)
    with pytest.raises(ValueError, match="row sums of A must equal c"):
        ButcherTableau(a=((), (1.0,)), b=(0.5, 0.5), c=(0.0, 0.5), order=2)
    with pytest.raises(ValueError, match=r"fails the order condition 2: bᵀc = 1/2"):
        ButcherTableau(a=((), (0.5,)), b=(0.5, 0.5), c=(0.0, 0.5), order=2)
    with pytest.raises(TypeError, match="tableau must be a ButcherTableau, got dict"):
        odenets.create_block("rk4", nn.Identity(), h=0.1, tableau={"b": (1.0,)})


def test_regulariser_weight_must_be_non_negative():
    with pytest.raises(ValueError, match=r"alpha must be >= 0, got -1"):
        odenets.time_smoothness(nn.Linear(2, 2), alpha=-1)
