"""The ``odenets diagnose`` command end to end, and its errors."""

import json

import pytest
import torch

import odenets
from odenets.checkpoint import model_payload, save_checkpoint
from odenets.cli import main, parse_overrides
from odenets.diagnose import main as module_main
from odenets.diagnostics import diagnose

PNG = b"\x89PNG\r\n\x1a\n"


def fails(argv, capsys, message, entry=main, one_line=True):
    """Exit status 2 and one line on stderr that says what was wrong (as the docs promise;
    ``one_line=False``: argparse's own usage errors, which print the usage first)."""
    with pytest.raises(SystemExit) as exit_info:
        entry(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 or not one_line, err
    assert message in err, err


def test_cli_end_to_end_on_a_small_digits_model(tmp_path, capsys):
    out = tmp_path / "diag"
    argv = [
        "diagnose",
        "--model",
        "hamiltonian_digits",
        "--override",
        "widths=(4, 6)",
        "--override",
        "steps=2",
        "--dataset",
        "digits",
        "--num-points",
        "1",
        "--k",
        "2",
        "--batch-size",
        "8",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "hamiltonian" in printed and "h*" in printed and "wrote" in printed
    report = json.loads((out / "report.json").read_text())
    assert [len(s["blocks"]) for s in report["stages"]] == [2, 2]
    assert report["stages"][0]["state_shape"] == [4, 8, 8]
    block = report["stages"][0]["blocks"][0]
    assert block["argument"].startswith("h²") and block["step_map_radius"] is not None
    assert report["network"]["loss"] == "cross-entropy"
    assert report["network"]["consistency"]["observed_order"] is not None
    for name in ("stability_regions.png", "depth.png", "singular_values.png"):
        assert (out / name).read_bytes()[:8] == PNG
    assert (out / "summary.txt").read_text().startswith("odenets diagnostics")


def test_python_m_entry_point_and_checkpoint_round_trip(tmp_path, capsys):
    torch.manual_seed(0)
    model = odenets.create_model("leapfrog_vector", hidden=8)
    path = save_checkpoint(tmp_path / "ckpt.pt", model_payload(model))
    out = tmp_path / "from_ckpt"
    argv = [
        "--checkpoint",
        str(path),
        "--dataset",
        "random",
        "--num-points",
        "1",
        "--k",
        "1",
        "--no-plots",
        "--no-consistency",
        "--out",
        str(out),
    ]
    assert module_main(argv) == 0
    capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    assert not list(out.glob("*.png"))
    x = torch.randn((64, 2), generator=torch.Generator().manual_seed(0))
    direct = diagnose(model, x, k=1, num_points=1, consistency=False)
    assert report["network"]["top_singular_value"] == pytest.approx(
        direct.network.top_singular_value, rel=1e-12
    )
    # the same weights in a different architecture: a clear error
    fails(
        [
            "diagnose",
            "--model",
            "leapfrog_vector",
            "--override",
            "hidden=16",
            "--checkpoint",
            str(path),
            "--out",
            str(out),
        ],
        capsys,
        "different architecture",
    )


def test_cli_errors(tmp_path, capsys):
    out = ["--out", str(tmp_path / "x")]
    fails(["diagnose", "--model", "eulr_digits", *out], capsys, "Unknown model 'eulr_digits'")
    fails(["diagnose", "--checkpoint", str(tmp_path / "none.pt"), *out], capsys, "no checkpoint at")
    fails(["diagnose", *out], capsys, "give --model NAME")
    fails(
        ["diagnose", "--model", "euler_vector", "--dataset", "digits", *out],
        capsys,
        "does not fit model 'euler_vector'",
    )
    fails(
        ["diagnose", "--model", "euler_vector", "--dataset", "random", "--k", "5", *out],
        capsys,
        "k=5 eigenvalues requested but the state dimension is only 2",
    )
    fails(
        ["diagnose", "--model", "euler_vector", "--override", "hidden", *out],
        capsys,
        "--override expects KEY=VALUE",
    )
    fails(
        ["diagnose", "--model", "euler_vector", "--num-points", "0", *out],
        capsys,
        "--num-points must be a positive integer",
    )
    fails([], capsys, "choose a command: diagnose", one_line=False)  # with the usage


def test_a_dynamics_checkpoint_is_a_clear_error(tmp_path, capsys):
    """Was KeyError: 'model_name' (the payload of a dynamics run names no registered model)."""
    path = tmp_path / "checkpoint_last.pt"
    payload = {"format": "odenets-checkpoint-v1", "kind": "dynamics", "dynamics_model": "aphynity"}
    save_checkpoint(path, {**payload, "model": {}})
    out = ["--out", str(tmp_path / "x")]
    fails(["diagnose", "--checkpoint", str(path), *out], capsys, "is a 'dynamics' run")


def test_parse_overrides_reads_literals_not_code():
    parsed = parse_overrides(
        [
            "widths=(8, 16)",
            "horizon=0.5",
            "scheme_kwargs={'start': 'taylor'}",
            "field=symmetric",
            "x=__import__('os')",
        ]
    )
    assert parsed == {
        "widths": (8, 16),
        "horizon": 0.5,
        "scheme_kwargs": {"start": "taylor"},
        "field": "symmetric",
        "x": "__import__('os')",
    }
