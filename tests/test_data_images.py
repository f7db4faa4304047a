"""Image datasets: digits split, torchvision/official on-disk formats, .npz/.pt files, errors."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from odenets.data import get_dataset, load_tensor_file
from odenets.data.augment import pad_crop_flip
from odenets.data.formats import load_array_pickle

RNG = np.random.default_rng(0)


def test_digits_fixed_stratified_split():
    a, b = get_dataset("digits"), get_dataset("digits")
    assert (len(a.train), len(a.val), len(a.test)) == (1077, 360, 360)
    assert torch.equal(a.test.x, b.test.x) and torch.equal(a.val.y, b.val.y)  # fixed
    for split in (a.train, a.val, a.test):  # stratified: every class in proportion
        counts = torch.bincount(split.y, minlength=10).float() / len(split)
        assert counts.min() > 0.08 and counts.max() < 0.12
    rows = {tuple(x.flatten().tolist()) for x in a.train.x}
    assert sum(tuple(x.flatten().tolist()) in rows for x in a.test.x) < 5  # ~disjoint
    assert a.in_chans == 1 and a.ndim == 2 and a.num_classes == 10
    x = a.prepare(a.train.x)
    assert abs(x.mean().item()) < 1e-5 and abs(x.std().item() - 1) < 1e-3  # train-split stats


def test_unknown_dataset_lists_close_matches():
    with pytest.raises(ValueError, match=r"Unknown dataset 'cifar'.*cifar10"):
        get_dataset("cifar")


@pytest.mark.parametrize(
    "name, command",
    [("mnist", "--dataset mnist"), ("cifar10", "--dataset cifar10"), ("stl10", "--dataset stl10")],
)
def test_missing_files_name_the_fetch_command(tmp_path, name, command):
    with pytest.raises(
        FileNotFoundError, match=rf"(?s)not found.*python train.py {command}.*--download"
    ):
        get_dataset(name, data_dir=tmp_path)


# ------------------------------------------------------------------------------ MNIST idx
def _write_idx(path: Path, array: np.ndarray, gz: bool = False) -> None:
    """The idx format of LeCun's MNIST files: magic (0, 0, dtype 0x08, ndim), big-endian dims."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_like_reads_idx_files(tmp_path, name, folder):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    x_train = RNG.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    y_train = np.arange(40) % 10
    x_test = RNG.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    y_test = np.arange(10)
    _write_idx(raw / "train-images-idx3-ubyte", x_train)
    _write_idx(raw / "train-labels-idx1-ubyte", y_train)
    _write_idx(raw / "t10k-images-idx3-ubyte", x_test)
    _write_idx(raw / "t10k-labels-idx1-ubyte", y_test)
    data = get_dataset(name, data_dir=tmp_path, val_fraction=0.25)
    assert (len(data.train), len(data.val), len(data.test)) == (30, 10, 10)
    assert data.sample_shape == (1, 28, 28) and data.train.x.dtype == torch.uint8
    assert torch.equal(data.test.x[:, 0], torch.from_numpy(x_test))
    assert torch.equal(data.test.y, torch.from_numpy(y_test))
    # the train and val splits together are exactly the training file, labels attached
    joined = torch.cat([data.train.x, data.val.x])[:, 0].reshape(40, -1)
    labels = torch.cat([data.train.y, data.val.y])
    for row, label in zip(joined, labels, strict=True):
        i = int(np.flatnonzero((x_train.reshape(40, -1) == row.numpy()).all(1))[0])
        assert y_train[i] == label


# ------------------------------------------------------------------------- CIFAR pickles
def _cifar_batch(path: Path, n: int, label_key: str, classes: int, protocol: int = 2):
    data = RNG.integers(0, 256, (n, 3072), dtype=np.uint8)  # rows: R plane, G plane, B plane
    labels = [int(v) for v in RNG.integers(0, classes, n)]
    batch = {"batch_label": "testing batch", label_key: labels, "data": data, "filenames": []}
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    return data, labels


def test_cifar10_reads_official_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    train = [_cifar_batch(folder / f"data_batch_{i}", 6, "labels", 10) for i in range(1, 6)]
    x_test, y_test = _cifar_batch(folder / "test_batch", 5, "labels", 10, protocol=4)
    names = ["airplane", "automobile", "bird", "cat", "deer"] + ["dog", "frog", "horse", "ship"]
    meta = {"label_names": names + ["truck"], "num_cases_per_batch": 6, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))

    data = get_dataset("cifar10", data_dir=tmp_path, val_fraction=0.2)
    assert (len(data.train), len(data.val), len(data.test)) == (24, 6, 5)
    assert data.sample_shape == (3, 32, 32) and data.classes[-1] == "truck"
    expected = torch.from_numpy(x_test.reshape(5, 3, 32, 32))
    assert torch.equal(data.test.x, expected) and data.test.y.tolist() == y_test
    # pixel (row 0, col 1) of the red plane is byte 1 of the row; green starts at byte 1024
    assert data.test.x[0, 0, 0, 1] == x_test[0, 1] and data.test.x[0, 1, 0, 0] == x_test[0, 1024]
    all_train = np.concatenate([x for x, _ in train]).reshape(-1, 3, 32, 32)
    assert sorted(map(bytes, torch.cat([data.train.x, data.val.x]).numpy())) == sorted(
        map(bytes, all_train)
    )
    assert data.augment_padding == 4 and data.num_classes == 10


