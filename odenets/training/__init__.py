"""Training machinery shared by ``train.py`` and the dynamics trainer.

Run directories and metrics (:mod:`.run_dir`), seeding and RNG capture (:mod:`.seeding`),
learning curves (:mod:`.plotting`), ``torchrun`` helpers (:mod:`.distributed`), replayable
batches (:mod:`.batches`), optimiser/schedule (:mod:`.optim`), evaluation, model building
and resumable checkpoints (:mod:`.state`). See ``docs/training.md``.
"""

from .batches import epoch_batches, eval_shard, steps_per_epoch
from .distributed import (
    DistContext,
    all_reduce_sum,
    barrier,
    broadcast_object,
    cleanup_distributed,
    gather_objects,
    setup_distributed,
)
from .evaluation import evaluate
from .guards import NonFiniteLossError, all_finite
from .hooks import write_diagnostics
from .models import build_model_for, count_parameters
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
from .state import (
    BEST,
    LAST,
    load_training_checkpoint,
    restore_training,
    save_training_checkpoint,
    unwrap,
)

__all__ = [
    "BEST",
    "LAST",
    "DistContext",
    "MetricsWriter",
    "NonFiniteLossError",
    "StepLogger",
    "all_finite",
    "all_reduce_sum",
    "barrier",
    "batch_generator",
    "broadcast_object",
    "build_model_for",
    "build_optimizer",
    "build_scheduler",
    "capture_rng_state",
    "cleanup_distributed",
    "count_parameters",
    "default_run_name",
    "epoch_batches",
    "eval_shard",
    "evaluate",
    "gather_objects",
    "load_training_checkpoint",
    "make_run_dir",
    "peak_memory_mb",
    "plot_learning_curves",
    "read_json",
    "read_jsonl",
    "remove_stale_temporaries",
    "restore_rng_state",
    "restore_training",
    "save_config",
    "save_training_checkpoint",
    "seed_everything",
    "setup_distributed",
    "steps_per_epoch",
    "unwrap",
    "write_diagnostics",
    "write_json",
]
