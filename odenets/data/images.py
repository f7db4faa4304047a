"""Image and signal classification datasets, held in memory as tensors.

``get_dataset(name)`` returns an :class:`ImageDataset` with ``train``/``val``/``test``
splits. Names: ``digits`` (scikit-learn's 8×8 digits, bundled, the offline default),
``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``, ``stl10`` (files under
``data_dir``; fetched through torchvision only with ``download=True``), or a path to a
``.npz``/``.pt`` file of tensors (see :mod:`odenets.data.files`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from .._validation import close_matches_hint
from . import formats
from .augment import pad_crop_flip

SPLIT_SEED = 0  # the train/val(/test) split is fixed: it does not move with the training seed
MAX_CLASSES = 100_000  # more than any benchmark (ImageNet-21k: 21,841); guards a 1e12 label


@dataclasses.dataclass
class Split:
    """Inputs ``x`` (``(N, C, H, W)`` or ``(N, C, L)``, raw dtype) and labels ``y`` (int64)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclasses.dataclass
class ImageDataset:
    """Three splits and how to turn raw inputs into network inputs.

    ``prepare`` divides by ``scale`` (255 for 8-bit images), normalises each channel with
    the training split's ``mean``/``std`` and, at training time with ``augment_padding > 0``,
    applies pad-crop-flip.
    """

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    scale: float = 1.0
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    augment_padding: int = 0
    classes: tuple[str, ...] = ()  # class names, when the dataset provides them

    @property
    def in_chans(self) -> int:
        return self.train.x.shape[1]

    @property
    def ndim(self) -> int:
        """Spatial dimensions: 2 for images, 1 for signals."""
        return self.train.x.dim() - 2

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    def prepare(
        self, x: torch.Tensor, train: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        shape = (1, -1) + (1,) * self.ndim
        mean = torch.tensor(self.mean, device=x.device).view(shape)
        std = torch.tensor(self.std, device=x.device).view(shape)
        x = (x.float() / self.scale - mean) / std
        if train and self.augment_padding > 0:
            if generator is None:
                raise ValueError("training-time augmentation needs a torch.Generator")
            x = pad_crop_flip(x, self.augment_padding, generator)
        return x

    def describe(self) -> str:
        return (
            f"{self.name}: {len(self.train)} train / {len(self.val)} val / {len(self.test)} test, "
            f"inputs {self.sample_shape}, {self.num_classes} classes"
        )


# ------------------------------------------------------------------------------ helpers
def stratified_split(y: np.ndarray, fraction: float, seed: int = SPLIT_SEED):
    """Indices ``(keep, held_out)`` with ``fraction`` of each class held out."""
    if not 0 < fraction < 1:
        raise ValueError(f"a split fraction must lie in (0, 1), got {fraction!r}")
    idx = np.arange(len(y))
    counts = np.unique(y, return_counts=True)[1]  # not bincount: memory ∝ max(y)
    stratify = y if counts[counts > 0].min() >= 2 else None  # sklearn needs 2 per class
    keep, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(keep), np.sort(held)


def check_labels(y: torch.Tensor, num_classes: int, what: str, hint: str = "") -> None:
    """Labels must be class indices in ``[0, num_classes)``; the error names ``what``."""
    bad = y[(y < 0) | (y >= num_classes)]
    if len(bad):
        raise ValueError(
            f"{what} has label {int(bad[0])} outside the classes 0..{num_classes - 1} "
            f"(labels must be integers in [0, num_classes){hint})"
        )


def channel_stats(x: torch.Tensor, scale: float, chunk: int = 4096):
    """Per-channel mean and standard deviation of ``x / scale`` (chunked: no float copy of x)."""
    dims = [0] + list(range(2, x.dim()))
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk].double() / scale
        total += part.sum(dims)
        squares += (part**2).sum(dims)
    count = x.numel() / x.shape[1]
    mean = total / count
    std = (squares / count - mean**2).clamp_min(1e-12).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())


