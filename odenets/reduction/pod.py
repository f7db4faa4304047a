"""Proper orthogonal decomposition: the best linear trial space for a snapshot set.

For snapshots ``S ∈ R^{m×N}`` (rows), the SVD ``Sᵀ = U Σ Vᵀ`` gives the POD modes ``U[:, :n]``,
which minimise ``Σ_j ‖s_j − P_V s_j‖²`` over all ``n``-dimensional spaces ``V`` (Eckart–Young),
with the minimum ``Σ_{k>n} σ_k²``. The relative root-mean-square projection error

    ε_n = ( Σ_{k>n} σ_k² / Σ_k σ_k² )^{1/2}

is the discrete, L²(μ)-averaged counterpart of the Kolmogorov n-width of the snapshot set
(Cohen & DeVore 2015): its decay with ``n`` is the measured n-width rate. The energy criterion
picks the smallest ``n`` with ``Σ_{k≤n} σ_k² / Σ σ_k² ≥ energy``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import check_latent_size, check_snapshots


@dataclass
class POD:
    """POD of a snapshot set: all left singular vectors and values, and an optional reference."""

    modes: torch.Tensor  # (n_dofs, r), orthonormal columns
    singular_values: torch.Tensor  # (r,), descending
    n_snapshots: int

    @property
    def n_dofs(self) -> int:
        return self.modes.shape[0]

    def basis(self, size: int) -> torch.Tensor:
        """The first ``size`` modes ``(n_dofs, size)``."""
        check_latent_size(size, self.n_snapshots, self.n_dofs)
        if size > self.modes.shape[1]:
            raise ValueError(f"only {self.modes.shape[1]} modes were kept, {size} requested")
        return self.modes[:, :size]

    def energy_size(self, energy: float) -> int:
        """Smallest ``n`` whose modes hold the fraction ``energy`` of ``Σ σ_k²``."""
        if not 0 < energy <= 1:
            raise ValueError(f"energy must lie in (0, 1], got {energy!r}")
        cum = torch.cumsum(self.singular_values**2, 0) / torch.sum(self.singular_values**2)
        return int(torch.searchsorted(cum, torch.tensor(energy, dtype=cum.dtype) - 1e-15)) + 1

    def relative_error(self, size: int) -> float:
        """``ε_n``: relative RMS projection error of the snapshots onto ``n`` modes."""
        s2 = self.singular_values**2
        return math.sqrt(float(s2[size:].sum() / s2.sum()))


def compute_pod(snapshots) -> POD:
    """POD of ``snapshots`` ``(n_snapshots, n_dofs)`` by a thin SVD in float64."""
    s = check_snapshots(snapshots)
    u, sv, _ = torch.linalg.svd(s.T, full_matrices=False)
    return POD(u, sv, s.shape[0])


def projection_error(snapshots, basis: torch.Tensor) -> torch.Tensor:
    """Per-snapshot relative error ``‖s − V Vᵀ s‖ / ‖s‖`` (``basis`` orthonormal columns)."""
    s = check_snapshots(snapshots)
    if basis.shape[0] != s.shape[1]:
        raise ValueError(
            f"basis has {basis.shape[0]} rows but the snapshots have {s.shape[1]} dofs"
        )
    resid = s - (s @ basis) @ basis.T
    return torch.linalg.vector_norm(resid, dim=1) / torch.linalg.vector_norm(s, dim=1)
