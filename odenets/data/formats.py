"""Readers of the official on-disk formats of CIFAR-10/100 and STL-10, without integrity checks.

torchvision verifies the md5 sum of every CIFAR/STL file before reading it, so it cannot
read a subset or a file written by a test. These readers parse the published formats
directly. CIFAR's "python version" is a pickle; it is read with a restricted unpickler that
only rebuilds NumPy arrays, dicts, lists and strings, so a tampered file cannot run code.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
from pathlib import Path

import numpy as np

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_TEST = ["test_batch"]
CIFAR10_META = "batches.meta"
CIFAR100_FOLDER = "cifar-100-python"
CIFAR100_TRAIN, CIFAR100_TEST, CIFAR100_META = ["train"], ["test"], "meta"
STL10_FOLDER = "stl10_binary"

# numpy.core.multiarray._reconstruct (numpy._core on NumPy 2), found the same way on any version
_reconstruct = np.zeros(0).__reduce__()[0]
# (module, name) pairs a CIFAR batch may reference: NumPy's array reconstruction and the
# bytes encoding Python 3 writes for protocol-2 pickles of bytes; nothing else
_NUMPY_GLOBALS = {
    ("_codecs", "encode"): codecs.encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays and builtin containers, and refuses the rest."""

    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY_GLOBALS:
            return _NUMPY_GLOBALS[(module, name)]
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a CIFAR batch holds only arrays, lists and "
            f"strings (a file that references other objects could run code)"
        )


def load_array_pickle(path: str | os.PathLike) -> dict:
    """Read a CIFAR python-format batch (a pickled dict) safely; keys become ``str``."""
    data = Path(path).read_bytes()
    try:
        obj = _ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise ValueError(f"{str(path)!r}: {err}") from None
    except (EOFError, ValueError, TypeError, IndexError) as err:
        raise ValueError(f"{str(path)!r} is not a readable CIFAR batch: {err}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{str(path)!r} is not a CIFAR batch (expected a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_cifar(folder: str | os.PathLike, files: list[str], label_key: str):
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64 from CIFAR batches."""
    xs, ys = [], []
    for name in files:
        batch = load_array_pickle(Path(folder) / name)
        if "data" not in batch or label_key not in batch:
            raise ValueError(f"{name!r} in {str(folder)!r} lacks 'data' or {label_key!r}")
        try:
            x = np.asarray(batch["data"], dtype=np.uint8)
            xs.append(x.reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[label_key], dtype=np.int64).reshape(-1))
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"{name!r} in {str(folder)!r} is not a CIFAR batch: 'data' must be uint8 rows of "
                f"3,072 pixels and {label_key!r} integer labels ({err})"
            ) from None
        if len(xs[-1]) != len(ys[-1]):
            raise ValueError(f"{name!r}: {len(xs[-1])} images but {len(ys[-1])} labels")
    return np.concatenate(xs), np.concatenate(ys)


def read_label_names(path: str | os.PathLike, key: str) -> tuple[str, ...]:
    """Class names from a CIFAR meta file (``label_names`` / ``fine_label_names``), if present."""
    path = Path(path)
    if not path.is_file():
        return ()
    names = load_array_pickle(path).get(key, [])
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def read_stl10(folder: str | os.PathLike, split: str):
    """STL-10 binary: ``<split>_X.bin`` (uint8, column-major 3×96×96) and ``<split>_y.bin``.

    Labels are stored 1..10 in the file and returned 0..9.
    """
    folder = Path(folder)
    x = np.fromfile(folder / f"{split}_X.bin", dtype=np.uint8)
    if x.size % (3 * 96 * 96):
        raise ValueError(f"{split}_X.bin in {str(folder)!r} is truncated ({x.size} bytes)")
    # stored column-major per image: (N, C, W, H) in C order; swap to (N, C, H, W)
    x = x.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)
    y = np.fromfile(folder / f"{split}_y.bin", dtype=np.uint8).astype(np.int64) - 1
    if len(x) != len(y):
        raise ValueError(f"STL-10 {split}: {len(x)} images but {len(y)} labels")
    return np.ascontiguousarray(x), y
