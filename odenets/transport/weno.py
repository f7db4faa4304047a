"""WENO5 of Jiang & Shu (1996): fifth-order weighted essentially non-oscillatory reconstruction.

From the cell averages ``ū_{i−2..i+2}``, three third-order candidates of the interface value

    q₀ = ( 2ū_{i−2} − 7ū_{i−1} + 11ū_i)/6,  q₁ = (−ū_{i−1} + 5ū_i + 2ū_{i+1})/6,
    q₂ = ( 2ū_i + 5ū_{i+1} − ū_{i+2})/6,

are blended with weights ``ω_k = α_k/Σα``, ``α_k = d_k/(ε + β_k)²``, ``d = (1/10, 6/10, 3/10)``,
``ε = 10⁻⁶`` and the smoothness indicators
``β₀ = 13/12 (ū_{i−2} − 2ū_{i−1} + ū_i)² + ¼(ū_{i−2} − 4ū_{i−1} + 3ū_i)²`` (and mirrored).
``u_L`` at ``x_{i+1/2}`` uses cells ``i−2..i+2``, ``u_R`` the mirror image ``i+3..i−1``; the
flux is Godunov's ``F^G(u_L, u_R)``, advanced in the method of lines by SSP-RK3. Order 5 in
space on smooth solutions (3 in time), essentially non-oscillatory at shocks; linearly
stable with SSP-RK3 up to ``C ≈ 1.4`` (declared limit 1, as is customary; the reference
runs at 0.3). Jiang & Shu, J. Comput. Phys. 126 (1996); Shu (1998), ICASE report 97-65.
"""

from __future__ import annotations

import torch

from .base import Scheme, shift

EPSILON = 1e-6


def weno5_left(um2, um1, u0, up1, up2, eps: float = EPSILON) -> torch.Tensor:
    """Interface value at the right edge of the cell of ``u0`` from five cell averages."""
    q0 = (2 * um2 - 7 * um1 + 11 * u0) / 6
    q1 = (-um1 + 5 * u0 + 2 * up1) / 6
    q2 = (2 * u0 + 5 * up1 - up2) / 6
    b0 = 13 / 12 * (um2 - 2 * um1 + u0) ** 2 + 0.25 * (um2 - 4 * um1 + 3 * u0) ** 2
    b1 = 13 / 12 * (um1 - 2 * u0 + up1) ** 2 + 0.25 * (um1 - up1) ** 2
    b2 = 13 / 12 * (u0 - 2 * up1 + up2) ** 2 + 0.25 * (3 * u0 - 4 * up1 + up2) ** 2
    a0 = 0.1 / (eps + b0) ** 2
    a1 = 0.6 / (eps + b1) ** 2
    a2 = 0.3 / (eps + b2) ** 2
    return (a0 * q0 + a1 * q1 + a2 * q2) / (a0 + a1 + a2)


class WENO5(Scheme):
    name = "weno5"
    order = 5
    cfl_limit = 1.0
    radius = 3
    method_of_lines = True
    reference = "Jiang & Shu (1996)"

    def interface_flux(self, u, dx, dt):
        s = {j: shift(u, j) for j in range(-2, 4)}
        left = weno5_left(s[-2], s[-1], s[0], s[1], s[2])
        right = weno5_left(s[3], s[2], s[1], s[0], s[-1])
        return self.law.godunov(left, right)
