"""Physical models ``F_p`` with learnable parameters, for hybrid models ``F = F_p + F_a``.

Each model states its equation, the state it acts on (``ndim`` 0: a vector of ``channels``;
1 / 2: a field with ``channels`` channels on a periodic grid) and the parameters it can learn.
``estimates()`` returns the current parameter values under the dataset's parameter names, so
the error against the data's true parameters is a dictionary comparison. Diffusion-like
coefficients are learned through their logarithm (they stay positive); a non-positive
initial value is an error.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from .._validation import unknown_name_error
from ..registry import register_into

_PHYSICS: dict[str, type[PhysicalModel]] = {}


def register_physics(cls):
    return register_into(_PHYSICS, "physical model", cls.name, cls)


def list_physics() -> list[str]:
    return sorted(_PHYSICS)


def get_physics(name: str) -> type[PhysicalModel]:
    if name not in _PHYSICS:
        raise unknown_name_error("physical model", name, _PHYSICS)
    return _PHYSICS[name]


def create_physics(name: str, data, learn: bool = True, init: dict | None = None):
    """Build physical model ``name`` for dataset ``data`` (a :class:`DynamicsData`).

    ``learn=True`` starts the learnable parameters at ``init`` (or the model's default
    guess); ``learn=False`` fixes every parameter to the data's true value (the "true ODE").
    """
    cls = get_physics(name)
    shape = tuple(data.state_shape)
    if cls.ndim != data.ndim or shape[0] != cls.channels:
        kind = "a vector" if cls.ndim == 0 else f"a {cls.ndim}-D field"
        raise ValueError(
            f"physical model {name!r} acts on {kind} with {cls.channels} channel(s), but "
            f"dataset {data.name!r} has states of shape {shape} (ndim {data.ndim})"
        )
    try:
        model = cls.for_data(data.settings, learn=learn, init=dict(init or {}))
    except KeyError as err:
        raise ValueError(
            f"physical model {name!r} needs the dataset setting {err.args[0]!r}, which dataset "
            f"{data.name!r} does not have: the model is made for another system (its settings: "
            f"{sorted(k for k in data.settings if k not in ('seed', 'n_val'))})"
        ) from None
    check_fits(model, name, data)
    return model


def check_fits(model: nn.Module, name: str, data) -> None:
    """Apply ``model`` to one state of ``data``: it must return a tensor of the state's shape.

    Catches what the channel count cannot: a grid of another size than the model was built
    for (e.g. a known velocity field on 32×32 applied to 16×16 data).
    """
    state = data.train[:1, 0].to(torch.float64)
    try:
        with torch.no_grad():
            out = model.to(torch.float64)(state)
    except RuntimeError as err:
        raise ValueError(
            f"physical model {name!r} does not fit dataset {data.name!r}: applied to a state "
            f"of shape {tuple(state.shape[1:])} it fails ({err})"
        ) from None
    if tuple(out.shape) != tuple(state.shape):
        raise ValueError(
            f"physical model {name!r} does not fit dataset {data.name!r}: it maps a state of "
            f"shape {tuple(state.shape[1:])} to one of shape {tuple(out.shape[1:])}; the "
            f"vector field must return the shape of the state"
        )


def positive_log_parameter(module: nn.Module, name: str, value: float, learn: bool) -> None:
    """Store ``log(value)`` as a parameter (``learn``) or a buffer; ``value`` must be > 0."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(
            f"{type(module).__name__}: {name} must be > 0 (a negative or zero diffusion/"
            f"frequency is outside its meaningful range), got {value!r}"
        )
    tensor = torch.tensor(math.log(value), dtype=torch.float64)
    if learn:
        module.register_parameter("log_" + name, nn.Parameter(tensor))
    else:
        module.register_buffer("log_" + name, tensor)


class PhysicalModel(nn.Module):
    """A vector field ``F_p(y)`` from physics; subclasses set the class data below."""

    name: ClassVar[str] = ""
    equation: ClassVar[str] = ""
    ndim: ClassVar[int] = 0
    channels: ClassVar[int] = 2

    @classmethod
    def for_data(cls, settings: dict, learn: bool, init: dict) -> PhysicalModel:
        raise NotImplementedError

    def estimates(self) -> dict[str, float]:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v:.6g}" for k, v in self.estimates().items())


def _check_init(cls, init: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(init) - set(allowed))
    if unknown:
        raise ValueError(
            f"physical model {cls.name!r} has no parameter {unknown[0]!r}; "
            f"initial values can be given for {list(allowed)}"
        )


