"""Input checks and the errors of the reduction subpackage (clear messages, no asserts)."""

from __future__ import annotations

import math

import torch


class NewtonDidNotConverge(RuntimeError):
    """A Newton / Gauss–Newton solve stopped before its tolerance; nothing is returned."""

    def __init__(self, iterations: int, residual: float, tol: float, what: str = "Newton"):
        self.iterations, self.residual, self.tol = iterations, residual, tol
        super().__init__(
            f"{what} did not converge after {iterations} iteration(s): residual {residual:.3e} "
            f"is above the tolerance {tol:.1e} (raise max iterations, shorten the time step, "
            f"or check the initial state)"
        )


def check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def check_finite(tensor: torch.Tensor, what: str) -> torch.Tensor:
    bad = ~torch.isfinite(tensor)
    if bool(bad.any()):
        rows = torch.nonzero(bad.reshape(len(tensor), -1).any(dim=1)).flatten().tolist()
        raise ValueError(
            f"{what} contain {int(bad.sum())} NaN/inf value(s) (rows {rows[:5]}"
            f"{'…' if len(rows) > 5 else ''}); remove or recompute those snapshots"
        )
    return tensor


def check_snapshots(snapshots, what: str = "snapshots") -> torch.Tensor:
    """A 2-D float64 tensor ``(n_snapshots, n_dofs)`` of finite values."""
    s = torch.as_tensor(snapshots)
    if s.ndim != 2:
        raise ValueError(
            f"{what} must be a 2-D array (n_snapshots, n_dofs), got shape {tuple(s.shape)}"
        )
    if s.shape[0] < 1 or s.shape[1] < 1:
        raise ValueError(f"{what} are empty: shape {tuple(s.shape)}")
    return check_finite(s.to(torch.float64), what)


def check_state(u, n_dofs: int, what: str) -> torch.Tensor:
    u = torch.as_tensor(u, dtype=torch.float64)
    if u.shape != (n_dofs,):
        raise ValueError(
            f"{what} has shape {tuple(u.shape)} but the full-order model has {n_dofs} dofs; "
            f"the grids of the FOM and the ROM must match"
        )
    return check_finite(u[None], what)[0]


def check_latent_size(size, n_snapshots: int, n_dofs: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"latent size must be a positive integer, got {size!r}")
    limit = min(n_snapshots, n_dofs)
    if size > limit:
        raise ValueError(
            f"latent size {size} exceeds min(n_snapshots={n_snapshots}, n_dofs={n_dofs}) = "
            f"{limit}: a linear trial space cannot have more modes than that"
        )
    return size
