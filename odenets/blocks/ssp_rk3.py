"""The strong-stability-preserving third-order Runge–Kutta method of Shu & Osher (1988)."""

from __future__ import annotations

from ..registry import register_scheme
from .runge_kutta import ButcherTableau, RungeKuttaBlock

#: Shu–Osher SSP-RK3 as a Butcher tableau: c = (0, 1, 1/2), b = (1/6, 1/6, 2/3)
SSP_RK3 = ButcherTableau(
    a=((), (1.0,), (0.25, 0.25)),
    b=(1 / 6, 1 / 6, 2 / 3),
    c=(0.0, 1.0, 0.5),
    order=3,
)


@register_scheme
class SSPRK3Block(RungeKuttaBlock):
    """SSP-RK3 (Shu & Osher 1988; Gottlieb, Shu & Tadmor 2001), order 3, three stages.

    In Shu–Osher form a convex combination of forward-Euler steps::

        y¹ = y + h F(y)
        y² = ¾ y + ¼ (y¹ + h F(y¹))
        y⁺ = ⅓ y + ⅔ (y² + h F(y²))

    so any convex functional (total variation, a maximum norm) that forward Euler does not
    increase for ``h ≤ h_FE`` is not increased by SSP-RK3 for ``h ≤ h_FE`` either (SSP
    coefficient 1). That is why it is the time stepper of WENO and MUSCL schemes. On the
    linear test equation it has the stability function of every three-stage third-order
    method, ``R(z) = 1 + z + z²/2 + z³/6``: the region reaches ``−2.513`` on the real axis
    and ``±√3 i`` on the imaginary axis. Explicit, not reversible (``|R| < 1`` damps).
    Order and stability are read from the tableau.
    """

    name = "ssprk3"
    tableau = SSP_RK3
