"""Progress within an epoch for logs: a plain line every N seconds (step, images/s, ETA) where no bar can draw.

On a terminal the loop draws a tqdm bar. Where stdout is a file or a pipe (a DVC stage under Prefect, `nohup`,
CI), tqdm's bar is off and a long epoch would be silent, so a slow run could not be told from a hung one.
`ProgressLine` prints instead, with `flush=True` so the line reaches the log (and Prefect, which streams a
stage's stdout lines) when it is written, e.g.:

    [pretext] epoch 3/38 step 120/390 (31%) 1,234 images/s ETA epoch 0:03:37 run 1:02:10

The interval is `fit(progress_interval=...)`, else the environment's `DEEPCLUST_PROGRESS_INTERVAL` (seconds;
0 turns the lines off), else 30 s.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from typing import TextIO

from deepclust.errors import DeepclustError

DEFAULT_INTERVAL = 30.0
ENV_INTERVAL = "DEEPCLUST_PROGRESS_INTERVAL"


def progress_interval(env: Mapping[str, str], default: float = DEFAULT_INTERVAL) -> float:
    """Seconds between progress lines: `DEEPCLUST_PROGRESS_INTERVAL` from `env` when set, else `default`.

    Args:
        env: Environment (e.g. `os.environ`).
        default: The interval when the variable is unset or empty.

    Returns:
        The interval, >= 0; 0 means no lines.

    Raises:
        DeepclustError: If the variable is not a finite number >= 0.
    """
    text = env.get(ENV_INTERVAL, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise DeepclustError(f"{ENV_INTERVAL} must be a number of seconds >= 0 (0: no progress lines), got {text!r}")
    return value


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is a terminal, where a tqdm bar draws (a stream without `isatty` is not one)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed file
        return False


def format_duration(seconds: float) -> str:
    """`H:MM:SS` for a duration in seconds (rounded); "?" when it is not finite."""
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(round(max(seconds, 0.0))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class ProgressLine:
    """Counts an epoch's steps and images and prints a progress line at most once every `interval` seconds.

    The rate is this epoch's average so far (steps and images since the epoch started), so the ETA of the
    epoch is `remaining steps * seconds per step`, and that of the run adds the epochs after this one at the
    same pace (`steps_per_epoch` steps each).

    Args:
        desc: The loop's label, printed in brackets like its epoch lines ("pretext").
        epoch: The current epoch, 0-based.
        epochs: Total epochs of the run.
        steps_per_epoch: Batches in this epoch; 0 when unknown (then no percentage or ETA).
        interval: Seconds between lines; 0 or less prints none.
        images_scale: Multiplies the counted images: the number of processes, when every rank counts its
            own share of each global batch, so the line reports the global rate.
        stream: Where lines go; `sys.stdout` at print time when None (so pytest's capture sees them).
        clock: Monotonic clock in seconds (`time.perf_counter`).

    Example:
        >>> progress = ProgressLine("train", 0, 10, steps_per_epoch=len(batches), interval=30.0)
        >>> for batch in batches:
        ...     progress.update(len(batch["images"]))
    """

    def __init__(self, desc: str, epoch: int, epochs: int, steps_per_epoch: int, interval: float, *,
                 images_scale: int = 1, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.desc, self.epoch, self.epochs = desc, epoch, epochs
        self.steps_per_epoch = max(int(steps_per_epoch), 0)
        self.interval = float(interval)
        self.images_scale = images_scale
        self.stream = stream
        self.clock = clock
        self.steps = 0
        self.images = 0
        self.lines = 0
        self.start = clock()
        self._last = self.start

    def update(self, images: int) -> str | None:
        """Counts one step of `images` images; prints and returns a line when `interval` has passed.

        Args:
            images: Images (samples) in the step's batch, on this process.

        Returns:
            The printed line, or None when it is not yet time (or lines are off).
        """
        self.steps += 1
        self.images += int(images)
        if self.interval <= 0:
            return None
        now = self.clock()
        if now - self._last < self.interval:
            return None
        self._last = now
        line = self.line(now - self.start)
        print(line, file=self.stream if self.stream is not None else sys.stdout, flush=True)
        self.lines += 1
        return line

    def line(self, elapsed: float) -> str:
        """The progress line after `elapsed` seconds of this epoch."""
        rate = self.images * self.images_scale / elapsed if elapsed > 0 else math.nan
        speed = f"{rate:,.0f} images/s" if math.isfinite(rate) else "? images/s"
        head = f"[{self.desc}] epoch {self.epoch + 1}/{self.epochs} step {self.steps}"
        if not self.steps_per_epoch:
            return f"{head} {speed}"
        per_step = elapsed / self.steps
        epoch_left = max(self.steps_per_epoch - self.steps, 0) * per_step
        run_left = epoch_left + max(self.epochs - self.epoch - 1, 0) * self.steps_per_epoch * per_step
        percent = 100 * self.steps / self.steps_per_epoch
        return (f"{head}/{self.steps_per_epoch} ({percent:.0f}%) {speed} "
                f"ETA epoch {format_duration(epoch_left)} run {format_duration(run_left)}")
