"""PDE-Net 2.0 (Long, Lu & Dong, J. Comput. Phys. 2019): identify ``∂ₜu = F(u, ∇u, ∇²u, …)``.

The state ``u`` (``C`` channels on a periodic grid) is filtered by moment-constrained kernels
(:class:`~odenets.fields.moment.MomentConv2d`) approximating every derivative ``∂x^p ∂y^r`` of
total order ``≤ max_order``; a symbolic network (:class:`SymNet`, one per channel) combines
them into a polynomial right-hand side, and forward Euler steps it,
``u_{n+1} = u_n + δt F(u_n)`` (``create_block("euler", PDENetField(...), h=δt)``).

SymNet (their ``expr.poly``): layer ``l`` forms two affine combinations of the current
features and appends their product, ``f ← [f, (W_l f + b_l)_1 · (W_l f + b_l)_2]``; after
``hidden_layers`` layers a final affine map gives ``F``. With ``L`` layers it represents
polynomials of degree up to ``2^L``; :meth:`SymNet.terms` expands it exactly and
returns its terms and coefficients (the identified PDE).

Deviations from their code: central (not upwind) first-derivative filters; see the bench.

Burgers data (:func:`burgers_data`): ``u_t = −u u_x − v u_y + νΔu``, ``v_t = −u v_x − v v_y +
νΔv`` on ``[0, 2π)²``, Fourier pseudo-spectral (2/3 dealiasing) RK4 on a grid ``zoom`` times
finer, subsampled to the data grid; initial fields as in their ``initgen``: random Fourier
modes ``|k| ≤ freq``, scaled to ``max |u| = 2``, plus a per-channel shift ``U(−2, 2)``; half of
each batch is first evolved to ``t = 1``. Observations carry Gaussian noise of ``noise`` × the
standard deviation of the clean data.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .._validation import check_positive_int, check_step
from ..fields.moment import MomentConv2d, huber_l1


def derivative_orders(max_order: int) -> tuple[tuple[int, int], ...]:
    """``(p, r)`` for ``∂x^p ∂y^r`` with ``p + r ≤ max_order``, by total order."""
    check_positive_int(max_order, "max_order")
    return tuple((k - r, r) for k in range(max_order + 1) for r in range(k + 1))


def term_name(channel: str, order: tuple[int, int]) -> str:
    p, r = order
    return channel + ("_" + "x" * p + "y" * r if p + r else "")


class SymNet(nn.Module):
    """Polynomial network ``F(f)`` on features ``f`` (last axis), ``hidden_layers`` products."""

    def __init__(self, features: int, hidden_layers: int = 3, names: list[str] | None = None):
        super().__init__()
        self.features = check_positive_int(features, "features")
        self.hidden_layers = check_positive_int(hidden_layers, "hidden_layers")
        self.layers = nn.ModuleList(
            nn.Linear(features + i, 2, dtype=torch.float64) for i in range(hidden_layers)
        )
        self.out = nn.Linear(features + hidden_layers, 1, dtype=torch.float64)
        self.names = names or [f"f{i}" for i in range(features)]
        for layer in (*self.layers, self.out):
            nn.init.normal_(layer.weight, std=0.1)
            nn.init.zeros_(layer.bias)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            a, b = layer(f).unbind(-1)
            f = torch.cat([f, (a * b)[..., None]], -1)
        return self.out(f)[..., 0]

    def polynomial(self, prune: float = 1e-12) -> dict[tuple[int, ...], float]:
        """The expanded polynomial ``{exponents: coefficient}`` with the current weights.

        Exact sparse expansion layer by layer (products of affine forms); a monomial is an
        integer key in base ``2^L + 1`` (no carries: degrees stay ``≤ 2^L``); intermediate
        coefficients with ``|c| ≤ prune`` are dropped.
        """
        n, base = self.features, 2**self.hidden_layers + 1
        place = base ** np.arange(n, dtype=np.int64)
        feats = [(np.array([place[j]]), np.array([1.0])) for j in range(n)]

        def affine(w, b):
            out = []
            for i in range(w.shape[0]):
                keys = np.concatenate([[0]] + [k for k, _ in feats])
                vals = np.concatenate([[b[i]]] + [w[i, j] * c for j, (_, c) in enumerate(feats)])
                out.append(_collect(keys, vals, prune))
            return out

        for layer in self.layers:
            w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
            (ka, ca), (kb, cb) = affine(w, b)
            feats.append(
                _collect((ka[:, None] + kb[None]).ravel(), np.outer(ca, cb).ravel(), prune)
            )
        keys, vals = affine(self.out.weight.detach().numpy(), self.out.bias.detach().numpy())[0]
        digits = (keys[:, None] // place[None]) % base
        return {tuple(int(e) for e in d): float(c) for d, c in zip(digits, vals, strict=True)}

    def terms(self, threshold: float = 0.0) -> dict[str, float]:
        """``{monomial: coefficient}`` of the expansion with ``|c| > threshold``, largest first;
        monomials are written as products of the feature names (``u*u_x``)."""
        out = {}
        for exps, c in self.polynomial().items():
            if abs(c) <= threshold:
                continue
            factors = []
            for name, e in sorted(zip(self.names, exps, strict=True)):
                factors += [name] * e
            out["*".join(factors) or "1"] = c
        return dict(sorted(out.items(), key=lambda kv: -abs(kv[1])))


def _collect(keys: np.ndarray, vals: np.ndarray, prune: float):
    """Sum the coefficients of equal monomial keys; drop ``|c| ≤ prune``."""
    uniq, inv = np.unique(keys, return_inverse=True)
    sums = np.bincount(inv.ravel(), weights=vals, minlength=len(uniq))
    keep = np.abs(sums) > prune
    return uniq[keep], sums[keep]


class PDENetField(nn.Module):
    """``F(u)``: moment-constrained derivatives of every channel → one SymNet per channel."""

    def __init__(self, channels: int = 2, dx: float = 1.0, max_order: int = 2,
                 kernel_size: int = 5, hidden_layers: int = 3, learn_moments: bool = False,
                 accuracy: int = 1, names: tuple[str, ...] | None = None):  # fmt: skip
        super().__init__()
        self.orders = derivative_orders(max_order)
        self.channels = check_positive_int(channels, "channels")
        self.names = names or tuple("uvwpqrs"[:channels])
        if len(self.names) != channels:
            raise ValueError(f"need one name per channel ({channels}), got {self.names!r}")
        self.derivatives = MomentConv2d(channels, orders=self.orders, kernel_size=kernel_size,
                                        dx=dx, accuracy=accuracy, learn_moments=learn_moments,
                                        padding="circular").double()  # fmt: skip
        self.derivatives.coefficients.requires_grad_(False)  # SymNet combines the terms
        features = [term_name(c, o) for c in self.names for o in self.orders]
        self.symnets = nn.ModuleList(
            SymNet(len(features), hidden_layers, features) for _ in range(channels)
        )

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        d = self.derivatives.derivatives(u)  # (B, C, n_orders, H, W)
        f = d.flatten(1, 2).movedim(1, -1)  # (B, H, W, C · n_orders)
        return torch.stack([net(f) for net in self.symnets], 1)

    def sparsity(self) -> torch.Tensor:
        """PDE-Net 2.0's Huber-ℓ¹ (s = 1e-3) on the SymNet parameters."""
        return sum(huber_l1(p, 1e-3) for net in self.symnets for p in net.parameters())

    def identified(self, threshold: float = 1e-3) -> dict[str, dict[str, float]]:
        return {
            f"{n}_t": net.terms(threshold) for n, net in zip(self.names, self.symnets, strict=True)
        }


