"""``diagnose`` over the whole live model registry, at each model's tiniest valid size.

Every registered model is rebuilt with its own layout (number of stages, scheme, field,
step ``h``) but two channels per stage, two steps per stage (so a scheme's starter and its
step are both seen), no pooling and a 3-pixel (or 3-sample) input: the smallest input
every stage of every model accepts (IMEX's periodic 3-point operator needs 3). The
diagnostics must give every block a verdict or a stated reason, and where both paths are
feasible the matrix-free verdict (ARPACK on the step map) must agree with the dense one.
"""

from __future__ import annotations

import math

import pytest
import torch

import odenets
from odenets import ODENet, VectorODENet
from odenets.checkpoint import load_model, save_checkpoint
from odenets.cli import main
from odenets.diagnostics import diagnose
from odenets.models.continuous import ContinuousNet

MODELS = odenets.list_models()
#: block verdicts only: the network-level parts are exercised once per model family below
CHEAP = dict(
    k=1,
    num_points=1,
    stage_maps=False,
    growth=False,
    gradients=False,
    input_output=False,
    consistency=False,
    clamp_k=True,
)


def tiny_model(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    """``name`` at its smallest: 2 channels, 2 steps per stage at the registered ``h``."""
    base = odenets.create_model(name)
    if isinstance(base, VectorODENet):
        model = odenets.create_model(name, hidden=2, steps=2, horizon=2 * base.stage.h)
        return model, torch.randn(1, model.dim)
    if isinstance(base, ContinuousNet):
        model = odenets.create_model(name, width=2, downsample=0, norm_groups=1)
        return model, torch.randn((1, model.in_chans) + (3,) * model.ndim)
    if isinstance(base, ODENet):
        n = len(base.stages)
        horizon = tuple(2 * stage.h for stage in base.stages)
        model = odenets.create_model(name, widths=(2,) * n, steps=2, horizon=horizon, pool=False)
        return model, torch.randn((1, model.in_chans) + (3,) * model.ndim)
    pytest.fail(f"{type(base).__name__}: teach tiny_model() the smallest layout of this model")


def assert_every_block_judged(report) -> None:
    """A verdict (amplification, margin, h* or 'unbounded') or a stated reason per block."""
    assert report.blocks
    for b in report.blocks:
        where = f"stage {b.stage} step {b.step} ({b.scheme})"
        if b.stability is None or not b.certified:
            assert b.notes, f"{where}: no verdict and no reason"
            continue
        assert b.judged_at and b.verdict_method, where
        assert math.isfinite(b.max_amplification) and b.max_amplification >= 0, where
        assert b.margin == pytest.approx(1 - b.max_amplification, abs=1e-15), where
        assert b.h_star_unbounded or (b.h_star is not None and b.h_star >= 0), where
        if b.h_star is not None and b.h_star > 0 and b.judged_h < b.h_star * (1 - 1e-6):
            assert b.max_amplification <= 1 + 1e-9, f"{where}: h < h* but amplifies"


@pytest.mark.parametrize("name", MODELS)
def test_diagnose_every_registered_model(name):
    torch.manual_seed(0)
    model, x = tiny_model(name)
    report = diagnose(model, x, **CHEAP)
    assert_every_block_judged(report)
    assert {b.scheme for b in report.blocks} <= set(odenets.list_schemes())


# --------------------------------------------------------------------- dynamics checkpoints
@pytest.fixture
def dynamics_checkpoint(tmp_path):
    """A checkpoint with the payload a dynamics run writes (``DynamicsTask.model_payload``)."""
    from types import SimpleNamespace

    from odenets.dynamics import list_dynamics_models
    from odenets.dynamics.train import DynamicsTask

    name = list_dynamics_models()[0]
    task = SimpleNamespace(cfg=SimpleNamespace(model=name), model=torch.nn.Linear(2, 2))
    payload = DynamicsTask.model_payload(task)
    return save_checkpoint(tmp_path / "checkpoint_last.pt", payload), name


def test_a_dynamics_checkpoint_is_a_one_line_error(dynamics_checkpoint, tmp_path, capsys):
    path, name = dynamics_checkpoint
    with pytest.raises(ValueError, match=f"is a 'dynamics' run \\(model '{name}'\\)") as err:
        load_model(path)
    assert "\n" not in str(err.value)
    with pytest.raises(SystemExit) as exit_info:
        main(["diagnose", "--checkpoint", str(path), "--out", str(tmp_path / "d")])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "is a 'dynamics' run" in lines[0], lines
