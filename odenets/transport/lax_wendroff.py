"""The Lax–Wendroff scheme (Lax & Wendroff 1960), Richtmyer two-step form.

``ū_{i+1/2} = ½(ū_i + ū_{i+1}) − (Δt/2Δx)(f(ū_{i+1}) − f(ū_i))``, ``F_{i+1/2} = f(ū_{i+1/2})``.
For ``f = a u`` it is ``ū_i⁺ = ū_i − (C/2)(ū_{i+1} − ū_{i−1}) + (C²/2)(ū_{i+1} − 2ū_i + ū_{i−1})``:
order 2 in space and time, von Neumann ``|g|² = 1 − 4C²(1 − C²) sin⁴(θ/2)``, stable iff
``C ≤ 1``; not TVD (oscillates at discontinuities, Godunov's theorem). LeVeque (2002), §6.1.
"""

from __future__ import annotations

from .base import Scheme, shift


class LaxWendroff(Scheme):
    name = "lax_wendroff"
    order = 2
    cfl_limit = 1.0
    radius = 1
    reference = "Lax & Wendroff (1960); Richtmyer (1962); LeVeque (2002) §6.1"

    def interface_flux(self, u, dx, dt):
        if dt is None:
            raise ValueError("Lax–Wendroff is a one-step scheme: its flux needs the step dt")
        right = shift(u, 1)
        f = self.law.flux
        mid = 0.5 * (u + right) - (dt / (2 * dx)) * (f(right) - f(u))
        return f(mid)
