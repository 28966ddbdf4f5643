"""Two CPU processes (gloo), spawned for real: gathered losses and gradients equal the single-process ones on the
concatenated batch, epoch metrics agree across ranks, a 2-process `fit` equals a 1-process one, samplers shard.

The measured differences are written to `tmp_path` and printed (`pytest -s` shows them).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from deepclust.engine import EpochBatches, LossOutput, Runtime, TrainState, constant_schedule, fit, random_order
from deepclust.engine.distributed import all_reduce_sums, gather_with_grad, local_batch_size
from deepclust.losses import ClusterContrastiveLoss, DCDCLoss, IICLoss, NTXentLoss, SCANLoss

WORLD = 2
BATCH, DIM_IN, DIM, K = 8, 6, 5, 3  # BATCH: the global batch, BATCH // WORLD per rank
TOL = 1e-6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, port: int, fn: Callable[[int, Path], None], out: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        fn(rank, out)
    finally:
        dist.destroy_process_group()


def _spawn(fn: Callable[[int, Path], None], out: Path) -> list[dict[str, Any]]:
    """Runs fn(rank, out) in WORLD gloo processes; returns what each rank wrote to out/rank<r>.json."""
    mp.spawn(_worker, args=(_free_port(), fn, out), nprocs=WORLD, join=True)
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(WORLD)]


def _write(out: Path, rank: int, record: dict[str, Any]) -> None:
    (out / f"rank{rank}.json").write_text(json.dumps(record))


# --- losses: gathered on two ranks == single process on the concatenated batch -----------------------------

def _ntxent(gather: bool, symmetric: bool = True) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return NTXentLoss(0.5, symmetric, gather_distributed=gather)


def _cc(gather: bool) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """CC's total: instance NT-Xent on the embeddings + cluster contrast + both balance (entropy) terms."""
    instance = NTXentLoss(0.5, True, gather_distributed=gather)
    cluster = ClusterContrastiveLoss(1.0, 1.0, gather_distributed=gather)
    return lambda a, b: instance(a, b) + cluster(a[:, :K].softmax(1), b[:, :K].softmax(1))


def _dcdc(gather: bool) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    loss = DCDCLoss(0.5, gather_distributed=gather)
    return lambda a, b: loss(a[:, :K].softmax(1), b[:, :K].softmax(1))


def _iic(gather: bool) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    loss = IICLoss(gather_distributed=gather)
    return lambda a, b: loss(a[:, :K].softmax(1), b[:, :K].softmax(1))


def _scan(gather: bool) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return SCANLoss(5.0, gather_distributed=gather)


# name -> (loss factory, same value on every rank): SCAN's consistency term stays per rank, so only the
# mean of the ranks' values is the global loss (and DDP's gradient averaging makes the step the global one).
LOSSES: dict[str, tuple[Callable[[bool], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]], bool]] = {
    "ntxent": (_ntxent, True),
    "ntxent_first_view": (lambda g: _ntxent(g, symmetric=False), True),
    "cc": (_cc, True),
    "dcdc": (_dcdc, True),
    "iic": (_iic, True),
    "scan": (_scan, False),
}


def _data() -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(BATCH, DIM_IN, generator=g), torch.randn(BATCH, DIM_IN, generator=g)
    torch.manual_seed(1)
    return nn.Linear(DIM_IN, DIM).double(), x0.double(), x1.double()


def _check_losses(rank: int, out: Path) -> None:
    _write(out, rank, {name: _check_loss(name, rank) for name in LOSSES})


def _check_loss(name: str, rank: int) -> dict[str, float]:
    make, same_on_every_rank = LOSSES[name]
    # Single process: the whole batch, no gathering.
    model, x0, x1 = _data()
    ref_x0 = x0.clone().requires_grad_(True)
    z = model(torch.cat([ref_x0, x1]))
    ref_loss = make(False)(*z.chunk(2))
    ref_loss.backward()
    ref_grads = [p.grad.clone() for p in model.parameters()]
    # Two ranks: each its half, through DDP (which averages the parameter gradients).
    model, x0, x1 = _data()
    ddp = nn.parallel.DistributedDataParallel(model)
    local = slice(rank * BATCH // WORLD, (rank + 1) * BATCH // WORLD)
    x0_local = x0[local].clone().requires_grad_(True)
    loss = make(True)(*ddp(torch.cat([x0_local, x1[local]])).chunk(2))
    loss.backward()
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    # all_gather's backward sums every rank's gradient of the same loss: the input's is WORLD times the
    # single-process one (DDP's averaging divides the parameters' back).
    input_grad = x0_local.grad / (WORLD if same_on_every_rank else 1)
    return {
        "mean_loss_diff": abs(mean_loss.item() / WORLD - ref_loss.item()),
        "rank_loss_diff": abs(loss.item() - ref_loss.item()),
        "param_grad_diff": max((p.grad - r).abs().max().item()
                               for p, r in zip(model.parameters(), ref_grads, strict=True)),
        "input_grad_diff": (input_grad - ref_x0.grad[local]).abs().max().item(),
    }


@pytest.fixture(scope="module")
def loss_diffs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, dict[str, float]]]:
    """Every loss checked in one pair of processes (starting them costs seconds)."""
    return _spawn(_check_losses, tmp_path_factory.mktemp("losses"))


@pytest.mark.parametrize("name", list(LOSSES))
def test_gathered_loss_equals_single_process(name: str, loss_diffs: list[dict[str, dict[str, float]]]) -> None:
    ranks = [r[name] for r in loss_diffs]
    print(name, {k: max(r[k] for r in ranks) for k in ranks[0]})
    for r in ranks:
        assert r["mean_loss_diff"] < TOL
        assert r["param_grad_diff"] < TOL
        if LOSSES[name][1]:
            assert r["rank_loss_diff"] < TOL
            assert r["input_grad_diff"] < TOL


