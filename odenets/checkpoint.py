"""Checkpoints: written atomically, loaded without executing code.

A checkpoint is a ``dict`` of tensors and plain Python values saved with ``torch.save``
and read back with ``torch.load(weights_only=True)``, which refuses pickled code. Writes go
to a temporary file in the same directory, are flushed to disk and then renamed over the
target, so a crash mid-write never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import torch
from torch import nn

from .registry import create_model

FORMAT = "odenets-checkpoint-v1"


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Atomically write ``payload`` to ``path`` (temporary file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint safely (``weights_only``): pickled code is refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {str(path)!r}; train.py writes them as "
            f"results/<run-name>/checkpoint_last.pt and checkpoint_best.pt"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"refusing to load {str(path)!r}: it contains objects other than tensors and plain "
            f"Python values (loading it would execute code). Details: {err}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"checkpoint {str(path)!r} is corrupt or truncated: {err}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an odenets checkpoint (format {FORMAT!r})")
    return payload


def model_payload(model: nn.Module) -> dict:
    """The part of a checkpoint that rebuilds the model: registry name, overrides, weights."""
    name = getattr(model, "model_name", None)
    if name is None:
        raise ValueError("only models built with odenets.create_model can be checkpointed")
    return {
        "format": FORMAT,
        "model_name": name,
        "model_kwargs": dict(getattr(model, "model_overrides", {})),
        "model": model.state_dict(),
    }


def load_model(checkpoint: str | os.PathLike | dict, map_location="cpu") -> nn.Module:
    """Rebuild a registered model from a checkpoint (path or loaded payload)."""
    payload = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    if "model_name" not in payload:
        where = "" if isinstance(checkpoint, dict) else f"{str(checkpoint)!r} "
        kind = payload.get("kind", "unknown")
        raise ValueError(
            f"checkpoint {where}is a {kind!r} run (model {payload.get('dynamics_model', '?')!r}), "
            "not a registered image/signal model; load_model and `odenets diagnose` rebuild "
            "registered models only (a dynamics model is rebuilt by resuming its run: "
            "python train.py --resume RUN)"
        )
    model = create_model(payload["model_name"], **payload.get("model_kwargs", {}))
    load_weights(model, payload["model"])
    return model.to(map_location) if map_location is not None else model


def load_weights(model: nn.Module, state_dict: dict) -> None:
    """Load a state dict, turning an architecture mismatch into a clear error."""
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as err:
        name = getattr(model, "model_name", type(model).__name__)
        raise ValueError(
            f"checkpoint weights do not fit model {name!r} (a checkpoint of a different "
            f"architecture?): {str(err).splitlines()[0]} ..."
        ) from None
