"""Dynamics models by name: Neural ODE, physics only, naive hybrid, APHYNITY, true ODE, zoo.

========================  ==================================================================
``node``                  Neural ODE: ``y' = F_a(y)`` (MLP / periodic ConvNet), ``odeint``
``physics``               ``y' = F_p(y)``, the dataset's incomplete physics, parameters learned
``hybrid_naive``          ``y' = F_p(y) + F_a(y)`` trained on the trajectory MSE only
``aphynity``              same field, APHYNITY's objective ``‖F_a‖² + λ MSE`` with adaptive λ
``true_ode``              the dataset's complete physics with its true parameters (no training)
any zoo scheme            the scheme as a time stepper: one step ``h = dt`` per data interval,
                          the scheme's default zoo field (dense for vectors, conv for fields)
========================  ==================================================================
"""

from __future__ import annotations

from .._validation import close_matches_hint
from ..blocks.factory import default_fields
from ..registry import get_field, get_scheme, list_schemes
from .hybrid import DynamicsModel, HybridField, check_integrator
from .networks import create_network, orthogonal_init_
from .physics import create_physics

PHYSICS_MODELS = ("physics", "hybrid_naive", "aphynity", "true_ode")
BASE_MODELS = ("node",) + PHYSICS_MODELS


def list_dynamics_models() -> list[str]:
    """Model names accepted by :func:`build_dynamics_model` (the zoo schemes included)."""
    return list(BASE_MODELS) + [s for s in list_schemes() if s not in BASE_MODELS]


def build_dynamics_model(
    name: str,
    data,
    *,
    hidden: int | None = None,
    network: str | None = None,
    physics: str | None = None,
    physics_init: dict | None = None,
    integrator: str = "odeint",
    method: str = "rk4",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    substeps: int = 1,
    adjoint: bool = False,
    aug_init_gain: float | None = 0.2,
) -> DynamicsModel:
    """Build dynamics model ``name`` for dataset ``data`` (a :class:`DynamicsData`).

    ``network`` (default ``mlp`` for vector states, ``conv`` for fields) and ``hidden``
    (default 200 for vectors, as APHYNITY's MLP, 16 for fields) choose ``F_a``; ``physics``
    overrides the dataset's incomplete physical model; ``integrator`` is ``'odeint'``
    (``method``, ``rtol``, ``atol``) or a zoo scheme used as a time stepper; ``substeps``
    steps of ``dt / substeps`` are taken per data interval by fixed-step integrators;
    ``adjoint`` back-propagates through the ``node`` block with the adjoint ODE.
    """
    allowed = list_dynamics_models()
    if name not in allowed:
        raise ValueError(f"Unknown dynamics model {name!r}. {close_matches_hint(name, allowed)}")
    shape, ndim = tuple(data.state_shape), data.ndim
    hidden = hidden or (200 if ndim == 0 else 16)
    common = dict(dt=data.dt, method=method, rtol=rtol, atol=atol, kind=name, substeps=substeps,
                  adjoint=adjoint)  # fmt: skip
    if name not in BASE_MODELS:  # a zoo scheme as time stepper with its default field
        fields = scheme_fields(name, shape[0], ndim, hidden)
        return DynamicsModel(fields, integrator=name, **{**common, "method": "rk4"})
    augmentation = None
    if name in ("node", "hybrid_naive", "aphynity"):
        augmentation = create_network(network or default_network(ndim), shape, ndim, hidden,
                                      data.name)  # fmt: skip
        if name == "aphynity" and aug_init_gain:
            orthogonal_init_(augmentation, aug_init_gain)
    physical = None
    if name in PHYSICS_MODELS:
        physical = dataset_physics(data, name, physics, physics_init)
    field = HybridField(physical, augmentation)
    integrator = check_integrator(integrator, hybrid=True)
    objective = "aphynity" if name == "aphynity" else "mse"
    return DynamicsModel(field, integrator=integrator, objective=objective, **common)


def default_network(ndim: int) -> str:
    return "mlp" if ndim == 0 else "conv"


def dataset_physics(data, model: str, physics: str | None, init: dict | None):
    spec = data.spec
    if model == "true_ode":
        if spec.true_physics is None:
            raise ValueError(
                f"dataset {data.name!r} has no physical model to run as the true ODE; "
                f"choose one of node or a zoo scheme"
            )
        return create_physics(physics or spec.true_physics, data, learn=False)
    name = physics or spec.physics
    if name is None:
        raise ValueError(
            f"model {model!r} needs a physical model, and dataset {data.name!r} has none by "
            f"default; pass physics=<name> or choose node or a zoo scheme"
        )
    return create_physics(name, data, learn=True, init=init)


def scheme_fields(scheme: str, channels: int, ndim: int, hidden: int):
    """The scheme's default zoo field(s) for a dynamics state, without normalisation."""
    import inspect

    cls = get_scheme(scheme)
    params = inspect.signature(get_field(cls.default_field)).parameters
    wanted = {"width": hidden, "norm": "none", "act": "tanh"}
    kwargs = {k: v for k, v in wanted.items() if k in params}
    return default_fields(cls, channels, ndim, None, **kwargs)