def test_cifar100_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    _, y_train = _cifar_batch(folder / "train", 40, "fine_labels", 100)
    _, y_test = _cifar_batch(folder / "test", 7, "fine_labels", 100)
    data = get_dataset("cifar100", data_dir=tmp_path, val_fraction=0.25, augment=False)
    assert data.num_classes == 100 and data.test.y.tolist() == y_test
    assert sorted(torch.cat([data.train.y, data.val.y]).tolist()) == sorted(y_train)
    assert data.augment_padding == 0


class _RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_cifar_reader_refuses_code_in_pickle(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": _RunsCode(), "labels": [0]}, protocol=2))
    with pytest.raises(ValueError, match=r"refusing to load (__builtin__|builtins).print"):
        load_array_pickle(path)


def test_stl10_reads_binary_files(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    images = {}
    for split, n in (("train", 20), ("test", 4)):
        x = RNG.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)  # (N, C, H, W)
        images[split] = x
        # the file is column-major per image: the width index varies slowest after the channel
        (folder / f"{split}_X.bin").write_bytes(x.transpose(0, 1, 3, 2).tobytes())
        (folder / f"{split}_y.bin").write_bytes((np.arange(n) % 10 + 1).astype(np.uint8).tobytes())
    data = get_dataset("stl10", data_dir=tmp_path, val_fraction=0.5)
    assert torch.equal(data.test.x, torch.from_numpy(images["test"]))
    assert data.test.y.tolist() == [0, 1, 2, 3] and data.augment_padding == 12


def test_pad_crop_flip_is_a_shifted_window():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4) + 1
    out = pad_crop_flip(x, 1, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for b in range(2):  # each output is one 4×4 window of the padded image, maybe mirrored
        windows = [padded[b, :, i : i + 4, j : j + 4] for i in range(3) for j in range(3)]
        windows += [w.flip(-1) for w in windows]
        assert any(torch.equal(out[b], w) for w in windows)
    again = pad_crop_flip(x, 1, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


# -------------------------------------------------------------------------- .npz / .pt
def test_npz_images_with_test_split(tmp_path):
    path = tmp_path / "toy.npz"
    x = RNG.normal(size=(50, 2, 5, 5)).astype(np.float32)
    np.savez(path, x=x, y=np.arange(50) % 5, x_test=x[:7], y_test=np.arange(7) % 5)
    data = get_dataset(str(path), val_fraction=0.2)
    assert data.name == "toy" and (len(data.train), len(data.val), len(data.test)) == (40, 10, 7)
    assert data.num_classes == 5 and data.in_chans == 2 and data.ndim == 2


def test_pt_signals_without_channel_axis(tmp_path):
    path = tmp_path / "sig.pt"
    torch.save({"x": torch.randn(60, 16), "y": torch.arange(60) % 3, "num_classes": 4}, path)
    data = load_tensor_file(path)
    assert data.sample_shape == (1, 16) and data.ndim == 1 and data.num_classes == 4
    assert len(data.test) == 12  # 20 % held out as the test set when there is no x_test


@pytest.mark.parametrize(
    "content, match",
    [
        ({"x": np.zeros((4, 1, 3, 3))}, r"lacks \['y'\]"),
        ({"inputs": np.zeros((4, 3)), "labels": np.zeros(4)}, r"lacks \['x', 'y'\]"),
        ({"x": np.zeros((4, 1, 3, 3)), "y": np.zeros(5, dtype=int)}, r"5 labels but .* 4 examp"),
        ({"x": np.zeros((4, 1, 3, 3)), "y": np.array([0, 1, -1, 0])}, r"label -1 outside"),
        (
            {"x": np.zeros((4, 3)), "y": np.zeros(4, int), "x_test": np.zeros((2, 3)),
             "y_test": np.array([0, 2])},
            r"'y_test' has label 2 outside the classes 0..0",
        ),
        ({"x": np.zeros((4, 1, 3, 3)), "y": np.zeros(4)}, r"integer class labels"),
        ({"x": np.zeros((4,)), "y": np.zeros(4, int)}, r"must have shape \(N, C, H, W\)"),
    ],
)  # fmt: skip
def test_npz_bad_content(tmp_path, content, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **content)
    with pytest.raises(ValueError, match=match):
        get_dataset(str(path))


def test_pt_file_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"x": torch.zeros(4, 3), "y": _RunsCode()}, path)
    with pytest.raises(ValueError, match=r"cannot read dataset file"):
        get_dataset(str(path))


def test_missing_dataset_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        get_dataset(str(tmp_path / "nothing.npz"))
