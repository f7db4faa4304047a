"""Front-door checks for user input: every error says what was wrong and what is allowed."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable


def close_matches_hint(name: str, candidates: Iterable[str], n: int = 5) -> str:
    """Return a sentence naming the candidates closest to ``name`` (or the whole list)."""
    candidates = sorted(candidates)
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    if not close:
        close = [c for c in candidates if name.lower() in c.lower()][:n]
    if close:
        return f"Did you mean one of {close}?"
    shown = candidates if len(candidates) <= 20 else candidates[:20] + ["..."]
    return f"Available: {shown}."


def unknown_name_error(kind: str, name: str, candidates: Iterable[str]) -> ValueError:
    return ValueError(f"Unknown {kind} {name!r}. {close_matches_hint(name, candidates)}")


def check_step(h: float, what: str = "step size h") -> float:
    """A step size must be a finite, strictly positive real number."""
    if isinstance(h, (bool, str, bytes)):
        raise TypeError(f"{what} must be a real number, got {type(h).__name__}")
    if not isinstance(h, (int, float)):
        try:
            h = float(h)  # accept 0-d tensors / numpy scalars
        except (TypeError, ValueError):
            raise TypeError(f"{what} must be a real number, got {type(h).__name__}") from None
    h = float(h)
    if not math.isfinite(h) or h <= 0:
        raise ValueError(f"{what} must be finite and > 0, got {h!r}")
    return h


def check_positive_int(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


def check_choice(value: str, allowed: Iterable[str], what: str) -> str:
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"Unknown {what} {value!r}; allowed: {allowed}")
    return value
