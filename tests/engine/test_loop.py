"""The training loop on a toy method: learning, determinism, the pre-hooks oracle, resume, NaN guard, skips."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from deepclust.engine import (
    EpochBatches,
    FitResult,
    LossOutput,
    Runtime,
    TrainState,
    constant_schedule,
    cosine_schedule,
    fit,
    load_checkpoint,
    random_order,
    save_checkpoint,
)
from deepclust.errors import DeepclustError, NonFiniteLossError
from deepclust.methods import SimCLR
from deepclust.models import build_backbone
from deepclust.transforms import SimCLRTransform

N, DIM, BATCH = 48, 4, 12  # 4 batches per epoch

_g = torch.Generator().manual_seed(123)
X = torch.randn(N, DIM, generator=_g)
Y = X @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1


class Toy(nn.Module):
    """Linear regression whose inputs get generator-drawn noise, like an augmentation would."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(DIM, 1)
        self.calls = 0

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput | None:
        self.calls += 1
        x = batch["x"] + 0.05 * torch.randn(batch["x"].shape, generator=state.generator)
        loss = ((self.linear(x).squeeze(1) - batch["y"]) ** 2).mean()
        return LossOutput(loss, {"abs_bias": self.linear.bias.abs().item()})


def _batches(seed: int = 0) -> Callable[[int], EpochBatches]:
    return lambda epoch: EpochBatches(random_order(N, epoch, seed), BATCH, lambda idx: {"x": X[idx], "y": Y[idx]})


