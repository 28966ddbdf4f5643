"""The recipe every training stage shares, written once: batches, fingerprint, fit, predictions, save."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepclust.data import SplitPredictions
from deepclust.engine import EpochBatches, FitResult, fingerprint, fit, predict, random_order
from deepclust.models.io import save_model
from stages.common import Job, code_files
from stages.inputs import ModelInputs
from stages.outputs import write_outputs


def random_batches(job: Job, num_samples: int, make_batch: Callable[[torch.Tensor], dict[str, torch.Tensor]],
                   ) -> Callable[[int], EpochBatches]:
    """`batches(epoch)`: a seeded permutation per epoch (the first `samples_per_epoch` of it, when set); under
    several processes, this rank's share of each global batch of `batch_size`."""
    p, rt = job.params, job.runtime
    return lambda epoch: EpochBatches(random_order(num_samples, epoch, job.args.seed, p.samples_per_epoch),
                                      p.batch_size, make_batch, rank=rt.rank, world_size=rt.world_size)


def run_fingerprint(job: Job, inputs: Sequence[Path]) -> str:
    """Params, seed, input files and the code this process imported: a checkpoint resumes only if all match."""
    return fingerprint(job.params_record(), inputs, code_files())


def make_optimizer(kind: str, params: Any, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
              ) -> torch.optim.Optimizer:
    """SGD (with momentum) or Adam, as a stage's params name it; `params` may be param groups."""
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def train(job: Job, method: nn.Module, optimizer: torch.optim.Optimizer, batches: Callable[[int], Any],
          lr_schedule: Any, fp: str, epochs: int | None = None, **fit_kwargs: Any) -> tuple[FitResult, float]:
    """Runs the shared loop with the job's epochs (or `epochs`), runtime and run directory; returns
    (result, seconds)."""
    t0 = time.perf_counter()
    epochs = job.params.epochs if epochs is None else epochs
    result = fit(method, optimizer, batches, epochs=epochs, runtime=job.runtime, lr_schedule=lr_schedule,
                 run_dir=job.args.run_dir, fingerprint=fp, desc=job.name, **fit_kwargs)
    return result, time.perf_counter() - t0


def predict_splits(job: Job, model: nn.Module, inputs: ModelInputs) -> dict[str, SplitPredictions]:
    """Cluster probabilities of every sample of the train and test splits (the test split once when it is
    the training split), from a one-head clustering model in eval mode."""
    data, transform = job.data, inputs.eval_transform(job)
    model.to(job.runtime.device)  # a head built after training (SCAN's selected one) starts on the CPU
    splits = [("train", data.train, inputs.train)]
    if not data.card.get("test_is_train"):
        splits.append(("test", data.test, inputs.test))
    out = {}
    for name, split, x in splits:
        probs = predict(model, x, transform, job.runtime, 512, f"predict {name}")[0].softmax(-1)  # (N, K)
        assert split.ids is not None  # load_prepared always fills them
        out[name] = SplitPredictions(split.ids, probs.argmax(1).numpy(), probs.numpy())
    return out


def finish(job: Job, model: nn.Module | None, metrics: dict[str, Any],
           predictions: dict[str, SplitPredictions] | None = None) -> None:
    """Saves the trained model (model.pt, with its architecture) next to the stage's other outputs (rank 0 only:
    the other ranks hold the same model)."""
    if not job.runtime.is_main:
        return
    if model is not None:
        save_model(job.args.out / "model.pt", model.cpu(), {"dataset": job.args.dataset, "seed": job.args.seed})
    write_outputs(job, metrics, predictions)
