"""Per-period hooks of the training loop: metrics that models feed, and diagnostics.

A *metric hook* adds keys to every line of ``metrics.jsonl``. The trainer calls
``after_train_step(model)`` after each optimisation iteration (forward and backward done),
``after_eval_batch(model)`` after each evaluation batch, and ``period_metrics()`` at the end of
each period (an epoch, or the iterations between two evaluations), which returns the keys and
resets the hook. ``state_dict()``/``load_state_dict()`` carry its running sums through a
checkpoint taken inside a period, so a resumed run logs the same numbers. Pass extra hooks to
``fit(config, hooks=[...])``; :data:`DEFAULT_HOOKS` builds the ones every run gets.

:class:`NFEMeter` is the example: any module of the model may expose the counters
``nfe_forward`` (field evaluations of its last forward pass) and ``nfe_backward`` (those of the
backward pass since, e.g. an adjoint solve); the meter logs their means per iteration in
training and per batch in evaluation. It names no scheme: models without the counters add
no keys.
"""

from __future__ import annotations

import json
import os

import torch
from torch import nn


class MetricHook:
    """Base class of the per-period metric hooks (every method may be left as is)."""

    def after_train_step(self, model: nn.Module) -> None:
        pass

    def after_eval_batch(self, model: nn.Module) -> None:
        pass

    def period_metrics(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class NFEMeter(MetricHook):
    """Mean number of function evaluations per iteration (training) and per batch (evaluation).

    Keys: ``nfe_forward_train``, ``nfe_backward_train``, ``nfe_forward_eval``, summed over the
    modules that count evaluations (attributes ``nfe_forward`` / ``nfe_backward``).
    """

    def __init__(self):
        self.sums = self._zero()

    @staticmethod
    def _zero() -> dict:
        return {"forward_train": 0.0, "backward_train": 0.0, "train": 0, "forward_eval": 0.0,
                "eval": 0}  # fmt: skip

    @staticmethod
    def _counters(model: nn.Module):
        return [m for m in model.modules() if hasattr(m, "nfe_forward")]

    def after_train_step(self, model):
        counters = self._counters(model)
        if counters:
            self.sums["forward_train"] += sum(float(m.nfe_forward) for m in counters)
            self.sums["backward_train"] += sum(
                float(getattr(m, "nfe_backward", 0)) for m in counters
            )
            self.sums["train"] += 1

    def after_eval_batch(self, model):
        counters = self._counters(model)
        if counters:
            self.sums["forward_eval"] += sum(float(m.nfe_forward) for m in counters)
            self.sums["eval"] += 1

    def period_metrics(self) -> dict:
        s, out = self.sums, {}
        if s["train"]:
            out["nfe_forward_train"] = s["forward_train"] / s["train"]
            out["nfe_backward_train"] = s["backward_train"] / s["train"]
        if s["eval"]:
            out["nfe_forward_eval"] = s["forward_eval"] / s["eval"]
        self.sums = self._zero()
        return out

    def state_dict(self) -> dict:
        return dict(self.sums)

    def load_state_dict(self, state: dict) -> None:
        self.sums = {**self._zero(), **state}


DEFAULT_HOOKS = [NFEMeter]  # classes (or factories) of the hooks every run gets


# ------------------------------------------------------------------------- diagnostics
def write_diagnostics(model: nn.Module, batch: torch.Tensor, path: str | os.PathLike, **extra):
    """Append ``compact_summary(model, batch)`` (plus ``extra``, e.g. the epoch) to ``path``."""
    from odenets.diagnostics import compact_summary

    was_training = model.training
    model.eval()
    try:
        summary = compact_summary(model, batch)
    finally:
        model.train(was_training)
    with open(path, "a") as f:
        f.write(json.dumps({**extra, **summary}, default=float) + "\n")
    return summary
