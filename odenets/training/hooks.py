"""Per-period hooks of the training loop: metrics that models feed, and diagnostics.

A *metric hook* adds keys to every line of ``metrics.jsonl``. The trainer calls
``after_train_step(model)`` after each optimisation iteration (forward and backward done),
``after_eval_batch(model)`` after each evaluation batch, and ``period_metrics()`` at the end of
each period (an epoch, or the iterations between two evaluations), which returns the keys and
resets the hook. ``state_dict()``/``load_state_dict()`` carry its running sums through a
checkpoint taken inside a period, so a resumed run logs the same numbers. Pass extra hooks to
``fit(config, hooks=[...])``; :data:`DEFAULT_HOOKS` builds the ones every run gets.

:class:`NFEMeter` is the example: any module of the model may expose the counters
``nfe_forward`` (field evaluations of its last forward pass), ``nfe_backward`` (those of the
backward pass since, e.g. an adjoint solve), the solver's accepted and rejected steps and the
values of the regularisers it computed; the meter logs their means per iteration in training
and per batch in evaluation. It names no scheme: models without the counters add no keys.
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
    """Solver counters per iteration (training) and per batch (evaluation), as epoch means.

    Any module may expose the counters of its last forward pass: ``nfe_forward`` (field
    evaluations), ``nfe_backward`` (those of the backward pass since, e.g. an adjoint solve),
    ``steps_accepted`` / ``steps_rejected`` (solver steps), ``steps_accepted_backward`` /
    ``steps_rejected_backward`` (those of an adjoint solve), and the values of regularisers it
    computed, ``kinetic_energy`` / ``jacobian_frobenius``. For each counter some module
    reports (not ``None``) the meter logs ``<counter>_train`` (mean per training iteration,
    summed over modules) and, for the forward counters, ``<counter>_eval`` (mean per
    evaluation batch). Modules that report nothing add no keys.
    """

    #: counters read after every training iteration (forward and backward done)
    TRAIN = ("nfe_forward", "nfe_backward", "steps_accepted", "steps_rejected",
             "steps_accepted_backward", "steps_rejected_backward", "kinetic_energy",
             "jacobian_frobenius")  # fmt: skip
    #: counters read after every evaluation batch
    EVAL = ("nfe_forward", "steps_accepted", "steps_rejected")

    def __init__(self):
        self.sums = self._zero()

    @classmethod
    def _zero(cls) -> dict:
        sums = {f"{name}_train": [0.0, 0] for name in cls.TRAIN}
        sums.update({f"{name}_eval": [0.0, 0] for name in cls.EVAL})
        return sums

    @staticmethod
    def _counters(model: nn.Module):
        return [m for m in model.modules() if hasattr(m, "nfe_forward")]

    def _add(self, model: nn.Module, names, suffix: str) -> None:
        counters = self._counters(model)
        for name in names:
            values = [getattr(m, name, None) for m in counters]
            values = [float(v) for v in values if v is not None]
            if values:
                entry = self.sums[f"{name}_{suffix}"]
                entry[0] += sum(values)
                entry[1] += 1

    def after_train_step(self, model):
        self._add(model, self.TRAIN, "train")

    def after_eval_batch(self, model):
        self._add(model, self.EVAL, "eval")

    def period_metrics(self) -> dict:
        out = {key: total / n for key, (total, n) in self.sums.items() if n}
        self.sums = self._zero()
        return out

    def state_dict(self) -> dict:
        return {key: list(value) for key, value in self.sums.items()}

    def load_state_dict(self, state: dict) -> None:
        sums = self._zero()
        sums.update({k: list(v) for k, v in state.items() if k in sums and isinstance(v, list)})
        self.sums = sums


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