# -------------------------------------------------------------------------------- pendulums
@register_physics
class FrictionlessPendulum(PhysicalModel):
    """Frictionless pendulum ``θ'' = −ω₀² sin θ`` with learned ``ω₀``.

    APHYNITY's incomplete physics for the damped pendulum: ``ω₀²`` is learned directly
    (initial guess 0.2 as in their code); ``estimates`` reports ``ω₀ = √ω₀²``.
    """

    name = "frictionless_pendulum"
    equation = "(θ, θ')' = (θ', −ω₀² sin θ)"

    def __init__(self, omega0_square: float = 0.2, learn: bool = True):
        super().__init__()
        if not omega0_square > 0:
            raise ValueError(f"omega0_square must be > 0, got {omega0_square!r}")
        value = torch.tensor(float(omega0_square), dtype=torch.float64)
        if learn:
            self.omega0_square = nn.Parameter(value)
        else:
            self.register_buffer("omega0_square", value)

    @classmethod
    def for_data(cls, settings, learn, init):
        _check_init(cls, init, ("omega0_square",))
        if not learn:
            return cls(settings["omega0"] ** 2, learn=False)
        return cls(init.get("omega0_square", 0.2), learn=True)

    def forward(self, y):
        q, p = y[..., 0:1], y[..., 1:2]
        return torch.cat([p, -self.omega0_square.to(y.dtype) * torch.sin(q)], dim=-1)

    def estimates(self):
        return {"omega0": math.sqrt(abs(float(self.omega0_square.detach())))}


@register_physics
class DampedPendulum(PhysicalModel):
    """Damped pendulum ``θ'' = −ω₀² sin θ − α θ'`` (the complete model: APHYNITY's true ODE)."""

    name = "damped_pendulum"
    equation = "(θ, θ')' = (θ', −ω₀² sin θ − α θ')"

    def __init__(self, omega0_square: float, alpha: float, learn: bool = False):
        super().__init__()
        if not omega0_square > 0 or not alpha >= 0:
            raise ValueError(
                f"need omega0_square > 0 and alpha >= 0, got {omega0_square!r}, {alpha!r}"
            )
        values = torch.tensor([float(omega0_square), float(alpha)], dtype=torch.float64)
        if learn:
            self.coefficients = nn.Parameter(values)
        else:
            self.register_buffer("coefficients", values)

    @classmethod
    def for_data(cls, settings, learn, init):
        _check_init(cls, init, ("omega0_square", "alpha"))
        if not learn:
            return cls(settings["omega0"] ** 2, settings["alpha"], learn=False)
        return cls(init.get("omega0_square", 0.2), init.get("alpha", 0.1), learn=True)

    def forward(self, y):
        w2, alpha = self.coefficients.to(y.dtype)
        q, p = y[..., 0:1], y[..., 1:2]
        return torch.cat([p, -w2 * torch.sin(q) - alpha * p], dim=-1)

    def estimates(self):
        w2, alpha = (float(c) for c in self.coefficients.detach())
        return {"omega0": math.sqrt(abs(w2)), "alpha": alpha}


@register_physics
class HarmonicOscillator(PhysicalModel):
    """Mass–spring ``q' = p/m, p' = −k q`` with learned stiffness ``k`` (``m`` known)."""

    name = "harmonic_oscillator"
    equation = "(q, p)' = (p/m, −k q)"

    def __init__(self, k: float = 0.5, m: float = 1.0, learn: bool = True):
        super().__init__()
        positive_log_parameter(self, "k", k, learn)
        if not m > 0:
            raise ValueError(f"mass m must be > 0, got {m!r}")
        self.m = float(m)

    @classmethod
    def for_data(cls, settings, learn, init):
        _check_init(cls, init, ("k",))
        k = settings["k"] if not learn else init.get("k", 0.5)
        return cls(k, settings["m"], learn=learn)

    def forward(self, y):
        k = self.log_k.exp().to(y.dtype)
        return torch.cat([y[..., 1:2] / self.m, -k * y[..., 0:1]], dim=-1)

    def estimates(self):
        return {"k": float(self.log_k.detach().exp())}


# ----------------------------------------------------------------------- reaction–diffusion
def laplacian_5point(u: torch.Tensor, dx: float) -> torch.Tensor:
    """Periodic five-point Laplacian on the last two dimensions."""
    return (u.roll(1, -1) + u.roll(-1, -1) + u.roll(1, -2) + u.roll(-1, -2) - 4 * u) / dx**2


