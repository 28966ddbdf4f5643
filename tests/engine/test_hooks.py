"""Method hooks in `fit`: call order and state, resume with every hook, early stop, optimizer reset, lr_scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepclust.engine import (
    EpochBatches,
    LossOutput,
    Runtime,
    TrainState,
    constant_schedule,
    cosine_schedule,
    fit,
    load_checkpoint,
    random_order,
    uniform_label_order,
)

N, DIM, HIDDEN, K, BATCH = 48, 4, 6, 5, 12
X = torch.randn(N, DIM, generator=torch.Generator().manual_seed(7))
RUNTIME = Runtime.auto(seed=1, device="cpu")


def _history(result) -> list[dict[str, float]]:
    return [{k: v for k, v in h.items() if k != "seconds"} for h in result.history]


class Recorder(nn.Module):
    """Records every hook call with the state it saw."""

    def __init__(self, events: list[tuple]) -> None:
        super().__init__()
        self.linear = nn.Linear(DIM, 1)
        self.events = events

    def on_fit_start(self, state: TrainState) -> None:
        self.events.append(("fit_start", state.epoch, state.step, state.generator.initial_seed()))

    def on_epoch_start(self, state: TrainState) -> dict[str, float]:
        # the epoch's generator, before any draw: runtime.generator(offset=epoch)
        expected = torch.randint(1 << 30, (3,), generator=RUNTIME.generator(offset=state.epoch))
        same = torch.equal(torch.randint(1 << 30, (3,), generator=state.generator), expected)
        self.events.append(("epoch_start", state.epoch, state.step, same))
        return {"started": float(state.epoch)}

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        self.events.append(("step", state.epoch, state.step, state.lr, state.steps_per_epoch))
        return LossOutput((self.linear(batch["x"]) ** 2).mean())

    def on_after_step(self, state: TrainState) -> None:
        self.events.append(("after_step", state.epoch, state.step))

    def on_epoch_end(self, state: TrainState, metrics: dict[str, float]) -> dict[str, float]:
        self.events.append(("epoch_end", state.epoch, state.step, metrics["started"]))
        return {"ended": 1.0}


def test_hook_order_and_state() -> None:
    events: list[tuple] = []
    sizes = [24, 36, 12]  # 2, 3 and 1 batches: steps do not follow from epoch * batches

    def batches(epoch: int) -> EpochBatches:
        events.append(("batches", epoch))
        return EpochBatches(random_order(N, epoch, 0, sizes[epoch]), BATCH, lambda idx: {"x": X[idx]})

    def callback(epoch: int, metrics: dict[str, float]) -> None:
        events.append(("callback", epoch, metrics["ended"], metrics["started"]))

    schedule = np.arange(6) / 10
    method = Recorder(events)
    fit(method, torch.optim.SGD(method.parameters(), lr=1.0), batches, epochs=3, runtime=RUNTIME,
        lr_schedule=schedule, on_epoch_end=callback)
    expected: list[tuple] = [("fit_start", 0, 0, RUNTIME.generator(offset=3).initial_seed())]
    step = 0
    for epoch, size in enumerate(sizes):
        expected += [("epoch_start", epoch, step, True), ("batches", epoch)]
        for _ in range(size // BATCH):
            expected += [("step", epoch, step, schedule[step], size // BATCH), ("after_step", epoch, step)]
            step += 1
        expected += [("epoch_end", epoch, step, float(epoch)), ("callback", epoch, 1.0, float(epoch))]
    assert events == expected


class Interrupt(Exception):
    pass


class DeepClusterToy(nn.Module):
    """Uses every hook: an E-step into a buffer, a re-initialised head with fresh optimiser state, an EMA copy.

    The pseudo-labels are a k-means-like assignment of the trunk's features to K centroids picked with the
    epoch's generator; a momentum copy of the trunk (buffers) is updated after every step and pulls the
    trunk towards it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Linear(DIM, HIDDEN)
        self.head = nn.Linear(HIDDEN, K)
        self.register_buffer("labels", torch.full((N,), -1, dtype=torch.long))
        self.register_buffer("ema_weight", self.trunk.weight.detach().clone())
        self.register_buffer("ema_bias", self.trunk.bias.detach().clone())
        self.raise_in: tuple[str, int] | None = None
        self.calls: list[str] = []

    def _maybe_raise(self, hook: str, state: TrainState) -> None:
        self.calls.append(hook)
        if self.raise_in == (hook, state.epoch):
            raise Interrupt

    def on_fit_start(self, state: TrainState) -> None:
        self._maybe_raise("on_fit_start", state)

    @torch.no_grad()
    def on_epoch_start(self, state: TrainState) -> dict[str, float]:
        self._maybe_raise("on_epoch_start", state)
        features = F.normalize(self.trunk(X), dim=1)
        centroids = features[torch.randperm(N, generator=state.generator)[:K]]
        self.labels.copy_((features @ centroids.T).argmax(1))
        self.labels[torch.randint(N, (3,), generator=state.generator)] = -1  # a few unassigned samples
        nn.init.normal_(self.head.weight, std=0.1, generator=state.generator)
        nn.init.zeros_(self.head.bias)
        state.reset_optimizer_state(self.head.parameters())
        return {"clusters": float(len(self.labels[self.labels >= 0].unique()))}

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        x = batch["x"] + 0.05 * torch.randn(batch["x"].shape, generator=state.generator)
        hidden = self.trunk(x)
        target = F.linear(x, self.ema_weight, self.ema_bias)
        loss = F.cross_entropy(self.head(hidden.relu()), self.labels[batch["idx"]]) + F.mse_loss(hidden, target)
        if self.raise_in == ("training_step", state.epoch) and state.step % 2:
            raise Interrupt
        return LossOutput(loss)

    @torch.no_grad()
    def on_after_step(self, state: TrainState) -> None:
        self._maybe_raise("on_after_step", state)
        self.ema_weight.lerp_(self.trunk.weight, 0.1)
        self.ema_bias.lerp_(self.trunk.bias, 0.1)

    def on_epoch_end(self, state: TrainState, metrics: dict[str, float]) -> dict[str, float]:
        self._maybe_raise("on_epoch_end", state)
        return {"ema_distance": float((self.ema_weight - self.trunk.weight.detach()).norm())}


