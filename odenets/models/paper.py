"""The image layouts of the papers, registered as argument-only variants of :class:`ODENet`.

* Ruthotto & Haber (2018, JMIV), Table 1: parabolic, Hamiltonian and second-order (leapfrog)
  networks for CIFAR-10, CIFAR-100 and STL-10. The layout is that of their Meganet driver
  (``examples/2018-jmiv/cnnDriver.m``): 3×3 opening conv + norm + ReLU; per stage 3 steps
  with ``h = 1`` of ``∓Kᵀσ(N(Ky))`` (3×3 ``K`` without bias, affine norm); 1×1 connective
  conv + norm + ReLU after every stage (the last one to ``head_width`` channels, no
  pooling); global average pool; linear classifier. The parameter counts equal the
  published ones exactly (:data:`PUBLISHED_PARAMS`). Meganet normalises the stage layers
  pixel-wise ("TV norm"); here batch norm is used, which has the same two weights per
  channel.
* Chang et al. (2018, AAAI): Hamiltonian-74/218 (6/18 units per stage, filters
  ``32-32-64-112`` / ``32-32-64-128``), and the midpoint and leapfrog networks of the same
  widths with 10/30 units per stage (depth 62/182). ``h = 1`` (an assumption; override
  ``horizon``).
* ResNet-32 as forward Euler (He et al. 2016; 5 steps per stage, widths 16/32/64, ``h = 1``;
  1×1 conv + pool connectives instead of strided blocks), LM-ResNet-20/32/56 (Lu et al.
  2018; 3/5/9 steps) and RevNet-38 (Gomez et al. 2017; 3 steps per stage, widths
  32/64/112).

Every keyword of :class:`ODENet` except ``scheme`` is an override:
``create_model("rh_parabolic_cifar10", steps=6, horizon=3.0)``.
"""

from __future__ import annotations

import inspect

from ..registry import register_model
from .odenet import ODENet

ODENET_OPTIONS = tuple(p for p in inspect.signature(ODENet).parameters if p != "scheme")

#: weights reported by the papers (Ruthotto & Haber 2018, Table 1)
PUBLISHED_PARAMS = {
    "rh_parabolic_stl10": 618_554,
    "rh_parabolic_cifar10": 502_570,
    "rh_parabolic_cifar100": 652_484,
    "rh_hamiltonian_stl10": 324_794,
    "rh_hamiltonian_cifar10": 264_106,
    "rh_hamiltonian_cifar100": 362_180,
    "rh_second_order_stl10": 618_554,
    "rh_second_order_cifar10": 502_570,
    "rh_second_order_cifar100": 652_484,
}

# Meganet's channel lists ``nf``: stage widths, then the width of the last connective.
_RH_DATA = {
    "cifar10": dict(widths=(32, 64, 112), head_width=112, num_classes=10),
    "cifar100": dict(widths=(32, 64, 128), head_width=256, num_classes=100),
    "stl10": dict(widths=(16, 32, 64, 128), head_width=128, num_classes=10),
}
_NO_BIAS = {"bias": False}  # the norm's affine shift is the layer's bias


def _odenet(scheme: str, defaults: dict, overrides: dict) -> ODENet:
    return ODENet(scheme, **{**defaults, **overrides})


#: names of the layouts registered here, in order
LAYOUTS: list[str] = []


CIFAR, STL10 = (32, 32), (96, 96)  # image sizes of the datasets the layouts are for


def _paper_variant(spatial_size: tuple[int, ...]):
    """Register a builder for images of ``spatial_size``, accepting every ODENet option."""

    def decorator(fn):
        fn.accepted_overrides = ODENET_OPTIONS
        fn.spatial_size = spatial_size
        LAYOUTS.append(fn.__name__)
        return register_model(fn)

    return decorator


def _rh(scheme: str, dataset: str, overrides: dict) -> ODENet:
    defaults = dict(steps=3, horizon=3.0, in_chans=3, field_kwargs=_NO_BIAS, **_RH_DATA[dataset])
    return _odenet(scheme, defaults, overrides)


def _chang(scheme: str, units: int, last_width: int, overrides: dict, field_kwargs=_NO_BIAS):
    defaults = dict(widths=(32, 64, last_width), steps=units, horizon=float(units))
    return _odenet(scheme, {**defaults, "field_kwargs": field_kwargs}, overrides)


def _cifar_resnet(scheme: str, steps: int, widths: tuple, overrides: dict) -> ODENet:
    return _odenet(scheme, dict(widths=widths, steps=steps, horizon=float(steps)), overrides)


# ----------------------------------------------------------------- Ruthotto & Haber 2018
@_paper_variant(CIFAR)
def rh_parabolic_cifar10(**overrides):
    """R&H 2018 parabolic network, CIFAR-10: widths 32/64/112, 3 steps, h = 1 (502,570)."""
    return _rh("parabolic", "cifar10", overrides)


@_paper_variant(CIFAR)
def rh_parabolic_cifar100(**overrides):
    """R&H 2018 parabolic network, CIFAR-100: widths 32/64/128, head 256 (652,484)."""
    return _rh("parabolic", "cifar100", overrides)