def from_arrays(
    name: str,
    x_train,
    y_train,
    x_test,
    y_test,
    num_classes: int,
    scale: float,
    val_fraction: float,
    augment_padding: int = 0,
    classes: tuple[str, ...] = (),
    source: str = "",
) -> ImageDataset:
    """Hold out a stratified validation split of the training set, compute the statistics.

    Labels are range-checked for every format (``source``, e.g. the folder, is named).
    """
    x_train, y_train = torch.as_tensor(x_train), torch.as_tensor(y_train, dtype=torch.int64)
    where = f" in {source}" if source else ""
    check_labels(y_train, num_classes, f"dataset {name!r}: the training set{where}")
    check_labels(torch.as_tensor(y_test), num_classes, f"dataset {name!r}: the test set{where}")
    keep, held = stratified_split(y_train.numpy(), val_fraction)
    keep, held = torch.from_numpy(keep), torch.from_numpy(held)
    train = Split(x_train[keep].contiguous(), y_train[keep])
    val = Split(x_train[held].contiguous(), y_train[held])
    test = Split(torch.as_tensor(x_test).contiguous(), torch.as_tensor(y_test, dtype=torch.int64))
    mean, std = channel_stats(train.x, scale)
    return ImageDataset(
        name, train, val, test, num_classes, scale, mean, std, augment_padding, tuple(classes)
    )


# ----------------------------------------------------------------------------- datasets
def load_digits(**_) -> ImageDataset:
    """scikit-learn's 8×8 digits (1,797 images, values 0..16), bundled with sklearn.

    Fixed stratified split 60 / 20 / 20 (train / val / test) with seed 0, whatever the
    training seed: 1,077 / 360 / 360 images.
    """
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = bunch.images.astype(np.float32)[:, None]  # (N, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    rest, test = stratified_split(y, 0.2)
    names = tuple(str(n) for n in bunch.target_names)
    return from_arrays("digits", x[rest], y[rest], x[test], y[test], 10, 16.0, 0.25, 0, names)


def _fetch_hint(name: str, data_dir: str) -> str:
    return (
        f"Fetch it (through torchvision) with:\n"
        f"    python train.py --dataset {name} --data-dir {data_dir} --download"
    )


def _require_files(name: str, pretty: str, data_dir: str, folder: Path, files: list[str]):
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{pretty} not found: {str(folder)!r} lacks {missing}. {_fetch_hint(name, data_dir)}"
        )


def _load_mnist_like(name: str, cls_name: str, pretty: str):
    def loader(data_dir: str, download: bool, val_fraction: float, **_) -> ImageDataset:
        import torchvision

        cls = getattr(torchvision.datasets, cls_name)
        raw = Path(data_dir) / cls_name / "raw"
        files = [
            f"{p}-{k}-ubyte" for p in ("train", "t10k") for k in ("images-idx3", "labels-idx1")
        ]
        if not download:
            _require_files(name, pretty, data_dir, raw, files)
        try:
            train = cls(data_dir, train=True, download=download)
            test = cls(data_dir, train=False, download=download)
        except (AssertionError, ValueError, RuntimeError, IndexError, OSError) as err:
            raise ValueError(
                f"{pretty} files in {str(raw)!r} are not readable idx files "
                f"({type(err).__name__}: {err or 'wrong magic number or size'}). "
                f"{_fetch_hint(name, data_dir)}"
            ) from None
        for split in (train, test):
            if split.data.dim() != 3 or len(split.data) != len(split.targets):
                raise ValueError(
                    f"{pretty} files in {str(raw)!r}: {tuple(split.data.shape)} images but "
                    f"{len(split.targets)} labels"
                )
        return from_arrays(
            name, train.data[:, None], train.targets, test.data[:, None], test.targets, 10,
            255.0, val_fraction, source=str(raw),
        )  # fmt: skip

    loader.__doc__ = f"{pretty}: 28×28 grey images, 10 classes, from {cls_name}/raw (idx files)."
    return loader


