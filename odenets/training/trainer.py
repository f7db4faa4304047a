"""The training loop every kind of training shares: :class:`Trainer`, :func:`fit`, :func:`resume`.

    from odenets.training import ClassificationConfig, fit
    summary = fit(ClassificationConfig(model="rk4_digits", epochs=5))     # in-process
    summary = resume("results/<run>", epochs=10)                          # extend a run

A :class:`Trainer` holds one run: the task (data, model, optimiser; see :mod:`.task`), the run
directory with ``config.json`` (written only once every check has passed), ``metrics.jsonl``
(one line per period), ``checkpoint_last.pt`` (every period end and every ``ckpt_every``
iterations) and ``checkpoint_best.pt`` (tasks with a validation split), then
``summary.json`` and the figures. Its loop, also spelled out in ``train.py``::

    with Trainer(config) as trainer:
        for iteration in trainer.iterations():
            trainer.train_step(iteration)
            if trainer.period_ends(iteration):
                trainer.end_period(iteration)
        summary = trainer.finish()

Nothing non-finite is saved: the weights, buffers (BatchNorm statistics) and optimiser state are
checked before every checkpoint write, a NaN/inf loss stops before the update, and a best
checkpoint is chosen on finite validation metrics only. A diverged run records
``"status": "diverged"`` in ``summary.json`` and names the checkpoints that exist.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import time
import typing
from pathlib import Path

import torch
import torch.distributed as dist

from ..checkpoint import load_checkpoint, load_weights, save_checkpoint
from ..config import ConfigError, config_from_dict, default_of
from .distributed import (
    DistContext,
    DistributedTimeout,
    barrier,
    broadcast_object,
    cleanup_distributed,
    explain_failure,
    gather_objects,
    launched_by_torchrun,
    setup_distributed,
)
from .guards import NonFiniteLossError, any_rank, non_finite_entries
from .hooks import DEFAULT_HOOKS
from .modes import Mode, mode_for_dataset, mode_of
from .progress import StepLogger
from .run_dir import (
    MetricsWriter,
    check_new_run_dir,
    default_run_name,
    read_json,
    remove_stale_temporaries,
    save_config,
    write_json,
)
from .seeding import capture_rng_state, restore_rng_state
from .task import Diverged

LAST, BEST = "checkpoint_last.pt", "checkpoint_best.pt"


def _quiet(*args, **kwargs):
    pass


class Trainer:
    """One training run of a config of any registered mode; see the module docstring."""

    def __init__(self, config, hooks=(), say=print):
        self.config, self.mode = config, mode_of(config)
        self.logger = None
        config.validate()
        self.changed = check_resume(self.mode, config) if config.resume else {}
        if launched_by_torchrun() and not self.mode.distributed:
            raise ConfigError(
                f"{self.mode.title} runs are single-process: run train.py without torchrun"
            )
        if self.mode.distributed:
            self.ctx = setup_distributed(config.device, config.ddp_timeout)
        else:
            self.ctx = DistContext()
        try:
            self._setup(hooks, say)
        except BaseException as err:
            self.__exit__(type(err), err, err.__traceback__)
            raise

    def _setup(self, hooks, say) -> None:
        config, ctx = self.config, self.ctx
        self.say = say if ctx.is_main else _quiet
        if config.threads:
            torch.set_num_threads(config.threads)
        self.say(f"{self.mode.title}; config:\n{describe(config)}")
        self.task = self.mode.task(config, ctx, self.say)  # every check before the run dir
        self.hooks = [make() for make in DEFAULT_HOOKS] + list(hooks)
        self.iteration, self.best, self.stale, self.seconds = 0, None, 0, 0.0
        self.stopped_early, self.logger, self._t0 = False, None, 0.0
        self.run_dir = self._resume_run_dir() if config.resume else self._new_run_dir()
        self.say(f"run directory {self.run_dir}")

    # ------------------------------------------------------------------- run directory
    def _new_run_dir(self) -> Path:
        cfg, ctx = self.config, self.ctx
        name = broadcast_object(cfg.run_name or default_run_name(cfg.model, cfg.dataset), ctx)
        run_dir = check_new_run_dir(cfg.out_dir, name)  # every rank checks
        barrier(ctx)
        if ctx.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(run_dir, cfg)
        barrier(ctx)
        self.metrics = MetricsWriter(run_dir / "metrics.jsonl")
        return run_dir

    def _resume_run_dir(self) -> Path:
        run_dir, ctx = Path(self.config.resume), self.ctx
        self.metrics = MetricsWriter(run_dir / "metrics.jsonl")
        if ctx.is_main:
            remove_stale_temporaries(run_dir)
        path = run_dir / LAST
        if path.is_file():
            self._restore(load_checkpoint(path, map_location=ctx.device), path)
            self.say(f"resumed from {path}: iteration {self.iteration} of "
                     f"{self.task.total_iterations}")  # fmt: skip
        else:
            self.say(f"{run_dir} has no {LAST} (it stopped before its first checkpoint): "
                     f"training it from the start")  # fmt: skip
        if ctx.is_main:
            self.metrics.truncate_after(self.iteration if path.is_file() else -1)
            if self.changed:
                saved = read_json(run_dir / "config.json").get("resume")
                save_config(run_dir, dataclasses.replace(self.config, resume=saved))
        for key, (old, new) in self.changed.items():
            self.say(f"resume: {key} {old} -> {new}")
        return run_dir

    def _restore(self, payload: dict, path: Path) -> None:
        missing = [k for k in ("task", "progress", "rng") if k not in payload]
        if missing:
            raise ConfigError(
                f"{str(path)!r} is a model checkpoint, not a training one (no {missing})"
            )
        self.task.check_checkpoint(payload, path)
        load_weights(self.task.model, payload["model"])
        progress = payload["progress"]
        self.iteration, self.best = progress["iteration"], progress["best"]
        self.stale, self.seconds = progress["stale"], progress["seconds"]
        total = self.task.total_iterations
        if self.iteration > total:
            raise ConfigError(
                f"the run resumed from {str(path)!r} has completed {self.iteration} iterations, "
                f"more than the {total} its config asks for; extend a run, never shorten it"
            )
        self.task.load_state_dict(payload["task"], self.iteration, self.ctx.is_main)
        for hook, state in zip(self.hooks, payload.get("hooks", []), strict=False):
            hook.load_state_dict(state)
        rng = payload["rng"]
        restore_rng_state(rng[self.ctx.rank % len(rng)])

    # ------------------------------------------------------------------------ the loop
    def iterations(self):
        """The iterations left to run (an iteration is one optimisation step on one batch)."""
        if self.iteration == 0 and self.task.evaluates_at_start:
            record = self._record(0, self.task.period_metrics(0.0), 0.0)  # the initial model
            self.say(self.task.period_line(record, self.total_periods))
        while self.iteration < self.task.total_iterations and not self.stopped_early:
            yield self.iteration

    def period_ends(self, iteration: int) -> bool:
        return (iteration + 1) % self.task.iterations_per_period == 0 or (
            iteration + 1 == self.task.total_iterations
        )

    def train_step(self, iteration: int) -> dict:
        """Run iteration ``iteration`` of the task; checkpoint inside a period when due."""
        if self.logger is None:
            self._start_period(iteration)
        try:
            stats = self.task.train_step(iteration)
        except Diverged as err:
            self._stop_diverged(self._where(iteration), str(err))
        self.iteration = iteration + 1
        for hook in self.hooks:
            hook.after_train_step(self.task.model)
        self.logger.update(stats)
        every = getattr(self.config, "ckpt_every", 0)
        if every and self.iteration % every == 0 and not self.period_ends(iteration):
            self.seconds += time.perf_counter() - self._t0
            self._t0 = time.perf_counter()
            self.task.sync_period_sums()
            self.save_last(iteration)
        return stats

    def _start_period(self, iteration: int) -> None:
        per, total = self.task.iterations_per_period, self.task.total_iterations
        start = iteration // per * per
        length = min(start + per, total) - start
        log_every = getattr(self.config, "log_every", 50)
        self.logger = StepLogger(length, self._desc(start), self.ctx.is_main, log_every,
                                 iteration - start)  # fmt: skip
        self.task.start_period()
        self._t0 = time.perf_counter()

    def _desc(self, start: int) -> str:
        per, total = self.task.iterations_per_period, self.task.total_iterations
        if self.task.period_name == "epoch":
            return f"epoch {start // per + 1}/{math.ceil(total / per)}"
        return f"iterations {start + 1}-{min(start + per, total)}/{total}"

    def _where(self, iteration: int) -> str:
        per, total = self.task.iterations_per_period, self.task.total_iterations
        if self.task.period_name == "epoch":
            epoch, i = divmod(iteration, per)
            return f"epoch {epoch + 1}, iteration {i + 1}/{per}"
        return f"iteration {iteration + 1}/{total}"

    def end_period(self, iteration: int) -> dict:
        """Evaluate, write the metrics line, keep the best and the last checkpoints."""
        self.logger.close()
        self.logger = None
        seconds = self.seconds + time.perf_counter() - self._t0
        self.seconds = 0.0
        record = self._record(iteration + 1, self.task.period_metrics(seconds), seconds)
        self.save_last(iteration)
        self.say(self.task.period_line(record, self.total_periods))
        self.task.after_period(record, self.run_dir)
        patience = getattr(self.config, "early_stop", 0)
        if patience and self.stale >= patience and self.iteration < self.task.total_iterations:
            self.stopped_early = True
            self.say(f"early stop: no better validation result in {patience} epochs")
        return record

    @property
    def total_periods(self) -> int:
        return math.ceil(self.task.total_iterations / self.task.iterations_per_period)

    def _record(self, iteration: int, train: dict, seconds: float) -> dict:
        record = {"iteration": iteration}
        if self.task.period_name == "epoch":
            record = {"epoch": iteration // self.task.iterations_per_period, **record}
        val = self.task.evaluate(after_batch=self._after_eval_batch)
        record.update(train)
        record.update(val)
        for hook in self.hooks:
            record.update(hook.period_metrics())
        record["seconds"] = seconds
        if self.ctx.is_main:
            self.metrics.append(record)
        if self.task.selects_best and iteration > 0:
            if self.task.better(val, self.best):
                self.best = {k: v for k, v in record.items() if k in ("epoch", "iteration")}
                self.best.update(val)
                self.stale = 0
                self.save_best(iteration)
            else:
                self.stale += 1
        return record

    def _after_eval_batch(self, model) -> None:
        for hook in self.hooks:
            hook.after_eval_batch(model)

    # --------------------------------------------------------------------- checkpoints
    def _check_finite(self, state: dict, iteration: int) -> None:
        bad = non_finite_entries(state)
        if any_rank(bool(bad), self.ctx):
            shown = ", ".join(bad[:4]) + (", ..." if len(bad) > 4 else "")
            self._stop_diverged(
                self._where(iteration - 1),
                f"{len(bad)} non-finite tensors in the state to checkpoint ({shown})",
            )

    def save_last(self, iteration: int) -> Path:
        """Write ``checkpoint_last.pt`` (everything an exact resume needs), if all finite."""
        payload = self.task.model_payload()
        payload.update(
            mode=self.mode.name,
            task=self.task.state_dict(),
            hooks=[hook.state_dict() for hook in self.hooks],
            progress={
                "iteration": self.iteration,
                "best": self.best,
                "stale": self.stale,
                "seconds": self.seconds,
            },  # fmt: skip
            config=dataclasses.asdict(self.config),
        )
        self._check_finite({"model": payload["model"], "optimizer": payload["task"]},
                           iteration + 1)  # fmt: skip
        payload["rng"] = gather_objects(capture_rng_state(), self.ctx)  # every rank's
        path = self.run_dir / LAST
        if self.ctx.is_main:
            save_checkpoint(path, payload)
        return path

    def save_best(self, iteration: int) -> Path:
        payload = self.task.model_payload() | {"best": dict(self.best)}
        self._check_finite({"model": payload["model"]}, iteration)
        path = self.run_dir / BEST
        if self.ctx.is_main:
            save_checkpoint(path, payload)
        return path

    def checkpoints(self) -> list[Path]:
        return [self.run_dir / name for name in (LAST, BEST) if (self.run_dir / name).is_file()]

    def _stop_diverged(self, where: str, detail: str) -> typing.NoReturn:
        """Record the divergence in summary.json and raise :class:`NonFiniteLossError`."""
        if self.logger is not None:
            self.logger.close()
            self.logger = None
        last = self.run_dir / LAST
        if last.is_file():
            done = load_checkpoint(last)["progress"]["iteration"]
            kept = f"The last finite checkpoint is kept: {last} (after iteration {done})."
        else:
            kept = (f"No checkpoint was written before it (the first comes at the end of the "
                    f"first {self.task.period_name}).")  # fmt: skip
        message = f"training diverged at {where}: {detail}; training stopped. {kept} "
        message += self.task.divergence_hint
        if self.ctx.is_main:
            summary = {"status": "diverged", "message": message, "iteration": self.iteration,
                       "checkpoints": [p.name for p in self.checkpoints()],
                       **self.task.summary(self.best)}  # fmt: skip
            write_json(self.run_dir / "summary.json", summary)
            if getattr(self.config, "plot", False):
                self.task.plot(self.metrics.read(), self.run_dir)
        raise NonFiniteLossError(message)

    # ------------------------------------------------------------------------- the end
    def finish(self) -> dict:
        """Score the final model, write summary.json and the figures, list the outputs."""
        barrier(self.ctx)
        if self.task.selects_best and self.best is None:
            self._stop_diverged("the end", "no period had finite validation metrics")
        best = self.run_dir / BEST if self.task.selects_best else None
        summary = {"status": "completed", "mode": self.mode.name, **self.task.summary(self.best)}
        summary.update(self.task.final_metrics(best))
        summary.update(
            iterations=self.iteration,
            stopped_early=self.stopped_early,
            world_size=self.ctx.world_size,
            device=str(self.ctx.device),
            torch=torch.__version__,
            command=equivalent_command(self.config),
        )
        if self.ctx.is_main:
            records = self.metrics.read()
            periods = [r for r in records if r.get("iteration", 0) > 0]
            summary["seconds"] = sum(r["seconds"] for r in periods)
            summary[f"seconds_per_{self.task.period_name}"] = summary["seconds"] / max(
                len(periods), 1
            )
            write_json(self.run_dir / "summary.json", summary)
            if self.config.plot:
                self.task.plot(records, self.run_dir)
            line = self.task.final_line(summary)
            if line:
                self.say(line)
            files = sorted(p.name for p in self.run_dir.iterdir() if not p.name.startswith("."))
            self.say(f"outputs in {self.run_dir}/: {', '.join(files)}")
        summary["run_dir"] = str(self.run_dir)
        return summary

    def fit(self) -> dict:
        """The whole loop (what ``train.py`` spells out); returns the summary."""
        with self:
            for iteration in self.iterations():
                self.train_step(iteration)
                if self.period_ends(iteration):
                    self.end_period(iteration)
            return self.finish()

    # ----------------------------------------------------------------- process group
    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, kind, err, tb) -> None:
        try:
            if self.ctx.distributed and _is_collective_failure(err):
                raise explain_failure(err, self.ctx, self.config.ddp_timeout) from err
        finally:
            if self.logger is not None:
                self.logger.close()
                self.logger = None
            if self.mode.distributed:
                cleanup_distributed()


def _is_collective_failure(err) -> bool:
    if err is None or isinstance(err, (NonFiniteLossError, DistributedTimeout, ConfigError)):
        return False
    if isinstance(err, dist.DistError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(
        word in text for word in ("timed out", "timeout", "connection closed", "connection reset")
    )


# -------------------------------------------------------------------------- resume
def check_resume(mode: Mode, config) -> dict:
    """The keys ``config`` changes with respect to the run it resumes; refused ones raise.

    Only the mode's ``resumable`` keys may change (e.g. ``epochs``, which extends the run with
    the schedule rebuilt for its new length); any other change would be silently overridden
    by the restored optimiser state, so it is an error and nothing is written.
    """
    run_dir = Path(config.resume)
    saved = saved_config(run_dir)
    if type(saved) is not type(config):
        raise ConfigError(
            f"{run_dir} is a {mode_of(saved).title} run, not a {mode.title} run; resume it "
            f"with its own dataset ({saved.dataset!r})"
        )
    changed = {}
    for f in dataclasses.fields(config):
        old, new = getattr(saved, f.name), getattr(config, f.name)
        if f.name != "resume" and old != new:
            changed[f.name] = (old, new)
    refused = {k: v for k, v in changed.items() if k not in mode.resumable}
    if refused:
        shown = "; ".join(f"{k}: saved {old!r}, given {new!r}" for k, (old, new) in refused.items())
        allowed = ", ".join(sorted(mode.resumable))
        raise ConfigError(
            f"--resume {run_dir} continues that run with its saved config, and these keys cannot "
            f"change ({shown}): the restored optimiser and schedule state would silently "
            f"override them. Start a new run for other settings. A resume may change: {allowed}"
            f" ({', '.join(sorted(mode.extends))} extends the run)."
        )
    return changed


def saved_config(run_dir):
    """The config a run directory was started with (``config.json``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"resume directory {str(run_dir)!r} does not exist")
    path = run_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"resume directory {str(run_dir)!r} has no config.json: it is not a run directory "
            f"of train.py (or it failed before its first check passed; start it again)"
        )
    values = read_json(path)
    mode = mode_for_dataset(values.get("dataset", ""))
    values = {mode.deprecated.get(k, k): v for k, v in values.items()}
    return config_from_dict(mode.config, values, source=str(path))


def fit(config, hooks=()) -> dict:
    """Train ``config`` (a config dataclass of a registered mode) in-process; the summary."""
    return Trainer(config, hooks).fit()


def resume(run_dir, hooks=(), **changes) -> dict:
    """Continue the run in ``run_dir`` from its last checkpoint; ``changes`` (e.g.
    ``epochs=60``) must be keys a resume may change."""
    base = saved_config(Path(run_dir))
    config = config_from_dict(type(base), {**changes, "resume": str(run_dir)}, base)
    return fit(config, hooks)


# ------------------------------------------------------------------------- helpers
def describe(config) -> str:
    return "\n".join(f"  {k} = {json.dumps(v)}" for k, v in dataclasses.asdict(config).items())


def equivalent_command(config) -> str:
    """``python train.py`` with the flags of every key that differs from its default."""
    argv = ["python", "train.py"]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "resume" or value == default_of(f):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, dict):
            argv += [flag, json.dumps(value)]
        elif isinstance(value, tuple):
            argv += [flag, ",".join(map(str, value))]
        else:
            argv += [flag, str(value)]
    return shlex.join(argv)
