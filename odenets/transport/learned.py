"""Learned time steppers built from the zoo, and a Bar-Sinai-style learned discretisation.

(a) :class:`LearnedStencil`: a linear stencil of radius ``r``,
    ``ū⁺ = ū + Σ_{j=−r}^{r} c_j ū_{·+j}``,
    i.e. a zoo block (``euler`` by default, ``h = 1``) on a linear periodic 1-D conv field
    (:class:`LinearStencilField`). Its von Neumann factor is ``g(θ) = 1 + Σ c_j e^{ijθ}`` and
    its consistency with ``u_t + a u_x = 0`` at Courant number ``C`` is the moment conditions
    ``Σ c_j = 0``, ``Σ j c_j = −C``, ``Σ j² c_j = C²``, ... (order ``p``: the first ``p + 1``).
(b) :class:`ConvStepper`: a nonlinear periodic conv field of receptive radius ``r``
    (``conv(2r+1) → tanh → conv(1) → tanh → conv(1)``) stepped by any first-order zoo scheme
    (``euler``, ``rk2``, ``rk4``, the two-step ``midpoint`` leapfrog, ...) with ``h = 1``:
    the method of lines with a learned right-hand side. A one-stage scheme's step sees
    ``r`` cells on each side; an ``s``-stage one ``s·r``.
(c) :class:`PolynomialFluxNet` / :class:`LearnedFiniteVolume`: a data-driven discretisation
    (Bar-Sinai et al., PNAS 116, 2019): a periodic conv net predicts, per interface, the
    coefficients of the reconstructions ``u_L, u_R = Σ_k α_k ū_{i+k}`` and of
    ``∂ₓu = Σ_k β_k ū_{i+k}/Δx`` on the six cells ``k = −2..3``, constrained to be exact for
    polynomials up to ``degree`` (``α = α₀ + N z``: ``α₀`` the least-norm exact stencil,
    ``N`` a basis of the null space of the moment constraints, ``z`` the network's output),
    so the scheme is consistent of order ``degree`` whatever the weights. The flux
    ``F = F^G(u_L, u_R) − ν ∂ₓu`` enters the finite-volume update (exactly conservative),
    advanced with SSP-RK3 at the CFL step.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..blocks.base import ODEForm, state_leaves, state_like
from ..blocks.factory import create_block
from ..registry import get_scheme, list_schemes
from .base import Scheme, shift
from .grid import Grid, check_state
from .rollout import Rollout


def first_order_schemes() -> list[str]:
    """Zoo schemes of ``dy/dt = F(y)`` with a single field (usable as transport steppers)."""
    return [
        n
        for n in list_schemes()
        if get_scheme(n).ode_form is ODEForm.FIRST_ORDER and get_scheme(n).num_fields == 1
    ]


def _check_scheme(scheme: str) -> None:
    allowed = first_order_schemes()
    if scheme not in allowed:
        raise ValueError(
            f"a transport stepper needs a first-order one-field zoo scheme; got {scheme!r}, "
            f"allowed: {allowed}"
        )


def _check_radius(radius) -> int:
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
        raise ValueError(f"the stencil radius must be a positive integer, got {radius!r}")
    return radius


class PeriodicConv1d(nn.Module):
    """``Conv1d`` of kernel ``2·radius + 1`` with circular padding (a periodic stencil)."""

    def __init__(self, cin: int, cout: int, radius: int, bias: bool = True):
        super().__init__()
        self.radius = radius
        self.conv = nn.Conv1d(cin, cout, 2 * radius + 1, bias=bias)

    def forward(self, y):
        if self.radius:
            y = torch.cat([y[..., -self.radius :], y, y[..., : self.radius]], dim=-1)
        return self.conv(y)


class LinearStencilField(nn.Module):
    """``F(ū)_i = Σ_{j=−r}^{r} c_j ū_{i+j}`` (cross-correlation weights ``c``), zero-initialised."""

    def __init__(self, radius: int):
        super().__init__()
        self.radius = _check_radius(radius)
        self.weight = nn.Parameter(torch.zeros(2 * radius + 1))

    def forward(self, y):
        r = self.radius
        padded = torch.cat([y[..., -r:], y, y[..., :r]], dim=-1)
        return nn.functional.conv1d(padded, self.weight.view(1, 1, -1).to(y))

    def stencil(self) -> torch.Tensor:
        """``c_j`` for ``j = −r..r``."""
        return self.weight.detach().clone()


class _ZooStepper(nn.Module):
    """A zoo block on a field of ``(B, 1, N)`` states; states here are ``(B, N)``."""

    radius: int

    def _build(self, scheme: str, field: nn.Module, h: float):
        _check_scheme(scheme)
        self.scheme = scheme
        self.block = create_block(scheme, field, h=h)
        tableau = getattr(get_scheme(scheme), "tableau", None)
        self.step_radius = self.radius * (len(tableau.b) if tableau is not None else 1)

    def _check(self, u):
        check_state(u)
        Grid(u.shape[-1]).check_stencil(self.radius, f"{type(self).__name__}(radius={self.radius})")

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """One step ``ū → ū⁺`` (a multistep scheme takes its starter step)."""
        self._check(u)
        block = self.block
        return block.output(block.start(block.init(u.unsqueeze(-2)))).squeeze(-2)

    step = forward

    def unroll(self, u: torch.Tensor, steps: int) -> torch.Tensor:
        """``(B, steps + 1, N)`` differentiable trajectory (the scheme's own history)."""
        self._check(u)
        block, out = self.block, [u]
        state = block.init(u.unsqueeze(-2))
        for k in range(steps):
            state = block.start(state) if k == 0 else block.step(state)
            out.append(block.output(state).squeeze(-2))
        return torch.stack(out, 1)

    @torch.no_grad()
    def rollout(self, u: torch.Tensor, steps: int, blowup: float = 1e6) -> Rollout:
        """Like :meth:`unroll` without gradients, with blow-ups recorded per member."""
        self._check(u)
        block = self.block
        batch = u.shape[0]
        out = torch.full((batch, steps + 1, u.shape[-1]), math.nan, dtype=u.dtype)
        out[:, 0] = u
        blown = torch.full((batch,), -1, dtype=torch.long)
        alive = torch.arange(batch)
        state = block.init(u.unsqueeze(-2))
        for k in range(steps):
            state = block.start(state) if k == 0 else block.step(state)
            y = block.output(state).squeeze(-2)
            bad = ~torch.isfinite(y).all(-1) | (y.abs().nan_to_num(math.inf).amax(-1) > blowup)
            if bad.any():
                blown[alive[bad]] = k + 1
                alive = alive[~bad]
                state = state_like(state, [leaf[~bad] for leaf in state_leaves(state)])
                y = y[~bad]
            out[alive, k + 1] = y
            if not alive.numel():
                break
        return Rollout(out, blown, steps)


class LearnedStencil(_ZooStepper):
    """(a) ``ū⁺ = ū + conv_c(ū)``: a zoo block (default ``euler``, ``h = 1``) on a linear field."""

    def __init__(self, radius: int, scheme: str = "euler"):
        super().__init__()
        self.radius = _check_radius(radius)
        self.field = LinearStencilField(radius)
        self._build(scheme, self.field, 1.0)

    def stencil(self) -> torch.Tensor:
        """The increment stencil ``c_j``, ``j = −r..r`` (for a one-stage scheme)."""
        return self.field.stencil()


class ConvStepper(_ZooStepper):
    """(b) A nonlinear periodic conv field of receptive radius ``r`` stepped by a zoo scheme."""

    def __init__(self, radius: int, hidden: int = 16, scheme: str = "euler", h: float = 1.0):
        super().__init__()
        self.radius = _check_radius(radius)
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden must be a positive integer, got {hidden!r}")
        last = nn.Conv1d(hidden, 1, 1)
        nn.init.normal_(last.weight, std=1e-3)
        nn.init.zeros_(last.bias)
        self.field = nn.Sequential(
            PeriodicConv1d(1, hidden, radius),
            nn.Tanh(),
            nn.Conv1d(hidden, hidden, 1),
            nn.Tanh(),
            last,
        )
        self._build(scheme, self.field, h)


# ------------------------------------------------------------- (c) learned flux stencils
OFFSETS = tuple(range(-2, 4))  # cells i−2..i+3 around the interface i+1/2


def polynomial_constraints(degree: int, offsets=OFFSETS, derivative: int = 0):
    """``(A, b)`` with ``A α = b`` iff ``Σ_k α_k ū_{i+k}`` is exact at ``x_{i+1/2}`` for the
    ``derivative``-th derivative (in units ``Δx = 1``) of every polynomial of degree ≤ ``degree``.

    ``A_{qk} = ((k+½)^{q+1} − (k−½)^{q+1})/(q+1)`` (the cell average of ``x^q``), and
    ``b_q = d^m/dx^m x^q`` at ``x = ½``.
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or not 0 <= degree < len(offsets):
        raise ValueError(f"degree must be an integer in [0, {len(offsets) - 1}], got {degree!r}")
    k = np.asarray(offsets, dtype=float)
    a = np.stack(
        [((k + 0.5) ** (q + 1) - (k - 0.5) ** (q + 1)) / (q + 1) for q in range(degree + 1)]
    )
    b = np.array(
        [
            math.perm(q, derivative) * 0.5 ** (q - derivative) if q >= derivative else 0.0
            for q in range(degree + 1)
        ]
    )
    return a, b


def constrained_basis(degree: int, derivative: int = 0, offsets=OFFSETS):
    """``(α₀, N)``: the least-norm exact stencil and an orthonormal null-space basis."""
    a, b = polynomial_constraints(degree, offsets, derivative)
    alpha0 = np.linalg.lstsq(a, b, rcond=None)[0]
    _, s, vt = np.linalg.svd(a)
    rank = int((s > 1e-10 * s[0]).sum())
    return torch.tensor(alpha0), torch.tensor(vt[rank:].T.copy())


class PolynomialFluxNet(nn.Module):
    """(c) Per-interface stencil coefficients ``α_L, α_R, β`` exact to polynomial ``degree``."""

    def __init__(self, degree: int = 1, width: int = 32, depth: int = 3, kernel_radius: int = 2):
        super().__init__()
        self.degree = degree
        self.radius = max(max(abs(o) for o in OFFSETS), kernel_radius * depth)
        a0, null = constrained_basis(degree, 0)
        d0, dnull = constrained_basis(degree, 1)
        self.register_buffer("alpha0", a0)
        self.register_buffer("null", null)
        self.register_buffer("beta0", d0)
        self.register_buffer("dnull", dnull)
        self.free = null.shape[1]
        layers, cin = [], 1
        for _ in range(depth - 1):
            layers += [PeriodicConv1d(cin, width, kernel_radius), nn.ReLU()]
            cin = width
        last = PeriodicConv1d(cin, 2 * self.free + dnull.shape[1], kernel_radius)
        nn.init.zeros_(last.conv.weight)
        nn.init.zeros_(last.conv.bias)
        self.net = nn.Sequential(*layers, last)

    def coefficients(self, u: torch.Tensor):
        """``α_L, α_R, β``: ``(B, N, 6)`` each, exact for polynomials up to ``degree``."""
        z = self.net(u.unsqueeze(-2)).transpose(-1, -2)  # (B, N, channels)
        f = self.free
        null, dnull = self.null.to(u), self.dnull.to(u)
        alpha_l = self.alpha0.to(u) + z[..., :f] @ null.T
        alpha_r = self.alpha0.to(u) + z[..., f : 2 * f] @ null.T
        beta = self.beta0.to(u) + z[..., 2 * f :] @ dnull.T
        return alpha_l, alpha_r, beta

    def forward(self, u: torch.Tensor):
        """Interface values ``u_L, u_R`` and ``Δx ∂ₓu`` at every ``x_{i+1/2}``."""
        cells = torch.stack([shift(u, k) for k in OFFSETS], -1)  # (B, N, 6)
        alpha_l, alpha_r, beta = self.coefficients(u)
        return (cells * alpha_l).sum(-1), (cells * alpha_r).sum(-1), (cells * beta).sum(-1)


class LearnedFiniteVolume(Scheme):
    """(c) The finite-volume method of lines with a :class:`PolynomialFluxNet` flux."""

    name = "learned_fv"
    cfl_limit = 1.0
    method_of_lines = True
    reference = "Bar-Sinai, Hoyer, Hickey & Brenner, PNAS 116 (2019)"

    def __init__(
        self, law, net: PolynomialFluxNet, time_scheme: str = "ssprk3", strict: bool = False
    ):
        super().__init__(law, time_scheme, strict)
        self.net = net
        self.order = net.degree
        self.radius = net.radius

    def interface_flux(self, u, dx, dt):
        left, right, dudx = self.net(u)
        return self.law.godunov(left, right) - self.law.nu * dudx / dx

    def _viscous_source(self, u, t, grid, index=None):
        return self.law.source(grid, t, u, index)  # the viscous flux is the network's


def train_stepper(
    model: nn.Module,
    loss_fn,
    steps: int,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Adam on ``loss_fn(model, generator)`` for ``steps`` steps; the loss history."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model, generator)
        if not torch.isfinite(loss):
            history.append(float(loss.detach()))
            break
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
    return history
