"""Every bad input of train.py is a clear error: what is wrong, in which file, what is allowed."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest
import torch
from test_train import TINY, load_train_script

from odenets.config import ConfigError
from odenets.data import get_dataset
from odenets.training import build_train_parser, parse_args

train = load_train_script()


@pytest.fixture(autouse=True)
def _keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    "args, match",
    [
        (["--dataset", "mnits"], r"Unknown dataset 'mnits'.*'mnist'"),
        (["--dataset", "pendlum"], r"Unknown dataset 'pendlum'. Did you mean one of \['pendulum'"
                                   r".*image and signal classification: \[.*'digits'.*dynamics: "
                                   r"\[.*'reaction_diffusion'"),
        (["--epoch", "2"], r"unknown flag --epoch\. Did you mean one of \['--epochs'"),
        (["--lrr", "0.1"], r"unknown flag --lrr\. Did you mean one of \['--lr'"),
        (["--batch-size", "0"], r"batch_size must be a positive integer, got 0"),
        (["--epochs", "ten"], r"'epochs' must be of type int"),
        (["--lr", "nan"], r"'lr' must be a finite number, got 'nan'"),
        (["--lr", "-1"], r"lr must be > 0"),
        (["--step-gamma", "-1"], r"step_gamma must lie in \(0, 1\]"),
        (["--warmup-epochs", "30"], r"warmup_epochs \(30\) must be fewer than epochs \(30\)"),
        (["--momentum", "1.5"], r"momentum must lie in \[0, 1\)"),
        (["--label-smoothing", "1"], r"label_smoothing must lie in \[0, 1\)"),
        (["--min-lr", "0.2"], r"min_lr \(0.2\) must be below lr \(0.1\)"),
        (["--val-fraction", "1.5"], r"val_fraction must lie in \(0, 1\)"),
        (["--ddp-timeout", "0"], r"ddp_timeout must be > 0 seconds"),
        (["--threads", "-1"], r"threads must be >= 0"),
        (["--optimizer", "adam"], r"Unknown optimizer 'adam'.*'adamw'"),
        (["--window", "5"], r"--window is a flag of dynamics .*dataset 'digits' is a image"),
        (["--steps", "6"], r"'steps' is not a key of image .*ODE steps is a model option"),
        (["--dataset", "pendulum", "--epochs", "3"], r"--epochs is a flag of image .*--iterations"),
        (["--dataset", "pendulum", "--dtype", "float16"], r"Unknown dtype 'float16'; allowed: "
                                                          r"\['float32', 'float64'\]"),
        (["--dataset", "pendulum", "--adjoint"], r"adjoint=True would be ignored: integrator "
                                                 r"'odeint' has no adjoint option; .*'node'"),
        (["--dataset", "pendulum", "--model", "rk4", "--integrator", "euler"],
         r"'rk4' is a zoo scheme used as its own time stepper"),
        (["--dataset", "pendulum", "--model", "node", "--physics", "damped_pendulum"],
         r"--physics / --physics-init apply to the models with a physical part"),
        (["--dataset", "pendulum", "--model", "nod"], r"Unknown dynamics model 'nod'.*'node'"),
        (["--dataset", "pendulum", "--iterations", "0"], r"iterations must be a positive integer"),
        (["--resume", "/nonexistent/run"], r"'/nonexistent/run' does not exist"),
    ],
)  # fmt: skip
def test_bad_flags(args, match):
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        parse_args(args)


def test_deprecated_steps_means_iterations_in_dynamics_mode():
    with pytest.warns(DeprecationWarning) as caught:
        cfg = parse_args(["--dataset", "pendulum", "--steps", "7", "--whole-steps", "2"])
    assert [str(w.message).split(":")[0] for w in caught] == [
        "--steps is deprecated", "--whole-steps is deprecated"
    ]  # fmt: skip
    assert (cfg.iterations, cfg.whole_iterations) == (7, 2)
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match=r"not both"):
        parse_args(["--dataset", "pendulum", "--iterations", "5", "--steps", "5"])


def test_one_help_shows_both_modes():
    text = " ".join(build_train_parser().format_help().split())
    assert "every mode (--dataset picks the mode)" in text
    assert "image and signal classification (--dataset" in text and "--epochs VALUE" in text
    assert "dynamics (--dataset advection_diffusion" in text and "--iterations VALUE" in text
    assert "--lr VALUE classification: peak learning rate; dynamics: Adam step" in text
    assert "(default: 0.1 (classification), 0.001 (dynamics))" in text


@pytest.mark.parametrize(
    "text, match",
    [
        ("epochs: [1, 2\n", r"run.yaml:2:1: invalid YAML"),
        ("lr: 0.1\nlr: 0.2\n", r"run.yaml:2:1: .*duplicate key 'lr'"),
        ("dataset: [digits, mnist]\n", r"'dataset' in .*run.yaml must be of type str, got \["),
        ("weight_decy: 0.1\n", r"unknown config key 'weight_decy' in .*run.yaml.*'weight_decay'"),
        ("window: 3\n", r"--window \(in .*run.yaml\) is a flag of dynamics"),
    ],
)  # fmt: skip
def test_bad_config_files_name_the_file(tmp_path, text, match):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        parse_args(["--config", str(path)])


def test_a_late_failing_check_leaves_no_run_directory(tmp_path):
    argv = ["--out-dir", str(tmp_path), "--run-name", "late"]
    late = [
        ["--model", "euler_signal"],
        ["--batch-size", "5000"],
        ["--model-kwargs", '{"widht": 3}'],
        ["--dataset", "cifar10", "--data-dir", str(tmp_path)],
    ]
    for bad in late:
        with pytest.raises((ValueError, FileNotFoundError)):
            train.main([*argv, *bad])
    assert not (tmp_path / "late").exists()  # nothing blocks a correct rerun


# ---------------------------------------------------------------------------- data files
def _npz(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return str(path)


def test_dataset_files_with_bad_content(tmp_path):
    x = np.zeros((8, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"'x' must hold numbers, got dtype <U1"):
        get_dataset(_npz(tmp_path, x=np.array(["a"] * 8), y=np.zeros(8, int)))
    with pytest.raises(ValueError, match=r"'y' must hold numbers, got dtype <U"):
        get_dataset(_npz(tmp_path, x=x, y=np.array(["cat"] * 8)))
    with pytest.raises(ValueError, match=r"max\(y\) \+ 1 .*= 1000000000001 classes is more than"):
        get_dataset(_npz(tmp_path, x=x, y=np.array([0, 1] * 3 + [10**12, 0])))
    with pytest.raises(ValueError, match=r"'num_classes' = 200000 classes is more than 100,000"):
        get_dataset(_npz(tmp_path, x=x, y=np.zeros(8, int), num_classes=200_000))
    nan = x.copy()
    nan[5, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"'x' holds 1 non-finite values .*first in example 5"):
        get_dataset(_npz(tmp_path, x=nan, y=np.arange(8) % 2))
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"cannot read dataset file .*empty.npz"):
        get_dataset(str(empty))


def test_cifar_labels_out_of_range(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = [0, 1, 2, 12] if name == "data_batch_3" else [0, 1, 2, 3]
        batch = {"data": np.zeros((4, 3072), np.uint8), "labels": labels}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ValueError, match=r"'cifar10': the training set in .*cifar-10-batches-py "
                                         r"has label 12 outside the classes 0..9"):  # fmt: skip
        get_dataset("cifar10", data_dir=tmp_path)


def test_mnist_files_of_random_bytes(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for p in ("train", "t10k"):
        for k in ("images-idx3", "labels-idx1"):
            (raw / f"{p}-{k}-ubyte").write_bytes(rng.integers(0, 256, 600, np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"MNIST files in .*raw.* are not readable idx files"):
        get_dataset("mnist", data_dir=tmp_path)
    header = struct.pack(">BBBB", 0, 0, 8, 1) + struct.pack(">I", 4)
    (raw / "train-labels-idx1-ubyte").write_bytes(header + bytes([0, 1, 2, 30]))
    images = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">3I", 4, 28, 28) + bytes(4 * 784)
    for p in ("train", "t10k"):
        (raw / f"{p}-images-idx3-ubyte").write_bytes(images)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(header + bytes([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"'mnist': the training set .* has label 30 outside"):
        get_dataset("mnist", data_dir=tmp_path)


def test_digits_has_a_fixed_split():
    with pytest.raises(ValueError, match=r"'digits' has a fixed 60/20/20 .*val_fraction"):
        get_dataset("digits", val_fraction=0.3)
    assert parse_args([]).val_fraction is None  # the config does not pretend to use one


def test_pretrained_weights_are_refused_with_the_list_of_models_that_have_them():
    import timm

    with pytest.raises(ValueError, match=r"'euler_digits' has no pretrained weights \(models with "
                                         r"weights: none yet\)"):  # fmt: skip
        timm.create_model("euler_digits", pretrained=True)
    assert timm.create_model("euler_digits", pretrained=False) is not None


def test_error_reaches_the_user_as_one_line(tmp_path, capsys):
    from odenets.training import run_command

    assert run_command(train.main, "train.py", [*TINY, "--step-gamma", "-1"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("train.py: error: step_gamma must lie in (0, 1]") and "Traceback" not in err
    )
