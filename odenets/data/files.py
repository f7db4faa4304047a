"""Generic datasets from a ``.npz`` or ``.pt`` file of tensors.

Keys: ``x`` and ``y`` (required), ``x_test`` and ``y_test`` (optional; without them 20 %
of ``x`` is held out, stratified, as the test set), ``num_classes`` (optional; else
``max(y) + 1``). Inputs are images ``(N, C, H, W)``, signals ``(N, C, L)`` or signals
``(N, L)`` (one channel). ``.npz`` is read with ``allow_pickle=False`` and ``.pt`` with
``weights_only=True``: neither can run code.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from .images import ImageDataset, from_arrays, stratified_split

TEST_FRACTION = 0.2


def _read(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {str(path)!r} does not exist")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, ValueError, OSError, zipfile.BadZipFile, RuntimeError) as e:
        raise ValueError(f"cannot read dataset file {str(path)!r}: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{str(path)!r} must hold a dict with keys 'x' and 'y'")
    return data


def _inputs(x, key: str, path: Path) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if x.dim() == 2:
        x = x[:, None]  # (N, L) signals: one channel
    if x.dim() not in (3, 4):
        raise ValueError(
            f"{str(path)!r}: {key!r} must have shape (N, C, H, W), (N, C, L) or (N, L), "
            f"got {tuple(x.shape)}"
        )
    if x.dtype == torch.uint8:
        return x
    if not (x.is_floating_point() or x.dtype in (torch.int16, torch.int32, torch.int64)):
        raise ValueError(f"{str(path)!r}: {key!r} must be numeric, got dtype {x.dtype}")
    return x.float()


def _labels(y, key: str, path: Path, n: int) -> torch.Tensor:
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    if y.dim() != 1 or y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(
            f"{str(path)!r}: {key!r} must be a 1-D array of integer class labels, "
            f"got dtype {y.dtype} and shape {tuple(y.shape)}"
        )
    if len(y) != n:
        raise ValueError(
            f"{str(path)!r}: {key!r} has {len(y)} labels but the inputs have {n} examples "
            f"(lengths must match)"
        )
    return y.long()


def load_tensor_file(path: str | os.PathLike, val_fraction: float = 0.1) -> ImageDataset:
    """Read ``x``, ``y`` (and optionally ``x_test``, ``y_test``, ``num_classes``) from a file."""
    path = Path(path)
    data = _read(path)
    missing = [k for k in ("x", "y") if k not in data]
    if missing:
        raise ValueError(
            f"{str(path)!r} lacks {missing}: a dataset file needs 'x' (inputs) and 'y' "
            f"(integer labels), optionally 'x_test', 'y_test', 'num_classes'; "
            f"found keys {sorted(data)}"
        )
    if ("x_test" in data) != ("y_test" in data):
        raise ValueError(f"{str(path)!r}: give both 'x_test' and 'y_test' or neither")
    x = _inputs(data["x"], "x", path)
    y = _labels(data["y"], "y", path, len(x))
    if "x_test" in data:
        x_test = _inputs(data["x_test"], "x_test", path)
        y_test = _labels(data["y_test"], "y_test", path, len(x_test))
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"{str(path)!r}: 'x_test' examples have shape {tuple(x_test.shape[1:])}, "
                f"'x' examples {tuple(x.shape[1:])}"
            )
    else:
        if len(y) and int(y.min()) >= 0:
            keep, test = map(torch.from_numpy, stratified_split(y.numpy(), TEST_FRACTION))
            x, y, x_test, y_test = x[keep], y[keep], x[test], y[test]
        else:
            x_test, y_test = x[:0], y[:0]  # the label check below reports the problem
    if len(y) == 0:
        raise ValueError(f"{str(path)!r}: 'x' holds no examples")
    num_classes = int(data["num_classes"]) if "num_classes" in data else int(y.max()) + 1
    for key, labels in (("y", y), ("y_test", y_test)):
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if len(bad):
            raise ValueError(
                f"{str(path)!r}: {key!r} has label {int(bad[0])} outside the classes "
                f"0..{num_classes - 1} (labels must be integers in [0, num_classes); "
                f"set 'num_classes' in the file if some classes are absent from 'y')"
            )
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    return from_arrays(path.stem, x, y, x_test, y_test, num_classes, scale, val_fraction)