EPOCH_SAMPLES = [24, 36, 48, 24, 36]  # the number of batches changes every epoch


def _label_batches(method: DeepClusterToy):
    def batches(epoch: int) -> EpochBatches:
        g = torch.Generator().manual_seed(1000 + epoch)
        order = uniform_label_order(method.labels, EPOCH_SAMPLES[epoch], g)
        return EpochBatches(order, BATCH, lambda idx: {"x": X[idx], "idx": idx})

    return batches


def _run_hooked(run_dir: Path | None, init_seed: int = 0, raise_in: tuple[str, int] | None = None,
                stop_at: int | None = None):
    torch.manual_seed(init_seed)
    method = DeepClusterToy() if stop_at is None else Stopper(stop_at)
    method.raise_in = raise_in
    optimizer = torch.optim.SGD([{"params": method.trunk.parameters()},
                                 {"params": method.head.parameters(), "lr_scale": 10.0}],
                                lr=0.05, momentum=0.9, weight_decay=1e-4)
    steps = sum(EPOCH_SAMPLES) // BATCH
    schedule = cosine_schedule(0.05, 0.001, 1, steps)  # a per-step schedule: a wrong resume step shows
    result = fit(method, optimizer, _label_batches(method), epochs=len(EPOCH_SAMPLES), runtime=RUNTIME,
                 lr_schedule=schedule, run_dir=run_dir, fingerprint="fp", desc="hooked")
    return method, optimizer, result