# ------------------------------------------------------------------------------ Burgers data
BURGERS_TRUE = {
    "u_t": {"u*u_x": -1.0, "u_y*v": -1.0, "u_xx": 0.05, "u_yy": 0.05},
    "v_t": {"u*v_x": -1.0, "v*v_y": -1.0, "v_xx": 0.05, "v_yy": 0.05},
}


def _burgers_rhs(u_hat, k, dealias, nu):
    kx, ky = k
    u = torch.fft.ifft2(u_hat).real
    ux = torch.fft.ifft2(1j * kx * u_hat).real
    uy = torch.fft.ifft2(1j * ky * u_hat).real
    adv = u[:, :1] * ux + u[:, 1:] * uy  # (B, 2, H, W): u ∂x + v ∂y of each channel
    return -torch.fft.fft2(adv) * dealias - nu * (kx**2 + ky**2) * u_hat


def burgers_solve(u0: torch.Tensor, duration: float, nu: float, max_dt: float) -> torch.Tensor:
    """Evolve ``(B, 2, N, N)`` fields on ``[0, 2π)²`` by pseudo-spectral RK4 over ``duration``."""
    n = u0.shape[-1]
    k1d = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64)
    ky, kx = torch.meshgrid(k1d, k1d, indexing="ij")
    dealias = ((kx.abs() < n / 3) & (ky.abs() < n / 3)).to(torch.float64)
    steps = max(1, math.ceil(duration / max_dt - 1e-9))
    h = duration / steps
    u_hat = torch.fft.fft2(u0)
    args = ((kx, ky), dealias, nu)
    for _ in range(steps):
        a = _burgers_rhs(u_hat, *args)
        b = _burgers_rhs(u_hat + h / 2 * a, *args)
        c = _burgers_rhs(u_hat + h / 2 * b, *args)
        d = _burgers_rhs(u_hat + h * c, *args)
        u_hat = u_hat + h / 6 * (a + 2 * b + 2 * c + d)
    return torch.fft.ifft2(u_hat).real


