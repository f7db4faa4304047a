"""Training checkpoints: the model payload plus everything needed to resume exactly.

A training checkpoint is a superset of :func:`odenets.checkpoint.model_payload`, so
``odenets.checkpoint.load_model(path)`` rebuilds the model from it. The extra keys:
``optimizer``, ``scheduler``, ``scaler`` (state dicts), ``rng`` (one entry per rank, see
:mod:`.seeding`), ``progress`` (epoch, batches consumed in it, global step, the epoch's
running sums, the best validation result so far) and ``config`` (the run's config dict).
Every value is a tensor or a plain Python value: the file loads with ``weights_only=True``.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..checkpoint import load_checkpoint, load_weights, model_payload, save_checkpoint

LAST, BEST = "checkpoint_last.pt", "checkpoint_best.pt"


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside ``DistributedDataParallel`` and/or ``torch.compile``."""
    while True:
        if isinstance(model, (DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod  # torch.compile's OptimizedModule
        else:
            return model


def save_training_checkpoint(
    path, model, optimizer, scheduler, scaler, progress: dict, rng: list, config: dict
) -> Path:
    payload = model_payload(unwrap(model))
    payload.update(
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        scaler=scaler.state_dict() if scaler is not None else {},
        progress=dict(progress),
        rng=rng,
        config=dict(config),
    )
    return save_checkpoint(path, payload)


def load_training_checkpoint(run_dir: str | os.PathLike, model_name: str) -> dict:
    """Read ``checkpoint_last.pt`` of a run and check that it belongs to ``model_name``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"resume directory {str(run_dir)!r} does not exist")
    path = run_dir / LAST
    if not path.is_file():
        raise FileNotFoundError(
            f"resume directory {str(run_dir)!r} has no {LAST}: the run stopped before its first "
            f"checkpoint; start it again without --resume"
        )
    payload = load_checkpoint(path)
    missing = [k for k in ("optimizer", "scheduler", "progress", "rng") if k not in payload]
    if missing:
        raise ValueError(f"{str(path)!r} is a model checkpoint, not a training one (no {missing})")
    if payload["model_name"] != model_name:
        raise ValueError(
            f"{str(path)!r} belongs to model {payload['model_name']!r}, not {model_name!r}; "
            f"resume with --model {payload['model_name']} or start a new run"
        )
    return payload


def restore_training(payload: dict, model, optimizer, scheduler, scaler) -> dict:
    """Load weights and optimiser/scheduler/scaler states; return the ``progress`` dict."""
    load_weights(unwrap(model), payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    if scaler is not None and payload.get("scaler"):
        scaler.load_state_dict(payload["scaler"])
    return dict(payload["progress"])
