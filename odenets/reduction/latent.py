"""A non-intrusive latent-dynamics ROM: a learned latent ODE stepped by a zoo scheme.

Latent trajectories ``ẑ(t_n; μ)`` (POD or encoder coordinates of FOM snapshots) are fitted by
``dẑ/dt = F_θ(ẑ, μ)``, an MLP, integrated by any one-field first-order scheme of the zoo
(``odenets.create_block(scheme, field, h=Δt)``: forward Euler, RK4, the adaptive ``node``
block, …). The field is conditioned on the parameter ``μ`` (set before each rollout), so the
block sees a plain ODE in ``ẑ``. Training minimises the rollout MSE over windows of
``horizon`` steps (Adam), in coordinates scaled by the training data's standard deviation.
The FOM is never called: no residual, hence no residual-based estimate (see ``estimate.py``).
"""

from __future__ import annotations

import time

import torch
from torch import nn

from ..blocks.base import ODEForm
from ..blocks.factory import create_block
from ..registry import get_scheme, list_schemes


def latent_schemes() -> list[str]:
    """Registered schemes that integrate a first-order ODE with one field."""
    return [s for s in list_schemes() if _is_latent_scheme(get_scheme(s))]


def _is_latent_scheme(cls) -> bool:
    return cls.num_fields == 1 and cls.ode_form is ODEForm.FIRST_ORDER


class LatentField(nn.Module):
    """``ẑ ↦ F_θ(ẑ, μ)``: an MLP on the latent state, conditioned on ``μ`` (set per rollout)."""

    def __init__(self, latent: int, n_params: int, hidden: int = 64):
        super().__init__()
        self.latent, self.n_params = latent, n_params
        self.net = nn.Sequential(
            nn.Linear(latent + n_params, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, latent),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

        self.mu: torch.Tensor | None = None

    def forward(self, z):
        return self.net(torch.cat([z, self.mu.to(z.dtype).expand(*z.shape[:-1], -1)], dim=-1))


class LatentDynamicsROM(nn.Module):
    """Latent ODE ROM stepped by ``scheme`` with step ``dt`` (in scaled latent coordinates)."""

    def __init__(
        self,
        latent: int,
        n_params: int,
        dt: float,
        *,
        scheme: str = "rk4",
        hidden: int = 64,
        **scheme_kwargs,
    ):
        super().__init__()
        cls = get_scheme(scheme)
        if not _is_latent_scheme(cls):
            raise ValueError(
                f"scheme {scheme!r} integrates {cls.ode_form.value} with {cls.num_fields} "
                f"field(s); a latent ODE dz/dt = F(z, mu) needs a one-field first-order scheme: "
                f"{', '.join(latent_schemes())}"
            )
        self.latent, self.n_params = latent, n_params
        field = LatentField(latent, n_params, hidden)
        # the layout of the latent state, for schemes that need it (read from the signature)
        self.block = create_block(scheme, field, h=dt, channels=latent, ndim=0, **scheme_kwargs)
        self.register_buffer("scale", torch.ones(latent))

    def rollout(self, z0: torch.Tensor, mu: torch.Tensor, n_steps: int) -> torch.Tensor:
        """``(B, n_steps + 1, latent)`` from ``z0 (B, latent)`` at ``mu (B, n_params)``."""
        self.block.field.mu = mu
        state = self.block.init(z0 / self.scale)
        outs = [self.block.output(state)]
        for k in range(n_steps):
            state = self.block.start(state) if k == 0 else self.block.step(state)
            outs.append(self.block.output(state))
        return torch.stack(outs, dim=1) * self.scale


def fit_latent_rom(
    rom: LatentDynamicsROM,
    latent_traj: torch.Tensor,
    mu: torch.Tensor,
    *,
    horizon: int = 10,
    iterations: int = 500,
    lr: float = 3e-3,
    batch: int = 32,
    seed: int = 0,
) -> dict:
    """Fit on trajectories ``(n_traj, n_t, latent)`` at parameters ``mu (n_traj, n_params)``."""
    if latent_traj.ndim != 3 or latent_traj.shape[-1] != rom.latent:
        raise ValueError(
            f"latent trajectories must be (n_traj, n_times, {rom.latent}), "
            f"got {tuple(latent_traj.shape)}"
        )
    if mu.shape != (latent_traj.shape[0], rom.n_params):
        raise ValueError(
            f"mu must be ({latent_traj.shape[0]}, {rom.n_params}), got {tuple(mu.shape)}"
        )
    if not bool(torch.isfinite(latent_traj).all()):
        raise ValueError("latent trajectories contain NaN/inf values")
    n_traj, n_t, _ = latent_traj.shape
    if horizon >= n_t:
        raise ValueError(f"horizon {horizon} must be below the number of times {n_t}")
    data = latent_traj.float()
    rom.scale.copy_(data.reshape(-1, rom.latent).std(0).clamp_min(1e-8))
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(rom.parameters(), lr=lr)
    start, loss = time.perf_counter(), torch.tensor(0.0)
    for _ in range(iterations):
        traj = torch.randint(n_traj, (batch,), generator=gen)
        t0 = torch.randint(n_t - horizon, (batch,), generator=gen)
        windows = torch.stack([data[i, t : t + horizon + 1] for i, t in zip(traj, t0, strict=True)])
        pred = rom.rollout(windows[:, 0], mu[traj].float(), horizon)
        loss = ((pred - windows) / rom.scale).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"final_loss": float(loss), "wall_time": time.perf_counter() - start}