def test_gather_is_identity_in_one_process() -> None:
    x = torch.randn(3, 2)
    assert gather_with_grad(x)[0] is x
    assert all_reduce_sums({"loss": 2.0}, 3) == ({"loss": 2.0}, 3)


# --- fit under two processes: the same training as one process, equal metrics on every rank ---------------

class _Contrastive(nn.Module):
    """A linear embedding trained by gathered NT-Xent; no randomness, so 1 and 2 processes see equal batches."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.net = nn.Linear(DIM_IN, DIM)
        self.criterion = NTXentLoss(0.5, gather_distributed=True)

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        z0, z1 = self.net(torch.cat([batch["x0"], batch["x1"]])).chunk(2)
        return LossOutput(self.criterion(z0, z1), {"rank_seen": float(state.runtime.rank)})


class _Skipping(nn.Module):
    """A per-rank loss that skips a batch without a usable sample, as selflabel does without a confident one.

    A method that gathers must skip on every rank or none (the gather is a collective); this one does not.
    """

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.net = nn.Linear(DIM_IN, 1)

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput | None:
        if batch["skip"].all():
            return None
        return LossOutput((self.net(batch["x0"]).squeeze(1) - batch["x1"][:, 0]).pow(2).mean())


N_FIT, EPOCHS = 32, 3


def _fit(method: nn.Module, rank: int, world: int, out: Path | None) -> dict[str, Any]:
    g = torch.Generator().manual_seed(5)
    x0, x1 = torch.randn(N_FIT, DIM_IN, generator=g), torch.randn(N_FIT, DIM_IN, generator=g)
    skip = torch.zeros(N_FIT, dtype=torch.bool)
    skip[random_order(N_FIT, 1, 0)[:local_batch_size(BATCH, WORLD)]] = True  # epoch 2, batch 1: rank 0 skips

    def batches(epoch: int) -> EpochBatches:
        return EpochBatches(random_order(N_FIT, epoch, 0), BATCH,
                            lambda i: {"x0": x0[i], "x1": x1[i], "skip": skip[i]}, rank=rank, world_size=world)

    opt = torch.optim.SGD(method.parameters(), lr=0.5, momentum=0.9)
    runtime = Runtime(torch.device("cpu"), None, 0, rank, world)
    result = fit(method, opt, batches, epochs=EPOCHS, runtime=runtime,
                 lr_schedule=constant_schedule(0.5, EPOCHS, N_FIT // BATCH), run_dir=out)
    return {"history": result.history, "weight": torch.cat([p.detach().flatten() for p in method.parameters()]
                                                           ).tolist()}


def _fit_two(rank: int, out: Path) -> None:
    _write(out, rank, {"contrastive": _fit(_Contrastive(), rank, WORLD, out / "run"),  # rank 0 writes it
                       "skipping": _fit(_Skipping(), rank, WORLD, None)})


def test_two_process_fit_equals_one_process(tmp_path: Path) -> None:
    ranks = _spawn(_fit_two, tmp_path)
    single = _fit(_Contrastive(), 0, 1, None)
    for kind in ("contrastive", "skipping"):  # every rank: the same metrics and weights
        for r in ranks:
            assert [{k: v for k, v in h.items() if k != "seconds"} for h in r[kind]["history"]] == \
                [{k: v for k, v in h.items() if k != "seconds"} for h in ranks[0][kind]["history"]]
            assert r[kind]["weight"] == ranks[0][kind]["weight"]
    contrastive = ranks[0]["contrastive"]
    assert contrastive["history"][0]["rank_seen"] == pytest.approx(0.5)  # averaged over both ranks' batches
    loss_diff = max(abs(a["loss"] - b["loss"]) for a, b in zip(contrastive["history"], single["history"], strict=True))
    weight_diff = max(abs(a - b) for a, b in zip(contrastive["weight"], single["weight"], strict=True))
    print(f"fit, 2 processes vs 1: max loss diff {loss_diff:.2e}, max weight diff {weight_diff:.2e}")
    assert loss_diff < TOL
    assert weight_diff < 1e-5  # float32 rounding of 12 momentum steps (the losses above are float64)
    assert (tmp_path / "run" / "checkpoint.pt").exists() and (tmp_path / "run" / "log.csv").exists()
    # Rank 0 skipped one batch of epoch 2: counted once; rank 1's half still stepped every rank's optimizer.
    assert [h["skipped_batches"] for h in ranks[0]["skipping"]["history"]] == [0, 1, 0]


# --- samplers ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("world", [1, 2, 4])
def test_epoch_batches_shard_the_global_batches(world: int) -> None:
    order = random_order(50, 0, 0)
    single = [b["i"] for b in EpochBatches(order, 8, lambda i: {"i": i})]
    shards = [[b["i"] for b in EpochBatches(order, 8, lambda i: {"i": i}, rank=r, world_size=world)]
              for r in range(world)]
    assert all(len(s) == len(single) == 50 // 8 for s in shards)  # lockstep: same steps on every rank
    for step, batch in enumerate(single):  # rank order concatenated == the single-process batch
        assert torch.equal(torch.cat([s[step] for s in shards]), batch)
    flat = torch.cat([torch.cat(s) for s in shards])
    assert len(set(flat.tolist())) == len(flat) == 48  # disjoint, covering the order up to the dropped tail


def test_epoch_batches_reject_an_uneven_split() -> None:
    with pytest.raises(ValueError, match="multiple"):
        EpochBatches(torch.arange(20), 9, lambda i: {"i": i}, rank=0, world_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        local_batch_size(9, 2)
