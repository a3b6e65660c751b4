"""Data-parallel training on CPU with gloo: the real torchrun path and its gradient semantics."""

import json
import os
import socket
import subprocess
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from robeval import runs
from robeval.training import distributed


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (all held open while chosen, so none is handed out twice)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _free_port() -> int:
    return _free_ports(1)[0]


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    info = distributed.DistInfo(rank=rank, world=world, local_rank=rank)
    net = distributed.wrap(_model(), info, "cpu")
    x, y = _batch()
    loss = F.cross_entropy(net(x[rank::world]), y[rank::world])  # this rank's slice of the batch
    loss.backward()
    if rank == 0:
        torch.save([p.grad for p in net.module.parameters()], out)
    dist.destroy_process_group()


def test_rank_slices_give_the_full_batch_gradient(tmp_path):
    out = tmp_path / "grads.pt"
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    model = _model()
    x, y = _batch()
    F.cross_entropy(model(x), y).backward()
    for g_ddp, p in zip(torch.load(out, weights_only=True), model.parameters(), strict=True):
        torch.testing.assert_close(g_ddp, p.grad, rtol=1e-5, atol=1e-6)


def test_torchrun_two_processes_trains_a_run(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "robeval", "train", "--epochs", "2", "--max-train", "1024", "--batch-size", "32",
           "--head", "fixed", "--logits", "dot", "--device", "cpu", "--quiet", "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / runs.CONFIG).read_text())
    summary = json.loads((out / runs.SUMMARY).read_text())
    assert config["distributed"] == {"world_size": 2, "global_batch": 32}
    assert summary["world_size"] == 2
    rows = [json.loads(x) for x in (out / runs.METRICS).read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]  # rank 0 alone wrote: no duplicated lines
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert summary["best_val_acc"] > 0.13


def test_global_batch_must_divide_by_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "robeval", "train", "--epochs", "1", "--max-train", "256", "--batch-size", "33",
           "--device", "cpu", "--quiet", "--out", str(tmp_path / "odd")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=200)
    assert proc.returncode != 0
    assert "must divide by the 2 processes" in proc.stderr


def _train_worker(rank: int, world: int, ports: tuple[int, int], out: str) -> None:
    """One torchrun-like rank: a refused run, then a finished one, each through stages.train.

    Each train call gets its own rendezvous port, as two torchrun commands would: re-joining on
    the port just left races (a fast rank can reach rank 0's closing store and read its stale
    address, "Connection reset by peer"), a hazard of this test reusing a process, not of torchrun.
    """
    from robeval.core.errors import RobevalError
    from robeval.stages.train import train
    from robeval.training.config import TrainConfig

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(ports[0]), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    joined = {}
    cfg = dict(epochs=1, max_train=64, head="fixed", logits="dot")
    try:  # a global batch of 33 does not divide by 2 processes: refused after joining the group
        train(TrainConfig(**cfg, batch_size=33), f"{out}/odd", device="cpu", progress=False)
    except RobevalError:
        joined["after_error"] = dist.is_initialized()
    os.environ["MASTER_PORT"] = str(ports[1])
    summary = train(TrainConfig(**cfg, batch_size=32), f"{out}/run", device="cpu", progress=False)
    joined["after_run"] = dist.is_initialized()
    joined["world_size"] = summary["world_size"]
    with open(f"{out}/rank{rank}.json", "w") as f:
        json.dump(joined, f)


def test_a_distributed_run_leaves_the_process_group_on_success_and_on_error(tmp_path):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ports = tuple(_free_ports(2))
    mp.spawn(_train_worker, args=(2, ports, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        joined = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert joined == {"after_error": False, "after_run": False, "world_size": 2}, rank
