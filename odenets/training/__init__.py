"""The training system: one :class:`Trainer` for image/signal classification and dynamics.

    from odenets.training import ClassificationConfig, DynamicsConfig, fit, resume
    fit(ClassificationConfig(model="rk4_digits", epochs=5, out_dir="runs"))
    fit(DynamicsConfig(dataset="pendulum", model="aphynity", iterations=300))
    resume("runs/<run-name>", epochs=10)                   # continue / extend a run

``train.py`` and ``odenets train`` are its command line (:func:`parse_args`). The trainer
(:mod:`.trainer`) owns the run directory, config, metrics, checkpoints, resume, progress and
torchrun pieces; a :class:`~.task.Task` owns what differs (:mod:`.classification`,
:mod:`odenets.dynamics.train`); kinds of training are :class:`~.modes.Mode` s; per-period
metrics come from hooks (:mod:`.hooks`). Reusable pieces: run directories and metrics
(:mod:`.run_dir`), seeding and RNG capture (:mod:`.seeding`), learning curves
(:mod:`.plotting`), ``torchrun`` helpers (:mod:`.distributed`), replayable batches
(:mod:`.batches`), optimiser/schedule (:mod:`.optim`), evaluation, model building. See
``docs/training.md``.
"""

from .batches import epoch_batches, eval_shard, steps_per_epoch
from .classification import ClassificationConfig, ClassificationTask
from .cli import build_train_parser, parse_args, run_command
from .distributed import (
    DistContext,
    DistributedTimeout,
    all_reduce_sum,
    barrier,
    broadcast_object,
    cleanup_distributed,
    gather_objects,
    setup_distributed,
)
from .evaluation import evaluate
from .guards import NonFiniteLossError, all_finite, non_finite_entries
from .hooks import DEFAULT_HOOKS, MetricHook, NFEMeter, write_diagnostics
from .models import build_model_for, count_parameters
from .modes import Mode, list_modes, mode_for_dataset, mode_of, register_mode
from .optim import build_optimizer, build_scheduler
from .plotting import plot_learning_curves
from .progress import StepLogger, peak_memory_mb
from .run_dir import (
    MetricsWriter,
    default_run_name,
    make_run_dir,
    read_json,
    read_jsonl,
    remove_stale_temporaries,
    save_config,
    write_json,
)
from .seeding import batch_generator, capture_rng_state, restore_rng_state, seed_everything
from .state import unwrap
from .task import Diverged, Task
from .trainer import BEST, LAST, Trainer, fit, resume


def __getattr__(name):
    if name in ("DynamicsConfig", "DynamicsTask"):  # lazily: odenets.dynamics imports us
        from ..dynamics import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BEST",
    "DEFAULT_HOOKS",
    "LAST",
    "ClassificationConfig",
    "ClassificationTask",
    "DistContext",
    "DistributedTimeout",
    "Diverged",
    "DynamicsConfig",
    "DynamicsTask",
    "MetricHook",
    "MetricsWriter",
    "Mode",
    "NFEMeter",
    "NonFiniteLossError",
    "StepLogger",
    "Task",
    "Trainer",
    "all_finite",
    "all_reduce_sum",
    "barrier",
    "batch_generator",
    "broadcast_object",
    "build_model_for",
    "build_optimizer",
    "build_scheduler",
    "build_train_parser",
    "capture_rng_state",
    "cleanup_distributed",
    "count_parameters",
    "default_run_name",
    "epoch_batches",
    "eval_shard",
    "evaluate",
    "fit",
    "gather_objects",
    "list_modes",
    "make_run_dir",
    "mode_for_dataset",
    "mode_of",
    "non_finite_entries",
    "parse_args",
    "peak_memory_mb",
    "plot_learning_curves",
    "read_json",
    "read_jsonl",
    "register_mode",
    "remove_stale_temporaries",
    "restore_rng_state",
    "resume",
    "run_command",
    "save_config",
    "seed_everything",
    "setup_distributed",
    "steps_per_epoch",
    "unwrap",
    "write_diagnostics",
    "write_json",
]
