"""First-order upwind / Godunov schemes (Courant, Isaacson & Rees 1952; Godunov 1959).

Flux ``F_{i+1/2} = F^G(ū_i, ū_{i+1})``, the exact Riemann flux of the piecewise-constant
reconstruction (for ``f = a u``: ``a ū_i`` if ``a > 0``, else ``a ū_{i+1}``).

* :class:`Upwind`: forward Euler in time, ``ū_i⁺ = ū_i − C (ū_i − ū_{i−1})`` for ``a > 0``.
  Order 1; von Neumann ``|g|² = 1 − 2C(1 − C)(1 − cos θ)``, stable and TVD iff ``C ≤ 1``.
  LeVeque, *Finite Volume Methods for Hyperbolic Problems* (2002), §4.10–4.11.
* :class:`GodunovRK`: the same flux in the method of lines, advanced by SSP-RK3 (McGreivy &
  Hakim's "Godunov" baseline): order 1 in space, 3 in time; TVD for ``C ≤ 1`` (SSP
  coefficient 1), linearly stable up to ``C ≈ 1.2564`` (the RK3 region around the upwind
  eigenvalue circle ``−C(1 − e^{−iθ})``).
"""

from __future__ import annotations

from .base import Scheme, shift


class Upwind(Scheme):
    name = "upwind"
    order = 1
    cfl_limit = 1.0
    radius = 1
    tvd = True
    reference = "Courant, Isaacson & Rees (1952); Godunov (1959)"

    def interface_flux(self, u, dx, dt):
        return self.law.godunov(u, shift(u, 1))


class GodunovRK(Upwind):
    name = "godunov_rk"
    method_of_lines = True
    cfl_limit = 1.0  # TVD limit; linear stability reaches 1.2564 with SSP-RK3
