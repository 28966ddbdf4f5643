"""Runtime, training loop, samplers, checkpoints, schedules and inference: written once, used by every method."""

from deepclust.engine.checkpoint import (
    file_digest,
    fingerprint,
    load_checkpoint,
    load_state_strict,
    save_checkpoint,
)
from deepclust.engine.inference import predict
from deepclust.engine.loop import FitResult, LossOutput, fit, write_history
from deepclust.engine.runtime import Runtime
from deepclust.engine.samplers import EpochBatches, cyclic_order, random_order, uniform_label_order
from deepclust.engine.schedule import constant_schedule, cosine_schedule, named_schedule, step_schedule
from deepclust.engine.state import TrainState

__all__ = [
    "EpochBatches", "cyclic_order", "random_order", "uniform_label_order", "file_digest", "fingerprint",
    "load_checkpoint", "load_state_strict", "save_checkpoint", "predict", "FitResult", "LossOutput", "TrainState",
    "fit",
    "write_history", "Runtime", "constant_schedule", "cosine_schedule", "named_schedule", "step_schedule",
]