@register_physics
class Diffusion2d(PhysicalModel):
    """Diffusion only, ``∂ₜ(u, v) = (aΔu, bΔv)``, learned ``a, b`` (APHYNITY's incomplete RD).

    Five-point periodic Laplacian with the data's grid step; ``a, b`` are learned through
    their logarithms (initial guess 1e-2, 1e-2).
    """

    name = "diffusion_2d"
    equation = "∂ₜ(u, v) = (aΔu, bΔv)"
    ndim = 2

    def __init__(self, a: float, b: float, dx: float, learn: bool = True):
        super().__init__()
        positive_log_parameter(self, "a", a, learn)
        positive_log_parameter(self, "b", b, learn)
        self.dx = float(dx)

    @classmethod
    def for_data(cls, settings, learn, init):
        _check_init(cls, init, ("a", "b"))
        dx = settings["length"] / settings["size"]
        if not learn:
            return cls(settings["a"], settings["b"], dx, learn=False)
        return cls(init.get("a", 1e-2), init.get("b", 1e-2), dx, learn=True)

    def coefficients(self, like: torch.Tensor) -> torch.Tensor:
        ab = torch.stack([self.log_a, self.log_b]).exp().to(like.dtype)
        return ab.view(2, *([1] * (like.dim() - 3)), 1, 1)

    def forward(self, y):
        return self.coefficients(y[0]) * laplacian_5point(y, self.dx)

    def estimates(self):
        return {"a": float(self.log_a.detach().exp()), "b": float(self.log_b.detach().exp())}


@register_physics
class FitzHughNagumo(Diffusion2d):
    """Complete reaction–diffusion: ``(aΔu + u − u³ − v − k, bΔv + u − v)`` (true PDE)."""

    name = "fitzhugh_nagumo"
    equation = "∂ₜ(u, v) = (aΔu + u − u³ − v − k, bΔv + u − v)"

    def __init__(self, a: float, b: float, k: float, dx: float, learn: bool = False):
        super().__init__(a, b, dx, learn)
        self.k = float(k)

    @classmethod
    def for_data(cls, settings, learn, init):
        _check_init(cls, init, ("a", "b"))
        dx = settings["length"] / settings["size"]
        a = settings["a"] if not learn else init.get("a", 1e-2)
        b = settings["b"] if not learn else init.get("b", 1e-2)
        return cls(a, b, settings["k"], dx, learn=learn)

    def forward(self, y):
        diffusion = super().forward(y)
        u, v = y[:, 0:1], y[:, 1:2]
        reaction = torch.cat([u - u**3 - v - self.k, u - v], dim=1)
        return diffusion + reaction