def _run(run_dir: Path | None, epochs: int = 4, fingerprint: str = "fp", method: nn.Module | None = None,
         on_epoch_end=None, init_seed: int = 0) -> tuple[nn.Module, FitResult]:
    runtime = Runtime.auto(seed=0, device="cpu")
    torch.manual_seed(init_seed)
    method = method if method is not None else Toy()
    # momentum: the optimizer's state has to survive a resume too
    optimizer = torch.optim.SGD(method.parameters(), lr=0.05, momentum=0.9)
    result = fit(method, optimizer, _batches(), epochs=epochs, runtime=runtime,
                 lr_schedule=constant_schedule(0.05, epochs, N // BATCH), run_dir=run_dir,
                 fingerprint=fingerprint, on_epoch_end=on_epoch_end, desc="toy")
    return method, result


def _assert_identical(a: nn.Module, b: nn.Module) -> None:
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name


def test_loss_decreases_and_history(tmp_path: Path) -> None:
    method, result = _run(tmp_path / "run", epochs=4)
    losses = [h["loss"] for h in result.history]
    assert result.start_epoch == 0
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert losses[-1] < 0.5 * losses[0]
    assert all(h["skipped_batches"] == 0 for h in result.history)
    assert all("abs_bias" in h and h["lr"] == pytest.approx(0.05) for h in result.history)
    with open(tmp_path / "run" / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert list(rows[0])[0] == "epoch"
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt", "fp")["run_variables"]["epoch"] == 4


def test_same_seed_is_bit_identical() -> None:
    a, ra = _run(None, epochs=3)
    b, rb = _run(None, epochs=3)
    _assert_identical(a, b)
    assert [h["loss"] for h in ra.history] == [h["loss"] for h in rb.history]


def test_lr_schedule_is_applied_per_step(tmp_path: Path) -> None:
    seen: list[float] = []
    method = Toy()
    optimizer = torch.optim.SGD(method.parameters(), lr=1.0)
    original = method.training_step

    def spy(batch, state):
        seen.append(optimizer.param_groups[0]["lr"])
        return original(batch, state)

    method.training_step = spy
    schedule = torch.linspace(0.1, 0.01, 8).double().numpy()
    fit(method, optimizer, _batches(), epochs=2, runtime=Runtime.auto(0, "cpu"), lr_schedule=schedule)
    assert seen == pytest.approx(schedule.tolist())


class Interrupt(Exception):
    pass


def test_resume_after_interrupt_is_bit_identical(tmp_path: Path) -> None:
    reference, _ = _run(tmp_path / "reference", epochs=4)

    def stop_at_third(epoch: int, metrics: dict) -> None:
        if epoch == 2:  # 0-based: epochs 1 and 2 finished and checkpointed, the third is interrupted
            raise Interrupt

    with pytest.raises(Interrupt):
        _run(tmp_path / "run", epochs=4, on_epoch_end=stop_at_third)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt", "fp")["run_variables"]["epoch"] == 2

    # A fresh process: another initialisation, which the checkpoint must overwrite.
    resumed, result = _run(tmp_path / "run", epochs=4, init_seed=99)
    assert result.start_epoch == 2
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    _assert_identical(reference, resumed)


def test_resume_prints_epoch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(tmp_path / "run", epochs=1)
    capsys.readouterr()
    _, result = _run(tmp_path / "run", epochs=2)
    assert result.start_epoch == 1
    assert "resuming from epoch 1" in capsys.readouterr().out


def test_finished_run_trains_nothing(tmp_path: Path) -> None:
    _run(tmp_path / "run", epochs=2)
    method, result = _run(tmp_path / "run", epochs=2)
    assert result.start_epoch == 2 and method.calls == 0 and len(result.history) == 2


def test_checkpoint_without_global_step_is_refused(tmp_path: Path) -> None:
    # an older engine derived the step from epoch * batches, which a changing sampler breaks
    method = Toy()
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", "fp", {"epoch": 1, "history": [{"epoch": 1}]},
                    method=method, optimizer=torch.optim.SGD(method.parameters(), lr=0.1, momentum=0.9))
    with pytest.raises(DeepclustError, match="no global step"):
        _run(tmp_path / "run", epochs=2)


def test_other_fingerprint_starts_over(tmp_path: Path) -> None:
    _run(tmp_path / "run", epochs=2, fingerprint="old")
    method, result = _run(tmp_path / "run", epochs=2, fingerprint="new")
    assert result.start_epoch == 0
    assert method.calls == 2 * (N // BATCH)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["fingerprint"] == "new"


class NaNAfter(Toy):
    """Returns a NaN loss from the `after`-th call on."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def training_step(self, batch, state):
        out = super().training_step(batch, state)
        if self.calls > self.after:
            out.loss = out.loss * float("nan")
        return out


def test_non_finite_loss_stops_and_keeps_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(NonFiniteLossError) as info:
        _run(run_dir, epochs=3, method=NaNAfter(after=N // BATCH + 1))  # NaN in the 2nd batch of epoch 2
    message = str(info.value)
    assert isinstance(info.value, DeepclustError)
    assert "\n" not in message
    assert "non-finite loss" in message and "epoch 2" in message and "last good checkpoint" in message
    payload = load_checkpoint(run_dir / "checkpoint.pt", "fp")
    assert payload is not None and payload["run_variables"]["epoch"] == 1
    restored = Toy()
    restored.load_state_dict(payload["states"]["method"])
    assert all(torch.isfinite(p).all() for p in restored.parameters())
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_non_finite_loss_without_run_dir() -> None:
    with pytest.raises(NonFiniteLossError, match="non-finite loss"):
        _run(None, epochs=1, method=NaNAfter(after=0))


class SkipOdd(Toy):
    """Skips every other batch (as self-labelling does when no sample is confident)."""

    def training_step(self, batch, state):
        out = super().training_step(batch, state)
        return None if self.calls % 2 else out


class SkipAll(Toy):
    def training_step(self, batch, state):
        super().training_step(batch, state)
        return None


def test_skipped_batches_are_counted(tmp_path: Path) -> None:
    _, result = _run(tmp_path / "run", epochs=2, method=SkipOdd())
    assert [h["skipped_batches"] for h in result.history] == [2, 2]
    assert all("loss" in h for h in result.history)


def test_all_batches_skipped_does_not_crash(tmp_path: Path) -> None:
    method = SkipAll()
    before = {k: v.clone() for k, v in method.state_dict().items()}
    _, result = _run(tmp_path / "run", epochs=2, method=method)
    assert [h["skipped_batches"] for h in result.history] == [4, 4]
    assert "loss" not in result.history[0]
    for key, value in method.state_dict().items():
        assert torch.equal(value, before[key])



# The loop before hooks (commit 1dca1fc, deepclust/engine/loop.py and batches.py) kept as an oracle: a method
# without hooks must train to exactly the same weights, so existing runs reproduce bit for bit.
def _old_order(num_samples: int, epoch: int, seed: int, samples_per_epoch: int | None) -> torch.Tensor:
    g = torch.Generator().manual_seed(hash((seed, epoch)) & 0x7FFF_FFFF)
    return torch.randperm(num_samples, generator=g)[:samples_per_epoch]


def _old_fit(method: nn.Module, optimizer: torch.optim.Optimizer, make_batch, num_samples: int, batch_size: int,
             seed: int, samples_per_epoch: int | None, epochs: int, runtime: Runtime, lr_schedule,
             clip_grad: float | None) -> None:
    method.to(runtime.device)
    step = 0
    for epoch in range(epochs):
        method.train()
        generator = runtime.generator(offset=epoch)
        order = _old_order(num_samples, epoch, seed, samples_per_epoch)
        bs = max(1, min(batch_size, len(order)))
        for i in range(len(order) // bs):
            batch = make_batch(order[i * bs:(i + 1) * bs])
            lr = float(lr_schedule[min(step, len(lr_schedule) - 1)])
            for group in optimizer.param_groups:
                group["lr"] = lr
            step += 1
            with runtime.autocast():
                # the old methods took the generator; today's read `state.generator`
                out = method.training_step({k: v.to(runtime.device) for k, v in batch.items()},
                                           SimpleNamespace(generator=generator))
            if out is None:
                continue
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if clip_grad:
                nn.utils.clip_grad_norm_(method.parameters(), clip_grad)
            optimizer.step()


def _toy_setup(method_cls: type[nn.Module]):
    method = method_cls()
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    return method, optimizer, lambda idx: {"x": X[idx], "y": Y[idx]}, N


def _simclr_setup():
    images = torch.randint(0, 256, (40, 12, 12, 1), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    transform = SimCLRTransform(mean=[0.3], std=[0.3], crop_scale=(0.5, 1.0))
    method = SimCLR(build_backbone("small_cnn", 1, 4), transform, 0.1, False, hidden_dim=16, output_dim=8)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.4, momentum=0.9, weight_decay=1e-4)
    return method, optimizer, lambda idx: {"images": images[idx]}, len(images)


def _train(setup, new: bool, samples_per_epoch: int | None, clip_grad: float | None):
    epochs, batch_size, seed = 3, 8, 5
    runtime = Runtime.auto(seed=2, device="cpu")
    torch.manual_seed(0)
    method, optimizer, make_batch, num_samples = setup()
    steps = len(_old_order(num_samples, 0, seed, samples_per_epoch)) // batch_size
    schedule = cosine_schedule(0.1, 0.001, epochs, steps)
    if new:
        batches = lambda e: EpochBatches(  # noqa: E731
            random_order(num_samples, e, seed, samples_per_epoch), batch_size, make_batch)
        fit(method, optimizer, batches, epochs=epochs, runtime=runtime, lr_schedule=schedule, clip_grad=clip_grad)
    else:
        _old_fit(method, optimizer, make_batch, num_samples, batch_size, seed, samples_per_epoch, epochs,
                 runtime, schedule, clip_grad)
    return method, optimizer


@pytest.mark.parametrize(("setup", "samples_per_epoch", "clip_grad"), [
    (lambda: _toy_setup(Toy), None, None),
    (lambda: _toy_setup(SkipOdd), 40, 0.5),
    (_simclr_setup, 36, 3.0),
], ids=["toy", "toy-skips-subset-clip", "simclr"])
def test_plain_method_matches_pre_hooks_loop(setup, samples_per_epoch: int | None, clip_grad: float | None) -> None:
    old, old_opt = _train(setup, False, samples_per_epoch, clip_grad)
    new, new_opt = _train(setup, True, samples_per_epoch, clip_grad)
    _assert_identical(old, new)
    for a, b in zip(old_opt.state.values(), new_opt.state.values(), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
