"""Stability diagnostics: trained networks seen the way a numerical analyst sees a scheme.

:func:`diagnose` returns a :class:`Report` (per stage, per block; JSON via
``Report.to_json``, a table via ``Report.summary``); :func:`compact_summary` is the cheap
digest the training script logs; :func:`save_plots` draws ``hλ`` over each scheme's
stability region, margin and ``h*`` against depth, and the singular-value spectra.
The building blocks are public too: :class:`LinearizedMap` (JVP/VJP operators),
:func:`eigenvalues`/:func:`singular_values` (dense or ARPACK), and
:func:`max_amplification`/:func:`largest_stable_step` on any declared stability.
"""

from .analysis import compact_summary, diagnose
from .operators import ComposedMap, LinearizedMap
from .plots import save_plots
from .report import BlockReport, NetworkReport, Report, StageReport
from .spectra import DENSE_THRESHOLD, Spectrum, block_operators, eigenvalues, singular_values
from .stability import (
    amplification,
    largest_stable_step,
    max_amplification,
    stability_margin,
)

__all__ = [
    "DENSE_THRESHOLD",
    "BlockReport",
    "ComposedMap",
    "LinearizedMap",
    "NetworkReport",
    "Report",
    "Spectrum",
    "StageReport",
    "amplification",
    "block_operators",
    "compact_summary",
    "diagnose",
    "eigenvalues",
    "largest_stable_step",
    "max_amplification",
    "save_plots",
    "singular_values",
    "stability_margin",
]