# ---------------------------------------------------------------------- advection–diffusion
@register_physics
class AdvectionDiffusion(PhysicalModel):
    """``∂ₜc = −w·∇c + DΔc`` with the known velocity ``w`` and learned ``D`` (spectral).

    Derivatives by FFT on the periodic grid (the data's discretisation); ``w`` is the
    dataset's cellular flow plus drift, ``D`` is learned through its logarithm.
    """

    name = "advection_diffusion"
    equation = "∂ₜc = −w·∇c + DΔc"
    ndim = 2
    channels = 1

    def __init__(self, D: float, velocity: tuple[torch.Tensor, torch.Tensor], length: float,
                 learn: bool = True):  # fmt: skip
        super().__init__()
        positive_log_parameter(self, "D", D, learn)
        size = velocity[0].shape[-1]
        k = 2 * math.pi * torch.fft.fftfreq(size, d=length / size, dtype=torch.float64)
        k_odd = k.clone()
        if size % 2 == 0:
            k_odd[size // 2] = 0.0  # odd derivatives drop the Nyquist mode
        # real buffers (a dtype cast of the module would drop the imaginary part of complex ones)
        self.register_buffer("kx", k_odd.view(1, -1))
        self.register_buffer("ky", k_odd.view(-1, 1))
        self.register_buffer("minus_k2", -(k.view(1, -1) ** 2 + k.view(-1, 1) ** 2))
        self.register_buffer("wx", velocity[0])
        self.register_buffer("wy", velocity[1])

    @classmethod
    def for_data(cls, settings, learn, init):
        from .pde_datasets import cellular_velocity, grid_2d

        _check_init(cls, init, ("D",))
        wx, wy = cellular_velocity(settings, *grid_2d(settings["size"], settings["length"]))
        velocity = (torch.from_numpy(wx), torch.from_numpy(wy))
        D = settings["D"] if not learn else init.get("D", 0.003)
        return cls(D, velocity, settings["length"], learn=learn)

    def forward(self, y):
        c_hat = torch.fft.fft2(y)
        cx = torch.fft.ifft2(c_hat * (1j * self.kx)).real
        cy = torch.fft.ifft2(c_hat * (1j * self.ky)).real
        lap = torch.fft.ifft2(c_hat * self.minus_k2).real
        D = self.log_D.exp()
        out = -(self.wx * cx + self.wy * cy) + D * lap
        return out.to(y.dtype)

    def estimates(self):
        return {"D": float(self.log_D.detach().exp())}


# ------------------------------------------------------------------------------ damped wave
def second_difference(u: torch.Tensor, dx: float, dim: int, stencil, boundary: str):
    """``∂²u`` along ``dim`` by a centred ``stencil`` (``2r + 1`` weights).

    ``'periodic'`` wraps around; ``'aphynity'`` is zero on the ``r`` cells next to each edge of
    ``dim``, as in APHYNITY's data and physical model (derivatives on the interior only).
    """
    r, dim = len(stencil) // 2, dim % u.dim()
    if boundary == "periodic":
        return sum(w * u.roll(r - j, dim) for j, w in enumerate(stencil)) / dx**2
    n = u.shape[dim]
    inner = sum(w * u.narrow(dim, j, n - 2 * r) for j, w in enumerate(stencil)) / dx**2
    zeros = inner.new_zeros(inner.shape[:dim] + (r,) + inner.shape[dim + 1 :])
    return torch.cat([zeros, inner, zeros], dim=dim)


@register_physics
class DampedWave(PhysicalModel):
    """Damped wave ``∂ₜ(u, u_t) = (u_t, c²Δu − k u_t)`` (the complete model: the true PDE).

    ``Δ`` is the data's fourth-order Laplacian (five points per axis, weights
    ``(−1/12, 4/3, −5/2, 4/3, −1/12)/dx²``, error O(dx⁴)) with the data's boundary:
    each ∂² zero on the 2 cells next to its axis' edges (APHYNITY) or periodic. ``c`` and
    ``k`` are fixed (true ODE) or learned through their logarithms.
    """

    name = "damped_wave"
    equation = "∂ₜ(u, u_t) = (u_t, c²Δu − k u_t)"
    ndim = 2
    damped: ClassVar[bool] = True

    def __init__(self, c: float, k: float, dx: float, boundary: str = "aphynity",
                 learn: bool = False):  # fmt: skip
        from .pde_datasets import FOURTH_ORDER, WAVE_BOUNDARIES

        super().__init__()
        if boundary not in WAVE_BOUNDARIES:
            raise ValueError(f"boundary must be one of {WAVE_BOUNDARIES}, got {boundary!r}")
        positive_log_parameter(self, "c", c, learn)
        if self.damped:
            positive_log_parameter(self, "k", k, learn)
        self.dx, self.boundary, self.stencil = float(dx), boundary, FOURTH_ORDER

    @classmethod
    def for_data(cls, settings, learn, init):
        names = ("c", "k") if cls.damped else ("c",)
        _check_init(cls, init, names)
        dx = settings["length"] / settings["size"]
        guess = {"c": 360.0, "k": 45.0}  # APHYNITY's initial c_org = 3.6 (c = 100 c_org), k
        c = settings["c"] if not learn else init.get("c", guess["c"])
        k = settings["k"] if not learn else init.get("k", guess["k"])
        return cls(c, k, dx, settings["boundary"], learn=learn)

    def laplacian(self, u):
        return sum(second_difference(u, self.dx, d, self.stencil, self.boundary) for d in (-1, -2))

    def forward(self, y):
        u, ut = y[:, 0:1], y[:, 1:2]
        c = self.log_c.exp().to(y.dtype)
        utt = c**2 * self.laplacian(u)
        if self.damped:
            utt = utt - self.log_k.exp().to(y.dtype) * ut
        return torch.cat([ut, utt], dim=1)

    def estimates(self):
        out = {"c": float(self.log_c.detach().exp())}
        if self.damped:
            out["k"] = float(self.log_k.detach().exp())
        return out


@register_physics
class Wave(DampedWave):
    """Undamped wave ``∂ₜ(u, u_t) = (u_t, c²Δu)``, learned ``c``: APHYNITY's incomplete model.

    Initial guess c = 360 (APHYNITY's ``c_org = 3.6``; true 330). The Laplacian is the
    data's (fourth order); APHYNITY's own model uses the three-point one on the same data.
    """

    name = "wave"
    equation = "∂ₜ(u, u_t) = (u_t, c²Δu)"
    damped = False

    def __init__(self, c: float, k: float = 0.0, dx: float = 1.0, boundary: str = "aphynity",
                 learn: bool = True):  # fmt: skip
        super().__init__(c, k, dx, boundary, learn)
