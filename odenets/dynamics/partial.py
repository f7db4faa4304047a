"""Learning dynamics from partial observations (Ayed, de Bézenac, Pajot, Brajard & Gallinari,
2019; ICASSP 2020).

Only part ``y = H x`` of the state ``x`` is observed (``H`` a selection of coordinates, the
:class:`ObservationMask`). An encoder ``E`` maps the last ``k`` observations
``y_{−k+1}, …, y_0`` to a full initial state ``x̂_0``; a vector field ``F`` (learned, known, or
a hybrid ``F_p + F_a``) is integrated from ``x̂_0`` by a zoo scheme (``create_block(scheme, F,
h)``, ``substeps`` steps per observation interval) and the loss is the error of the *observed*
part of the forecast, ``Σ_j ‖H x̂_j − y_j‖²``.

Gauge: the hidden coordinates are determined by the data only up to a change of variables
that the model can absorb. With ``keep_observed=True`` (default) the observed coordinates of
``x̂_0`` are the last observation itself, so only the hidden ones are inferred. A field that
fixes how the hidden coordinates act on the observed ones (a known observed-part equation, as
in :class:`PartialPhysicsField`) removes the gauge; a fully learned field leaves an invertible
map of the hidden coordinates (linear for a linear model), which :func:`hidden_state_fit`
estimates on training data before scoring the recovery on test data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .._validation import check_positive_int
from ..blocks.factory import create_block
from .hybrid import check_integrator


class ObservationMask:
    """Which coordinates of a ``dim``-dimensional state are observed.

    ``observed`` is a sequence of indices or a boolean sequence of length ``dim``; hiding
    everything or nothing is an error (nothing to learn from / nothing hidden).
    """

    def __init__(self, dim: int, observed: Sequence[int] | Sequence[bool] | torch.Tensor):
        self.dim = check_positive_int(dim, "state dimension")
        mask = torch.zeros(dim, dtype=torch.bool)
        observed = list(torch.as_tensor(observed).tolist()) if len(observed) else []
        if observed and all(isinstance(v, bool) for v in observed):
            if len(observed) != dim:
                raise ValueError(
                    f"a boolean observation mask needs one entry per state coordinate "
                    f"({dim}), got {len(observed)}"
                )
            mask = torch.tensor(observed, dtype=torch.bool)
        else:
            for i in observed:
                if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < dim:
                    raise ValueError(
                        f"observed coordinates must be indices in [0, {dim}), got {observed!r}"
                    )
                mask[i] = True
        if not mask.any():
            raise ValueError(
                f"the observation mask hides every coordinate of the {dim}-dimensional state: "
                f"at least one must be observed"
            )
        if mask.all():
            raise ValueError(
                f"the observation mask observes all {dim} coordinates: nothing is hidden; "
                f"use a fully observed model (e.g. odenets.dynamics.DynamicsModel) instead"
            )
        self.mask = mask
        self.observed = torch.nonzero(mask).flatten()
        self.hidden = torch.nonzero(~mask).flatten()

    def observe(self, states: torch.Tensor) -> torch.Tensor:
        """``H x``: the observed coordinates (last axis) of states ``(..., dim)``."""
        if states.shape[-1] != self.dim:
            raise ValueError(
                f"states must end with the state dimension {self.dim}, got {tuple(states.shape)}"
            )
        return states[..., self.observed]

    def assemble(self, observed: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """The full state from its observed and hidden parts (last axis)."""
        out = observed.new_zeros(*observed.shape[:-1], self.dim)
        out[..., self.observed] = observed
        out[..., self.hidden] = hidden
        return out

    def __repr__(self) -> str:
        return f"ObservationMask(dim={self.dim}, observed={self.observed.tolist()})"


class HistoryEncoder(nn.Module):
    """``x̂_0 = E(y_{−k+1..0})``: an MLP on the flattened window (``hidden=0``: linear)."""

    def __init__(self, mask: ObservationMask, window: int, hidden: int = 64,
                 keep_observed: bool = True):  # fmt: skip
        super().__init__()
        self.mask, self.window = mask, check_positive_int(window, "window")
        self.keep_observed = keep_observed
        n_in = window * len(mask.observed)
        n_out = len(mask.hidden) if keep_observed else mask.dim
        if hidden:
            self.net = nn.Sequential(
                nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                nn.Linear(hidden, n_out),
            )  # fmt: skip
        else:
            self.net = nn.Linear(n_in, n_out)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        n_obs = len(self.mask.observed)
        if history.dim() != 3 or history.shape[1:] != (self.window, n_obs):
            raise ValueError(
                f"the observed history must be (batch, {self.window}, {n_obs}), got "
                f"{tuple(history.shape)}"
            )
        out = self.net(history.flatten(1))
        if self.keep_observed:
            return self.mask.assemble(history[:, -1], out)
        return out


class PartialObservationModel(nn.Module):
    """Encoder → full initial state → zoo-scheme integration of ``field``.

    ``forward(history, n_steps)`` returns the full predicted states ``(B, n_steps + 1, dim)``
    at ``t_0, …, t_{n_steps}``; ``observe`` of them is what is compared with the data.
    """

    def __init__(self, encoder: HistoryEncoder, field: nn.Module, dt: float, *,
                 scheme: str = "rk4", substeps: int = 1):  # fmt: skip
        super().__init__()
        check_integrator(scheme, hybrid=True)
        self.encoder, self.mask = encoder, encoder.mask
        self.substeps = check_positive_int(substeps, "substeps")
        self.block = create_block(scheme, field, h=dt / self.substeps)

    def forward(self, history: torch.Tensor, n_steps: int) -> torch.Tensor:
        state = self.block.init(self.encoder(history))
        outs, first = [self.block.output(state)], True
        for _ in range(n_steps):
            for _ in range(self.substeps):
                state = self.block.start(state) if first else self.block.step(state)
                first = False
            outs.append(self.block.output(state))
        return torch.stack(outs, 1)

    def loss(self, observations: torch.Tensor, n_steps: int) -> torch.Tensor:
        """Observed-part MSE over ``t_0..t_{n_steps}`` of windows ``(B, k + n_steps, n_obs)``."""
        k = self.encoder.window
        pred = self.mask.observe(self(observations[:, :k], n_steps))
        return (pred - observations[:, k - 1 : k + n_steps]).pow(2).mean()


class MLPVectorField(nn.Module):
    """``F(x) = W₃ tanh(W₂ tanh(W₁ x))`` on ``(B, dim)`` (``hidden=0``: linear ``F(x) = A x``)."""

    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        if hidden:
            self.net = nn.Sequential(
                nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                nn.Linear(hidden, dim),
            )  # fmt: skip
        else:
            self.net = nn.Linear(dim, dim, bias=False)

    def forward(self, x):
        return self.net(x)


class PartialPhysicsField(nn.Module):
    """Known equations for the observed coordinates, a network for the hidden ones:
    ``ẋ_obs = f_known(x)``, ``ẋ_hid = F_a(x)``. The known part pins the hidden state's meaning."""

    def __init__(self, mask: ObservationMask, known: Callable[[torch.Tensor], torch.Tensor],
                 network: nn.Module):  # fmt: skip
        super().__init__()
        self.mask, self.known, self.network = mask, known, network

    def forward(self, x):
        return self.mask.assemble(self.known(x), self.network(x))


def hidden_state_fit(latent: torch.Tensor, true_hidden: torch.Tensor, observed: torch.Tensor,
                     degree: int = 1):  # fmt: skip
    """Least-squares map ``true_hidden ≈ P(latent_hidden, observed)`` (polynomial of ``degree``).

    Returns a function applying the fitted map: fit it on training data, score on test data.
    """

    def features(lat, obs):
        base = torch.cat([lat, obs], -1)
        cols = [torch.ones_like(base[..., :1]), base]
        for d in range(2, degree + 1):
            cols.append(base**d)
        return torch.cat(cols, -1)

    a = features(latent, observed).reshape(-1, features(latent[:1], observed[:1]).shape[-1])
    b = true_hidden.reshape(-1, true_hidden.shape[-1])
    coef = torch.linalg.lstsq(a.double(), b.double()).solution

    def apply(lat, obs):
        return (features(lat, obs).double() @ coef).to(lat.dtype)

    return apply
