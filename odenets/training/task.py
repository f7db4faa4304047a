"""What differs between kinds of training: the :class:`Task` a :class:`~.Trainer` runs.

The trainer owns everything runs share: the run directory, ``config.json``, ``metrics.jsonl``,
checkpoints (finite, atomic, weights-only), resume, progress, divergence, hooks, the summary.
A task owns its data, model, optimiser and loss. The trainer counts *iterations* (one
optimisation step on one batch; ``steps`` always means ODE steps in this library) and groups
them in *periods* (an epoch, or the iterations between two evaluations): at the end of each
period it asks the task for the period's metrics, writes one line of ``metrics.jsonl``, keeps
the best checkpoint (tasks with a validation split) and the last one.

Two tasks ship: :class:`~odenets.training.classification.ClassificationTask` (images and
signals) and :class:`~odenets.dynamics.train.DynamicsTask` (trajectories). A new kind of
training subclasses :class:`Task`, pairs it with a config dataclass and registers both as a
:class:`~odenets.training.modes.Mode`; new *datasets* or *models* of an existing kind need none
of this (register them with their registry: ``odenets.dynamics.register_dataset``, ...).
"""

from __future__ import annotations

from torch import nn


class Diverged(Exception):  # noqa: N818 - raised by tasks, turned into NonFiniteLossError
    """Raised by :meth:`Task.train_step` when the loss is not finite (before any update)."""


class Task:
    """The per-kind part of training; see the module docstring for the division of labour.

    Subclasses set the attributes and implement the methods without a default body.
    """

    period_name = "epoch"  # what one metrics line covers: "epoch" or "evaluation"
    selects_best = False  # keep checkpoint_best.pt, chosen by `better` on validation metrics
    evaluates_at_start = False  # a metrics line at iteration 0, before training
    divergence_hint = "Lower the learning rate or check the data."
    model: nn.Module  # the module whose weights are checkpointed
    total_iterations: int
    iterations_per_period: int

    # ---------------------------------------------------------------------- the loop
    def train_step(self, iteration: int) -> dict:
        """One optimisation iteration; returns floats for the progress bar (``loss`` first).

        Raise :class:`Diverged` before updating anything when the loss is not finite.
        """
        raise NotImplementedError

    def start_period(self) -> None:
        """Called before the first iteration of every period."""

    def period_metrics(self, seconds: float) -> dict:
        """Training metrics of the period just ended (e.g. mean loss); reset their sums."""
        raise NotImplementedError

    def evaluate(self, after_batch=None) -> dict:
        """Validation metrics; call ``after_batch(model)`` after each evaluation batch."""
        raise NotImplementedError

    def better(self, val: dict, best: dict | None) -> bool:
        """Whether ``val`` beats ``best`` (only finite values may); tasks with selects_best."""
        return False

    def period_line(self, record: dict, total_periods: int) -> str:
        """The line printed at the end of a period."""
        raise NotImplementedError

    def after_period(self, record: dict, run_dir) -> None:
        """Extra per-period outputs (diagnostics); rank 0's files only."""

    # ------------------------------------------------------------------- checkpoints
    def model_payload(self) -> dict:
        """The checkpoint part that rebuilds the model (``format``, weights under ``model``)."""
        raise NotImplementedError

    def check_checkpoint(self, payload: dict, path) -> None:
        """Refuse a checkpoint that belongs to another model (a clear ``ValueError``)."""

    def state_dict(self) -> dict:
        """Optimiser and task state (tensors and plain values only) for an exact resume."""
        raise NotImplementedError

    def load_state_dict(self, state: dict, iteration: int, is_main: bool) -> None:
        """Restore :meth:`state_dict` after ``iteration`` completed iterations."""
        raise NotImplementedError

    def sync_period_sums(self) -> None:
        """Before a checkpoint inside a period: gather per-rank running sums into rank 0."""

    # ------------------------------------------------------------------------- the end
    def final_metrics(self, best_path) -> dict:
        """Metrics of the final model (the best checkpoint's when ``best_path``)."""
        raise NotImplementedError

    def summary(self, best: dict | None) -> dict:
        """The task's part of ``summary.json`` (model, dataset, sizes, best period)."""
        return {}

    def final_line(self, summary: dict) -> str:
        return ""

    def plot(self, records: list[dict], run_dir) -> list:
        """Write the run's figures; return their paths."""
        return []