def burgers_initial(batch: int, n: int, freq: int, gen: torch.Generator) -> torch.Tensor:
    k1d = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64)
    ky, kx = torch.meshgrid(k1d, k1d, indexing="ij")
    keep = (kx.abs() <= freq) & (ky.abs() <= freq)
    shape = (batch, 2, n, n)
    coeffs = torch.complex(
        torch.randn(shape, generator=gen, dtype=torch.float64),
        torch.randn(shape, generator=gen, dtype=torch.float64),
    )
    u = torch.fft.ifft2(coeffs * keep).real
    u = 2 * u / u.abs().amax((2, 3), keepdim=True)
    shift = 2 * 2 * (torch.rand(batch, 2, 1, 1, generator=gen, dtype=torch.float64) - 0.5)
    return u + shift


def burgers_data(batch: int, steps: int, *, seed: int, size: int = 32, zoom: int = 2,
                 nu: float = 0.05, dt: float = 0.01, max_dt: float = 2.5e-3, freq: int = 4,
                 noise: float = 1e-3, start_time: float = 1.0):  # fmt: skip
    """``(clean, observed)`` trajectories ``(batch, steps + 1, 2, size, size)`` at ``k·dt``."""
    check_positive_int(batch, "batch")
    check_step(dt, "dt")
    gen = torch.Generator().manual_seed(seed)
    fine = size * zoom
    u = burgers_initial(batch, fine, freq, gen)
    half = batch // 2
    if half and start_time > 0:
        u[:half] = burgers_solve(u[:half], start_time, nu, max_dt)
    states = [u]
    for _ in range(steps):
        u = burgers_solve(u, dt, nu, max_dt)
        states.append(u)
    clean = torch.stack(states, 1)[..., ::zoom, ::zoom].contiguous()
    scale = clean.std()
    observed = clean + noise * scale * torch.randn(clean.shape, generator=gen, dtype=torch.float64)
    return clean, observed


# ---------------------------------------------------------------------------------- training
def rollout_loss(block, observed: torch.Tensor, steps: int, dt: float) -> torch.Tensor:
    """PDE-Net's data loss ``Σ_{k=1..steps} mean(((ũ_k − u_k)/δt)²)``, ``ũ`` rolled out from the
    observed ``u_0`` by the Euler block; ``observed`` ``(B, ≥ steps + 1, C, H, W)``."""
    state, loss = block.init(observed[:, 0]), 0.0
    for k in range(1, steps + 1):
        state = block.start(state) if k == 1 else block.step(state)
        loss = loss + ((block.output(state) - observed[:, k]) / dt).pow(2).mean()
    return loss


def train_pdenet(block, observed: torch.Tensor, dt: float, *, stages=(1, 2, 3, 6, 9, 12, 15),
                 iterations: int = 100, sparsity: float = 0.005,
                 log=None) -> list[dict]:  # fmt: skip
    """PDE-Net 2.0's staged training: for each number of steps in ``stages``, full-batch
    L-BFGS (theirs: BFGS) on ``rollout_loss + steps · sparsity · Huber-ℓ¹(SymNet)`` (no
    sparsity in the first, warm-up stage)."""
    field = block.fields[0]
    params = [p for p in field.parameters() if p.requires_grad]
    history = []
    for i, steps in enumerate(stages):
        if observed.shape[1] < steps + 1:
            raise ValueError(f"stage of {steps} steps needs ≥ {steps + 1} frames per trajectory")
        weight = 0.0 if i == 0 else steps * sparsity
        opt = torch.optim.LBFGS(params, max_iter=iterations, line_search_fn="strong_wolfe",
                                history_size=50, tolerance_grad=1e-12,
                                tolerance_change=1e-15)  # fmt: skip

        def closure(opt=opt, steps=steps, weight=weight):
            opt.zero_grad()
            loss = rollout_loss(block, observed, steps, dt)
            if weight:
                loss = loss + weight * field.sparsity()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            data = rollout_loss(block, observed, steps, dt).item()
        history.append({"steps": steps, "data_loss": data})
        if log is not None:
            log(f"stage {steps:2d} steps: data loss {data:.4e}")
    return history
