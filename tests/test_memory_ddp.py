"""Reversible backprop under DistributedDataParallel (2 CPU processes, gloo)."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from odenets import ODENet

WORLD = 2


def _worker(rank: int, store_file: str, result_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store_file}", rank=rank, world_size=WORLD)
    try:
        torch.manual_seed(0)
        x = torch.randn(WORLD * 4, 1, 8, 8, dtype=torch.float64)[rank::WORLD]
        results = {}
        for policy in ("store", "reversible"):
            torch.manual_seed(1)  # same initial weights on both ranks and for both policies
            model = ODENet(
                "hamiltonian", widths=(4, 6), steps=4, in_chans=1, num_classes=3, memory=policy
            )
            ddp = DistributedDataParallel(model.double().train())
            for _ in range(2):  # two steps: the second checks buffers and grads stay in sync
                ddp.zero_grad()
                ddp(x).square().mean().backward()
            results[policy] = {
                "grads": torch.cat([p.grad.flatten() for p in model.parameters()]),
                "buffers": torch.cat(
                    [b.double().flatten() for n, b in model.named_buffers() if "running" in n]
                ),
            }
        if rank == 0:
            torch.save(results, result_file)
    finally:
        dist.destroy_process_group()


def test_ddp_reversible_gradients_equal_ddp_store_gradients(tmp_path):
    result_file = str(tmp_path / "results.pt")
    # fork (as DataLoader workers do, one thread each) spares re-importing torch per process
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    args = (str(tmp_path / "store"), result_file)
    mp.start_processes(_worker, args=args, nprocs=WORLD, join=True, start_method=method)
    results = torch.load(result_file)
    store, rev = results["store"], results["reversible"]
    rel = (rev["grads"] - store["grads"]).norm() / store["grads"].norm()
    assert rel <= 1e-8
    torch.testing.assert_close(rev["buffers"], store["buffers"], rtol=0, atol=1e-12)
