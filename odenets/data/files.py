"""Generic datasets from a ``.npz`` or ``.pt`` file of tensors.

Keys: ``x`` and ``y`` (required), ``x_test`` and ``y_test`` (optional; without them 20 %
of ``x`` is held out, stratified, as the test set), ``num_classes`` (optional; else
``max(y) + 1``, at most :data:`MAX_CLASSES`). Inputs are images ``(N, C, H, W)``, signals
``(N, C, L)`` or signals ``(N, L)`` (one channel), numeric and finite (a NaN pixel would turn the
per-channel normalisation into NaN for every input). ``.npz`` is read with
``allow_pickle=False`` and ``.pt`` with ``weights_only=True``: neither can run code.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from .images import MAX_CLASSES, ImageDataset, check_labels, from_arrays, stratified_split

TEST_FRACTION = 0.2


def _read(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {str(path)!r} does not exist")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, ValueError, OSError, EOFError, zipfile.BadZipFile,
            RuntimeError) as e:  # fmt: skip
        detail = str(e) or type(e).__name__
        raise ValueError(
            f"cannot read dataset file {str(path)!r} ({detail}): it must be a .npz written by "
            f"numpy.savez or a .pt dict of tensors written by torch.save"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{str(path)!r} must hold a dict with keys 'x' and 'y'")
    return data


def _tensor(value, key: str, path: Path) -> torch.Tensor:
    """``value`` as a tensor; strings, objects and other non-numbers are errors."""
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{str(path)!r}: {key!r} must hold numbers, got dtype {array.dtype} "
            f"(e.g. strings); store inputs and labels as numeric arrays"
        )
    return torch.from_numpy(np.ascontiguousarray(array))


def _inputs(x, key: str, path: Path) -> torch.Tensor:
    x = _tensor(x, key, path)
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
    x = x.float()
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        first = int((~finite).reshape(len(x), -1).any(1).nonzero()[0])
        raise ValueError(
            f"{str(path)!r}: {key!r} holds {bad} non-finite values (NaN or inf), the first in "
            f"example {first}; inputs must be finite (fix or drop those examples)"
        )
    return x


def _labels(y, key: str, path: Path, n: int) -> torch.Tensor:
    y = _tensor(y, key, path)
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


def _num_classes(data: dict, y: torch.Tensor, path: Path) -> int:
    """``num_classes`` of the file, else ``max(y) + 1``; at most :data:`MAX_CLASSES`."""
    if "num_classes" in data:
        value = np.asarray(data["num_classes"])
        if value.shape != () or value.dtype.kind not in "iu" or int(value) < 1:
            raise ValueError(
                f"{str(path)!r}: 'num_classes' must be one positive integer, got {value!r}"
            )
        number, what = int(value), "'num_classes'"
    else:
        number, what = int(y.max()) + 1, f"max(y) + 1 (the largest label is {int(y.max())})"
    if number > MAX_CLASSES:
        raise ValueError(
            f"{str(path)!r}: {what} = {number} classes is more than {MAX_CLASSES:,}; labels "
            f"must be class indices 0..num_classes-1"
        )
    return number


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
    if len(y) == 0:
        raise ValueError(f"{str(path)!r}: 'x' holds no examples")
    num_classes = _num_classes(data, y, path)  # before any split: the labels as given
    check_labels(y, num_classes, f"{str(path)!r}: 'y'",
                 "; set 'num_classes' in the file if some classes are absent from 'y'")  # fmt: skip
    if "x_test" in data:
        x_test = _inputs(data["x_test"], "x_test", path)
        y_test = _labels(data["y_test"], "y_test", path, len(x_test))
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"{str(path)!r}: 'x_test' examples have shape {tuple(x_test.shape[1:])}, "
                f"'x' examples {tuple(x.shape[1:])}"
            )
    else:
        keep, test = map(torch.from_numpy, stratified_split(y.numpy(), TEST_FRACTION))
        x, y, x_test, y_test = x[keep], y[keep], x[test], y[test]
    check_labels(y_test, num_classes, f"{str(path)!r}: 'y_test'",
                 "; set 'num_classes' in the file if some classes are absent from 'y'")  # fmt: skip
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    return from_arrays(path.stem, x, y, x_test, y_test, num_classes, scale, val_fraction)
