"""Fast by default: diagnose pins BLAS/torch threads and restores them, progress stays quiet."""

import pytest
import torch
from threadpoolctl import threadpool_info

import odenets
from odenets.diagnostics import diagnose
from odenets.diagnostics.spectra import block_progress, estimate_seconds, pinned_threads

CHEAP = dict(
    k=1,
    num_points=1,
    stage_maps=False,
    growth=False,
    gradients=False,
    input_output=False,
    consistency=False,
    step_map=False,
    clamp_k=True,
    progress=False,
)


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info()]


def small_model():
    torch.manual_seed(0)
    return odenets.models.VectorODENet("rk4", dim=3, steps=2, horizon=1.0)


def test_threads_are_pinned_inside_and_restored_after():
    """Inside the solve torch and BLAS see ``threads``; after, the caller's settings return."""
    before_torch, before_blas = torch.get_num_threads(), blas_threads()
    seen = {}
    with pinned_threads(1):
        seen["torch"], seen["blas"] = torch.get_num_threads(), blas_threads()
    assert seen["torch"] == 1
    assert all(t == 1 for t in seen["blas"])
    assert torch.get_num_threads() == before_torch
    assert blas_threads() == before_blas


def test_threads_are_restored_after_an_exception():
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    blas = blas_threads()
    try:
        with pytest.raises(RuntimeError, match="boom"), pinned_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 2
        assert blas_threads() == blas
    finally:
        torch.set_num_threads(saved)


def test_diagnose_restores_the_callers_threads_also_when_it_raises():
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        diagnose(small_model(), torch.randn(2, 3), threads=1, **CHEAP)
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="num_points"):  # raised inside the pinned body
            diagnose(small_model(), torch.randn(2, 3), threads=1, **{**CHEAP, "num_points": 5})
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="threads"):
            diagnose(small_model(), torch.randn(2, 3), threads=0, **CHEAP)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)


def test_threads_none_leaves_the_setting_alone():
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pinned_threads(None):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)


def test_progress_off_prints_nothing(capsys):
    diagnose(small_model(), torch.randn(2, 3), **CHEAP)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_estimate_is_announced_for_long_runs_only(capsys):
    bar = block_progress(3, estimate_seconds(4096, True), [4096], progress=True)
    bar.close()
    err = capsys.readouterr().err
    assert "about" in err and "3 blocks of dimension 4096" in err
    bar = block_progress(3, estimate_seconds(64, True), [64], progress=True)
    bar.close()
    assert "about" not in capsys.readouterr().err


def test_estimate_grows_like_the_cube_of_the_dense_dimension():
    assert estimate_seconds(2048, True) == pytest.approx(8 * estimate_seconds(1024, True))
    assert estimate_seconds(1024, False) == pytest.approx(2 * estimate_seconds(512, False))
