"""The Lax–Friedrichs scheme (Lax 1954).

``F_{i+1/2} = ½(f(ū_i) + f(ū_{i+1})) − (Δx / 2Δt)(ū_{i+1} − ū_i)``, i.e.
``ū_i⁺ = ½(ū_{i−1} + ū_{i+1}) − (Δt/2Δx)(f(ū_{i+1}) − f(ū_{i−1}))``.
Order 1 (numerical diffusion ``Δx²/2Δt``); for ``f = a u`` the von Neumann factor is
``g = cos θ − iC sin θ``, ``|g|² = cos²θ + C² sin²θ``: stable iff ``C ≤ 1``; monotone (TVD)
for ``C ≤ 1``. LeVeque (2002), §4.6.
"""

from __future__ import annotations

from .base import Scheme, shift


class LaxFriedrichs(Scheme):
    name = "lax_friedrichs"
    order = 1
    cfl_limit = 1.0
    radius = 1
    tvd = True
    reference = "Lax (1954); LeVeque (2002) §4.6"

    def interface_flux(self, u, dx, dt):
        if dt is None:
            raise ValueError("Lax–Friedrichs is a one-step scheme: its flux needs the step dt")
        right = shift(u, 1)
        f = self.law.flux
        return 0.5 * (f(u) + f(right)) - (dx / (2 * dt)) * (right - u)
