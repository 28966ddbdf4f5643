"""Progress lines within an epoch: the line's fields and arithmetic, when it prints, and fit's use of it."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from typing import TextIO

import pytest
import torch
from torch import nn

from deepclust.engine import EpochBatches, LossOutput, Runtime, TrainState, constant_schedule, fit, random_order
from deepclust.engine.progress import (
    ENV_INTERVAL,
    ProgressLine,
    format_duration,
    is_terminal,
    progress_interval,
)
from deepclust.errors import DeepclustError

LINE = re.compile(
    r"^\[toy\] epoch (\d+)/(\d+) step (\d+)/(\d+) \((\d+)%\) ([\d,]+|\?) images/s "
    r"ETA epoch (\d+:\d\d:\d\d) run (\d+:\d\d:\d\d)$"
)


class _Clock:
    """A clock that advances by a fixed step on every read, so intervals are exact in the test."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        value = self.now
        self.now += self.step
        return value


def test_line_fields_and_eta_arithmetic() -> None:
    out = io.StringIO()
    # The constructor reads t=0; update k reads t=2k. 10 steps per epoch, epoch 1 of 3 (0-based 0).
    progress = ProgressLine("toy", 0, 3, steps_per_epoch=10, interval=7.0, stream=out, clock=_Clock(2.0))
    lines = [progress.update(16) for _ in range(4)]
    # Updates at t=2, 4, 6 are within 7 s of the start; the one at t=8 prints.
    assert lines[:3] == [None, None, None]
    # 4 steps in 8 s: 2 s per step, 64 images / 8 s = 8 images/s; epoch: 6 steps left * 2 s = 12 s;
    # run: + 2 more epochs * 10 steps * 2 s = 40 s, so 52 s.
    assert lines[3] == "[toy] epoch 1/3 step 4/10 (40%) 8 images/s ETA epoch 0:00:12 run 0:00:52"
    assert out.getvalue() == lines[3] + "\n"
    assert LINE.match(lines[3])


def test_one_line_per_interval_and_global_rate() -> None:
    out = io.StringIO()
    progress = ProgressLine("toy", 1, 2, steps_per_epoch=100, interval=3.0, stream=out, clock=_Clock(1.0),
                            images_scale=2)
    printed = [line for _ in range(9) if (line := progress.update(10)) is not None]
    assert len(printed) == 3 == progress.lines  # t = 3, 6, 9
    # Two processes, each counting 10 images a step at 1 s per step: 20 images/s over all of them.
    assert all(" 20 images/s " in line and line.startswith("[toy] epoch 2/2 ") for line in printed)
    assert printed[-1].endswith("run 0:01:31")  # last epoch: the run ends with it (91 steps at 1 s)


def test_unknown_length_prints_no_eta_and_zero_interval_prints_nothing() -> None:
    out = io.StringIO()
    line = ProgressLine("toy", 0, 1, 0, 1.0, stream=out, clock=_Clock(1.0)).update(5)
    assert line == "[toy] epoch 1/1 step 1 5 images/s"
    quiet = ProgressLine("toy", 0, 1, 4, 0.0, stream=out, clock=_Clock(100.0))
    assert [quiet.update(5) for _ in range(4)] == [None] * 4 and quiet.steps == 4 and quiet.images == 20


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00:00"), (59.6, "0:01:00"), (3725, "1:02:05"),
                                               (float("inf"), "?")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_interval_from_the_environment() -> None:
    assert progress_interval({}) == 30.0
    assert progress_interval({ENV_INTERVAL: " 2.5 "}) == 2.5
    assert progress_interval({ENV_INTERVAL: "0"}) == 0.0
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(DeepclustError, match=ENV_INTERVAL) as info:
            progress_interval({ENV_INTERVAL: bad})
        assert "\n" not in str(info.value)


@pytest.fixture
def terminal() -> Iterator[TextIO]:
    """A real terminal (a pseudo-terminal's slave end) opened as a text stream."""
    leader, follower = os.openpty()
    stream = open(follower, "w")  # noqa: SIM115 - closed below
    try:
        yield stream
    finally:
        stream.close()
        os.close(leader)


def test_is_terminal(terminal: TextIO) -> None:
    assert is_terminal(terminal)
    assert not is_terminal(io.StringIO())
    assert not is_terminal(object())  # type: ignore[arg-type]


# --- fit: a tiny run with an interval small enough that every step is due ---------------------------------

N, BATCH = 24, 6  # 4 steps per epoch


class _Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        return LossOutput((self.linear(batch["x"]) ** 2).mean())


def _fit(epochs: int = 2, progress_interval: float | None = 1e-9) -> None:
    x = torch.randn(N, 3, generator=torch.Generator().manual_seed(0))
    method = _Toy()
    fit(method, torch.optim.SGD(method.parameters(), lr=0.01),
        lambda epoch: EpochBatches(random_order(N, epoch, 0), BATCH, lambda idx: {"x": x[idx]}),
        epochs=epochs, runtime=Runtime.auto(seed=0, device="cpu"),
        lr_schedule=constant_schedule(0.01, epochs, N // BATCH), desc="toy", progress_interval=progress_interval)


def _progress_lines(text: str) -> list[re.Match[str]]:
    return [m for line in text.splitlines() if (m := LINE.match(line))]


def test_fit_prints_progress_lines_when_stdout_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    _fit(epochs=2)
    found = _progress_lines(capsys.readouterr().out)
    # Every step is due: (epoch, step) for both epochs, and the step count of the epoch.
    assert [(int(m[1]), int(m[3])) for m in found] == [(e, s) for e in (1, 2) for s in (1, 2, 3, 4)]
    assert {(m[2], m[4]) for m in found} == {("2", "4")}
    assert [int(m[5]) for m in found[:4]] == [25, 50, 75, 100]


def test_fit_prints_no_progress_line_with_interval_zero(capsys: pytest.CaptureFixture[str]) -> None:
    _fit(progress_interval=0)
    out = capsys.readouterr().out
    assert not _progress_lines(out) and "[toy] loss=" in out  # the epoch lines still print


def test_fit_reads_the_interval_from_the_environment(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_INTERVAL, "0")
    _fit(epochs=1, progress_interval=None)
    assert not _progress_lines(capsys.readouterr().out)
    monkeypatch.setenv(ENV_INTERVAL, "1e-9")
    _fit(epochs=1, progress_interval=None)
    assert len(_progress_lines(capsys.readouterr().out)) == 4


def test_fit_on_a_terminal_leaves_progress_to_the_bar(terminal: TextIO, monkeypatch: pytest.MonkeyPatch) -> None:
    written = io.StringIO()

    class _Tee(io.TextIOBase):  # a terminal that keeps a copy of what was printed to it
        def isatty(self) -> bool:
            return terminal.isatty()

        def write(self, text: str) -> int:
            written.write(text)
            return len(text)

    monkeypatch.setattr("sys.stdout", _Tee())
    _fit(epochs=1)
    assert "[toy] loss=" in written.getvalue() and not _progress_lines(written.getvalue())