@_paper_variant(STL10)
def rh_parabolic_stl10(**overrides):
    """R&H 2018 parabolic network, STL-10: widths 16/32/64/128, 3 steps, h = 1 (618,554)."""
    return _rh("parabolic", "stl10", overrides)


@_paper_variant(CIFAR)
def rh_hamiltonian_cifar10(**overrides):
    """R&H 2018 Hamiltonian network, CIFAR-10: widths 32/64/112, 3 steps, h = 1 (264,106)."""
    return _rh("hamiltonian", "cifar10", overrides)


@_paper_variant(CIFAR)
def rh_hamiltonian_cifar100(**overrides):
    """R&H 2018 Hamiltonian network, CIFAR-100: widths 32/64/128, head 256 (362,180)."""
    return _rh("hamiltonian", "cifar100", overrides)


@_paper_variant(STL10)
def rh_hamiltonian_stl10(**overrides):
    """R&H 2018 Hamiltonian network, STL-10: widths 16/32/64/128 (324,794)."""
    return _rh("hamiltonian", "stl10", overrides)


@_paper_variant(CIFAR)
def rh_second_order_cifar10(**overrides):
    """R&H 2018 second-order (leapfrog) network, CIFAR-10: widths 32/64/112 (502,570)."""
    return _rh("leapfrog", "cifar10", overrides)


@_paper_variant(CIFAR)
def rh_second_order_cifar100(**overrides):
    """R&H 2018 second-order (leapfrog) network, CIFAR-100: widths 32/64/128 (652,484)."""
    return _rh("leapfrog", "cifar100", overrides)


@_paper_variant(STL10)
def rh_second_order_stl10(**overrides):
    """R&H 2018 second-order (leapfrog) network, STL-10: widths 16/32/64/128 (618,554)."""
    return _rh("leapfrog", "stl10", overrides)


# ------------------------------------------------------------------------ Chang et al. 2018
@_paper_variant(CIFAR)
def chang_hamiltonian74(**overrides):
    """Chang et al. 2018 Hamiltonian-74: 6-6-6 units, filters 32-32-64-112."""
    return _chang("hamiltonian", 6, 112, overrides)


@_paper_variant(CIFAR)
def chang_hamiltonian218(**overrides):
    """Chang et al. 2018 Hamiltonian-218: 18-18-18 units, filters 32-32-64-128."""
    return _chang("hamiltonian", 18, 128, overrides)


@_paper_variant(CIFAR)
def chang_midpoint62(**overrides):
    """Chang et al. 2018 MidPoint-62: 10-10-10 units, filters 32-32-64-112."""
    return _chang("midpoint", 10, 112, overrides, field_kwargs=None)  # σ(Ky + b): no norm


@_paper_variant(CIFAR)
def chang_midpoint182(**overrides):
    """Chang et al. 2018 MidPoint-182: 30-30-30 units, filters 32-32-64-128."""
    return _chang("midpoint", 30, 128, overrides, field_kwargs=None)


@_paper_variant(CIFAR)
def chang_leapfrog62(**overrides):
    """Chang et al. 2018 Leapfrog-62: 10-10-10 units, filters 32-32-64-112."""
    return _chang("leapfrog", 10, 112, overrides)


@_paper_variant(CIFAR)
def chang_leapfrog182(**overrides):
    """Chang et al. 2018 Leapfrog-182: 30-30-30 units, filters 32-32-64-128."""
    return _chang("leapfrog", 30, 128, overrides)


# ------------------------------------------------------------- ResNet, LM-ResNet, RevNet
@_paper_variant(CIFAR)
def resnet32_euler(**overrides):
    """ResNet-32 as forward Euler: 5 steps per stage, widths 16/32/64, h = 1 (He 2016)."""
    return _cifar_resnet("euler", 5, (16, 32, 64), overrides)


@_paper_variant(CIFAR)
def lm_resnet20(**overrides):
    """LM-ResNet-20 (Lu et al. 2018): 3 LM steps per stage, widths 16/32/64, h = 1."""
    return _cifar_resnet("lm", 3, (16, 32, 64), overrides)


@_paper_variant(CIFAR)
def lm_resnet32(**overrides):
    """LM-ResNet-32 (Lu et al. 2018): 5 LM steps per stage, widths 16/32/64, h = 1."""
    return _cifar_resnet("lm", 5, (16, 32, 64), overrides)


@_paper_variant(CIFAR)
def lm_resnet56(**overrides):
    """LM-ResNet-56 (Lu et al. 2018): 9 LM steps per stage, widths 16/32/64, h = 1."""
    return _cifar_resnet("lm", 9, (16, 32, 64), overrides)


@_paper_variant(CIFAR)
def revnet38(**overrides):
    """RevNet-38 (Gomez et al. 2017): 3 reversible blocks per stage, widths 32/64/112."""
    return _cifar_resnet("revnet", 3, (32, 64, 112), overrides)
