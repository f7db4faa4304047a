"""Hybrid vector fields ``F = F_p + F_a`` and the trajectory model that integrates them.

``HybridField(physics, augmentation)``: either part may be absent (physics only, network
only). ``DynamicsModel`` integrates any vector field from ``y(0)`` over the data grid
``t_k = k·dt``, either with ``torchdiffeq.odeint`` (the Neural ODE: ``rk4`` fixed step,
``dopri5`` adaptive, ...) or with a zoo scheme used as a time stepper (one block step of
``h = dt`` per data interval, the same block reused: the dynamics are autonomous).
``substeps > 1`` takes that many steps of ``dt / substeps`` per data interval (fixed-step
methods and schemes), for stiff fields such as a spectral diffusion term.
"""

from __future__ import annotations

import torch
from torch import nn
from torchdiffeq import odeint

from .._validation import check_positive_int
from ..blocks.base import ODEForm
from ..blocks.factory import create_block, scheme_options
from ..blocks.node import ODE_METHODS
from ..registry import get_scheme

ODEINT_METHODS = tuple(ODE_METHODS)  # every torchdiffeq method


class HybridField(nn.Module):
    """``F(y) = F_p(y) + F_a(y)``, the hybrid vector field of APHYNITY.

    APHYNITY (Yin et al. 2021) decomposes the dynamics into a physical model ``F_p`` with
    few parameters and a network ``F_a`` whose norm is minimised, so that the physics
    explains as much of the data as it can.
    """

    def __init__(self, physics: nn.Module | None = None, augmentation: nn.Module | None = None):
        super().__init__()
        if physics is None and augmentation is None:
            raise ValueError("HybridField needs a physical model, a network, or both")
        self.physics = physics
        self.augmentation = augmentation

    def forward(self, y):
        out = None
        if self.physics is not None:
            out = self.physics(y)
        if self.augmentation is not None:
            extra = self.augmentation(y)
            out = extra if out is None else out + extra
        return out

    def augmentation_norm(self, states: torch.Tensor, normalized: bool = False) -> torch.Tensor:
        """Mean of ``‖F_a(x)‖²`` over the states ``x`` (``(B, T, C, *grid)``).

        The norm is over channels at each state (and grid point), as in APHYNITY's code;
        ``normalized`` divides by ``(‖x‖ + 1e-5)²`` (their ``l2_normalized`` for the pendulum).
        """
        if self.augmentation is None:
            return states.new_zeros(())
        flat = states.reshape(-1, *states.shape[2:])
        sq = self.augmentation(flat).pow(2).sum(dim=1)
        if normalized:
            sq = sq / (flat.pow(2).sum(dim=1).sqrt() + 1e-5) ** 2
        return sq.mean()


class ScaledNetwork(nn.Module):
    """``F_a(y) = s_out ⊙ net(y ⊘ s_in)``: a network on states and derivatives of unit scale.

    ``s_in`` and ``s_out`` (one per channel, fixed buffers) are the standard deviations of the
    training states and of their finite-difference time derivatives
    (:func:`data_scales`). On the damped wave ``u_t`` is ~50 and ``u_tt`` ~1e4, so an
    unscaled network with Adam at lr 1e-3 needs ~1e5 steps just to reach the output's size.
    """

    def __init__(self, net: nn.Module, in_scale: torch.Tensor, out_scale: torch.Tensor):
        super().__init__()
        self.net = net
        self.register_buffer("in_scale", in_scale.detach().clone())
        self.register_buffer("out_scale", out_scale.detach().clone())

    def forward(self, y):
        return self.out_scale * self.net(y / self.in_scale)