def _assert_same_run(a, b) -> None:
    (ma, oa, ra), (mb, ob, rb) = a, b
    for (name, ta), tb in zip(ma.state_dict().items(), mb.state_dict().values(), strict=True):
        assert torch.equal(ta, tb), name
    sa, sb = oa.state_dict(), ob.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for key, value in sa["state"].items():
        assert all(torch.equal(value[k], sb["state"][key][k]) for k in value)
    assert _history(ra) == _history(rb)


@pytest.mark.parametrize("raise_in", [("on_after_step", 2), ("training_step", 2), ("on_epoch_start", 2),
                                      ("on_epoch_end", 2), ("on_after_step", 4)])
def test_resume_with_every_hook_equals_an_uninterrupted_run(tmp_path: Path, raise_in: tuple[str, int]) -> None:
    reference = _run_hooked(tmp_path / "reference")
    with pytest.raises(Interrupt):
        _run_hooked(tmp_path / "run", raise_in=raise_in)
    payload = load_checkpoint(tmp_path / "run" / "checkpoint.pt", "fp")
    done = raise_in[1]  # epochs finished and checkpointed before the one interrupted
    assert payload["run_variables"]["epoch"] == done
    assert payload["run_variables"]["step"] == sum(EPOCH_SAMPLES[:done]) // BATCH
    resumed = _run_hooked(tmp_path / "run", init_seed=99)  # a fresh process with another initialisation
    assert resumed[2].start_epoch == done
    assert resumed[0].calls[0] == "on_fit_start"
    _assert_same_run(reference, resumed)


def test_hooked_runs_are_bit_identical_and_learn_pseudo_labels(tmp_path: Path) -> None:
    a, b = _run_hooked(None), _run_hooked(tmp_path / "run")
    _assert_same_run(a, b)
    assert (a[0].labels >= 0).any() and all("clusters" in h and "ema_distance" in h for h in a[2].history)


class Stopper(DeepClusterToy):
    def __init__(self, stop_at: int) -> None:
        super().__init__()
        self.stop_at = stop_at

    def on_epoch_end(self, state: TrainState, metrics: dict[str, float]) -> dict[str, float]:
        if state.epoch == self.stop_at:
            state.stop, state.stop_reason = True, "assignments converged"
        return super().on_epoch_end(state, metrics)


def test_early_stop_ends_after_the_epoch_and_is_not_continued(tmp_path: Path) -> None:
    method, _, result = _run_hooked(tmp_path / "run", stop_at=1)
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert result.stopped and result.stop_reason == "assignments converged"
    run = load_checkpoint(tmp_path / "run" / "checkpoint.pt", "fp")["run_variables"]
    assert run["stopped"] and run["epoch"] == 2 and run["stop_reason"] == "assignments converged"
    assert len(list(open(tmp_path / "run" / "log.csv"))) == 3

    again, _, rerun = _run_hooked(tmp_path / "run", stop_at=1, init_seed=5)
    assert again.calls == []  # not even on_fit_start
    assert rerun.stopped and rerun.stop_reason == "assignments converged" and rerun.start_epoch == 2
    assert _history(rerun) == _history(result)
    for key, value in method.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


def test_early_stop_without_run_dir() -> None:
    _, _, result = _run_hooked(None, stop_at=2)
    assert len(result.history) == 3 and result.stopped


class StopAtEpochStart(nn.Module):
    """Counts batches; its E-step declares convergence at epoch `stop_epoch` (before that epoch's batches)."""

    def __init__(self, stop_epoch: int) -> None:
        super().__init__()
        self.linear = nn.Linear(DIM, 1)
        self.stop_epoch = stop_epoch
        self.batches_seen: list[int] = []

    def on_epoch_start(self, state: TrainState) -> dict[str, float]:
        if state.epoch == self.stop_epoch:
            state.stop, state.stop_reason = True, "labels settled"
        return {"estep": 1.0}

    def training_step(self, batch, state: TrainState) -> LossOutput:
        self.batches_seen.append(state.epoch)
        return LossOutput(self.linear(batch["x"]).pow(2).mean())