def _load_cifar(name: str):
    hundred = name == "cifar100"
    folder_name = formats.CIFAR100_FOLDER if hundred else formats.CIFAR10_FOLDER
    train_files = formats.CIFAR100_TRAIN if hundred else formats.CIFAR10_TRAIN
    test_files = formats.CIFAR100_TEST if hundred else formats.CIFAR10_TEST
    meta = formats.CIFAR100_META if hundred else formats.CIFAR10_META
    names_key = "fine_label_names" if hundred else "label_names"
    pretty = "CIFAR-100" if hundred else "CIFAR-10"

    def loader(data_dir: str, download: bool, val_fraction: float, augment: bool = True, **_):
        import torchvision

        folder = Path(data_dir) / folder_name
        if download and not folder.is_dir():
            cls = torchvision.datasets.CIFAR100 if hundred else torchvision.datasets.CIFAR10
            cls(data_dir, train=True, download=True)  # downloads, checks md5, extracts
        _require_files(name, pretty, data_dir, folder, train_files + test_files)
        label_key = "fine_labels" if hundred else "labels"
        x_train, y_train = formats.read_cifar(folder, train_files, label_key)
        x_test, y_test = formats.read_cifar(folder, test_files, label_key)
        classes = 100 if hundred else 10
        pad = 4 if augment else 0
        names = formats.read_label_names(folder / meta, names_key)
        return from_arrays(
            name, x_train, y_train, x_test, y_test, classes, 255.0, val_fraction, pad, names,
            source=str(folder),
        )  # fmt: skip

    loader.__doc__ = f"{pretty}: 32×32 colour images (python pickle batches in {folder_name})."
    return loader


def load_stl10(data_dir: str, download: bool, val_fraction: float, augment: bool = True, **_):
    """STL-10: 96×96 colour images, 5,000 labelled train / 8,000 test (stl10_binary)."""
    import torchvision

    folder = Path(data_dir) / formats.STL10_FOLDER
    if download and not folder.is_dir():
        torchvision.datasets.STL10(data_dir, split="train", download=True)
    files = ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"]
    _require_files("stl10", "STL-10", data_dir, folder, files)
    x_train, y_train = formats.read_stl10(folder, "train")
    x_test, y_test = formats.read_stl10(folder, "test")
    pad = 12 if augment else 0
    return from_arrays("stl10", x_train, y_train, x_test, y_test, 10, 255.0, val_fraction, pad,
                       source=str(folder))  # fmt: skip


DATASETS: dict[str, Callable[..., ImageDataset]] = {
    "digits": load_digits,
    "mnist": _load_mnist_like("mnist", "MNIST", "MNIST"),
    "fashion_mnist": _load_mnist_like("fashion_mnist", "FashionMNIST", "Fashion-MNIST"),
    "cifar10": _load_cifar("cifar10"),
    "cifar100": _load_cifar("cifar100"),
    "stl10": load_stl10,
}
FILE_SUFFIXES = (".npz", ".pt")


def list_datasets() -> list[str]:
    """Names :func:`get_dataset` accepts (besides paths to ``.npz``/``.pt`` files)."""
    return sorted(DATASETS)


def is_file_dataset(name: str) -> bool:
    return str(name).endswith(FILE_SUFFIXES)


VAL_FRACTION = 0.1  # of the training set, when a dataset has no fixed validation split
FIXED_SPLITS = ("digits", "waveforms")  # waveforms: odenets.data.signals


def get_dataset(
    name: str,
    data_dir: str | os.PathLike = "data",
    download: bool = False,
    val_fraction: float | None = None,
    augment: bool = True,
) -> ImageDataset:
    """Load a dataset by name (or ``.npz``/``.pt`` path) with train/val/test splits.

    ``val_fraction`` of the training set (default 0.1) is held out (stratified, fixed seed)
    for validation, except for ``digits`` whose 60/20/20 split is fixed (giving a
    ``val_fraction`` there is an error). ``augment`` enables pad-crop-flip for CIFAR and STL-10
    at training time.
    """
    if not isinstance(name, str):
        raise ValueError(f"dataset must be a name or a file path, got {name!r}")
    if val_fraction is not None and name in FIXED_SPLITS:
        raise ValueError(
            f"dataset {name!r} has a fixed 60/20/20 train/val/test split; val_fraction applies "
            f"to the other datasets (leave it unset)"
        )
    val_fraction = VAL_FRACTION if val_fraction is None else val_fraction
    if isinstance(val_fraction, bool) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    if is_file_dataset(name):
        from .files import load_tensor_file

        return load_tensor_file(name, val_fraction)
    if name not in DATASETS:
        raise ValueError(
            f"Unknown dataset {name!r}. {close_matches_hint(name, DATASETS)} "
            f"(or a path to a {' / '.join(FILE_SUFFIXES)} file with x, y)"
        )
    return DATASETS[name](
        data_dir=str(data_dir), download=download, val_fraction=val_fraction, augment=augment
    )