def data_scales(train: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel std of the states ``(n, T, C, *grid)`` and of ``(y_{k+1} − y_k)/dt``,
    shaped to broadcast against one state ``(B, C, *grid)``; zeros become ones."""
    dims = [d for d in range(train.dim()) if d != 2]
    rate = (train[:, 1:] - train[:, :-1]) / dt
    shape = (train.shape[2],) + (1,) * (train.dim() - 3)
    scales = []
    for values in (train, rate):
        std = values.double().std(dim=dims)
        scales.append(torch.where(std > 0, std, torch.ones_like(std)).reshape(shape))
    return scales[0], scales[1]


def check_integrator(integrator: str, hybrid: bool) -> str:
    """``'odeint'`` or a registered scheme; a hybrid field needs a one-field first-order one."""
    if integrator == "odeint":
        return integrator
    cls = get_scheme(integrator)
    if hybrid and (cls.num_fields != 1 or cls.ode_form is not ODEForm.FIRST_ORDER):
        raise ValueError(
            f"scheme {integrator!r} integrates {cls.ode_form.value} with {cls.num_fields} "
            f"field(s); a hybrid field F_p + F_a needs a one-field scheme for dy/dt = F(y) "
            f"(e.g. euler, rk2, rk4, midpoint, lm) or 'odeint'"
        )
    return integrator


class DynamicsModel(nn.Module):
    """Predict trajectories ``(B, n_times, *state)`` from ``y(0)`` on the grid ``k·dt``.

    ``integrator='odeint'`` uses ``torchdiffeq.odeint(method, rtol, atol)`` over the whole
    grid; a scheme name builds ``create_block(scheme, field, h=dt)`` and steps it (the
    ``node`` scheme gets ``method``, ``rtol``, ``atol`` and ``adjoint``). ``kind``
    and ``objective`` (``'mse'`` or ``'aphynity'``) record how the model was built.
    """

    def __init__(self, field: nn.Module | tuple[nn.Module, ...], dt: float, *,
                 integrator: str = "odeint", method: str = "rk4", rtol: float = 1e-6,
                 atol: float = 1e-8, kind: str = "", objective: str = "mse",
                 substeps: int = 1, adjoint: bool = False):  # fmt: skip
        super().__init__()
        self.dt = float(dt)
        self.substeps = check_positive_int(substeps, "substeps")
        self.integrator = integrator
        self.method, self.rtol, self.atol = method, rtol, atol
        self.kind, self.objective = kind, objective
        if integrator == "odeint":
            if method not in ODEINT_METHODS:
                raise ValueError(f"Unknown odeint method {method!r}; allowed: {ODEINT_METHODS}")
            self.field = field
            self.block = None
        else:
            # solver settings go to a scheme that takes them (the zoo's Neural ODE block)
            accepted = scheme_options(get_scheme(integrator))
            solver = dict(method=method, rtol=rtol, atol=atol, adjoint=adjoint)
            options = {k: v for k, v in solver.items() if k in accepted}
            self.block = create_block(integrator, field, h=self.dt / self.substeps, **options)
            self.field = self.block.fields[0] if len(self.block.fields) == 1 else self.block.fields
        self.nfe = 0

    @property
    def hybrid(self) -> HybridField | None:
        return self.field if isinstance(self.field, HybridField) else None

    @property
    def physics(self) -> nn.Module | None:
        return self.hybrid.physics if self.hybrid is not None else None

    def forward(self, y0: torch.Tensor, n_times: int) -> torch.Tensor:
        counter = _EvalCounter(self.block.fields if self.block is not None else [self.field])
        with counter:
            if self.block is None:
                times = self.dt * torch.arange(n_times, dtype=y0.dtype, device=y0.device)
                fixed = "step_size" in ODE_METHODS[self.method].options
                options = {"step_size": self.dt / self.substeps} if fixed else None
                out = odeint(
                    lambda t, y: self.field(y), y0, times, method=self.method,
                    rtol=self.rtol, atol=self.atol, options=options,
                )  # fmt: skip
                out = out.movedim(0, 1)
            else:
                state, outs, first = self.block.init(y0), [y0], True
                for _ in range(n_times - 1):
                    for _ in range(self.substeps):
                        state = self.block.start(state) if first else self.block.step(state)
                        first = False
                    outs.append(self.block.output(state))
                out = torch.stack(outs, dim=1)
        self.nfe = counter.count
        return out


class _EvalCounter:
    """Counts calls of the vector field(s) during one prediction (NFE)."""

    def __init__(self, fields):
        self.fields, self.count, self.handles = list(fields), 0, []

    def _hook(self, module, args):
        self.count += 1

    def __enter__(self):
        self.handles = [f.register_forward_pre_hook(self._hook) for f in self.fields]
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