def test_stop_at_epoch_start_trains_no_batch_of_that_epoch() -> None:
    method = StopAtEpochStart(stop_epoch=2)
    opt = torch.optim.SGD(method.parameters(), lr=0.1)
    batches = lambda e: EpochBatches(random_order(N, e, 0), BATCH, lambda idx: {"x": X[idx]})  # noqa: E731
    result = fit(method, opt, batches, epochs=5, runtime=RUNTIME, lr_schedule=constant_schedule(0.1, 5, N // BATCH))
    assert sorted(set(method.batches_seen)) == [0, 1]
    assert result.stopped and result.stop_reason == "labels settled" and len(result.history) == 3
    assert "loss" not in result.history[-1] and result.history[-1]["estep"] == 1.0


def _two_layers() -> tuple[nn.Linear, nn.Linear]:
    torch.manual_seed(0)
    return nn.Linear(3, 2), nn.Linear(2, 1)


@pytest.mark.parametrize("make_optimizer", [
    lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
    lambda params: torch.optim.Adam(params, lr=0.1),
], ids=["sgd-momentum", "adam"])
def test_reset_optimizer_state_clears_only_the_given_params(make_optimizer) -> None:
    trunk, head = _two_layers()
    optimizer = make_optimizer([*trunk.parameters(), *head.parameters()])

    def step() -> None:
        optimizer.zero_grad()
        head(trunk(torch.ones(4, 3))).pow(2).sum().backward()
        optimizer.step()

    step()
    step()
    kept = {p: {k: v.clone() for k, v in optimizer.state[p].items()} for p in trunk.parameters()}
    assert all(optimizer.state[p] for p in head.parameters())
    TrainState(RUNTIME, optimizer, epochs=1).reset_optimizer_state(head.parameters())
    assert all(p not in optimizer.state for p in head.parameters())
    for p in trunk.parameters():
        assert optimizer.state[p].keys() == kept[p].keys()
        assert all(torch.equal(optimizer.state[p][k], v) for k, v in kept[p].items())
    step()  # the head starts afresh: SGD's buffer is the gradient itself, Adam's step count is 1
    for p in head.parameters():
        if "momentum_buffer" in optimizer.state[p]:
            assert torch.equal(optimizer.state[p]["momentum_buffer"], p.grad)
        else:
            assert float(optimizer.state[p]["step"]) == 1.0
    assert all(float(optimizer.state[p].get("step", 3)) == 3 for p in trunk.parameters())


def test_lr_scale_per_param_group() -> None:
    events: list[tuple] = []
    method = Recorder(events)
    extra = nn.Linear(1, 1)
    optimizer = torch.optim.SGD([{"params": method.parameters()},
                                 {"params": extra.parameters(), "lr_scale": 10.0},
                                 {"params": [], "lr_scale": 0.5}], lr=1.0)
    seen: list[list[float]] = []
    original = method.training_step

    def spy(batch, state):
        seen.append([group["lr"] for group in optimizer.param_groups])
        return original(batch, state)

    method.training_step = spy
    schedule = np.linspace(0.1, 0.01, 8)
    batches = lambda epoch: EpochBatches(random_order(N, epoch, 0), BATCH, lambda idx: {"x": X[idx]})  # noqa: E731
    fit(method, optimizer, batches, epochs=2, runtime=RUNTIME, lr_schedule=schedule)
    assert seen == [[lr, lr * 10.0, lr * 0.5] for lr in schedule.tolist()]
    assert seen[0][0] == schedule[0]  # a group without lr_scale gets the schedule's value exactly


def test_constant_schedule_unchanged_by_plain_groups() -> None:
    method = Recorder([])
    optimizer = torch.optim.SGD(method.parameters(), lr=1.0)
    batches = lambda epoch: EpochBatches(random_order(N, epoch, 0), BATCH, lambda idx: {"x": X[idx]})  # noqa: E731
    result = fit(method, optimizer, batches, epochs=1, runtime=RUNTIME, lr_schedule=constant_schedule(0.3, 1, 4))
    assert optimizer.param_groups[0]["lr"] == 0.3 and result.history[0]["lr"] == 0.3
