"""pretext: SimCLR training of the backbone; resumes from its epoch checkpoint when the fingerprint matches."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from deepclust.data import load_prepared
from deepclust.engine import EpochBatches, Runtime, cosine_schedule, fingerprint, fit
from deepclust.io import write_json
from deepclust.methods import SimCLR
from deepclust.models import build_backbone
from deepclust.models.io import save_model
from deepclust.transforms import SimCLRTransform
from stages.common import TRAINING_CODE, entry, normalisation, params_dict, parser
from stages.params import load_params


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains SimCLR on the training split (+ unlabeled split when present) and saves the model."""
    args = parser(__doc__, "data", "run-dir", "out").parse_args(argv)
    ds, p = load_params("pretext", args.dataset, args.params)
    data = load_prepared(args.data)
    parts = [data.train.images] + ([data.unlabeled.images] if data.unlabeled is not None else [])
    images = torch.from_numpy(np.concatenate(parts))
    mean, std = normalisation(data.card, ds)
    runtime = Runtime.auto(p.seed)
    runtime.seed_everything()
    backbone = build_backbone(p.backbone, images.shape[-1], p.width)
    transform = SimCLRTransform(mean=mean, std=std, **p.augment.model_dump())
    method = SimCLR(backbone, transform, p.temperature, p.symmetric, p.hidden_dim, p.output_dim)
    optimizer = torch.optim.SGD(method.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
    batches = lambda epoch: EpochBatches(  # noqa: E731
        len(images), p.batch_size, epoch, p.seed, lambda idx: {"images": images[idx]},
        samples_per_epoch=p.samples_per_epoch)
    schedule = cosine_schedule(p.lr, p.lr * p.min_lr_fraction, p.epochs, len(batches(0)), p.schedule_per_step)
    inputs = [args.data / "train.npz"] + ([args.data / "unlabeled.npz"] if data.unlabeled is not None else [])
    fp = fingerprint(params_dict(ds, p), inputs, TRAINING_CODE + [__file__])
    t0 = time.perf_counter()
    result = fit(method, optimizer, batches, epochs=p.epochs, runtime=runtime, lr_schedule=schedule,
                 run_dir=args.run_dir, fingerprint=fp, desc=f"pretext {args.dataset}")
    seconds = time.perf_counter() - t0
    config = dict(backbone=p.backbone, width=p.width, in_channels=int(images.shape[-1]),
                  hidden_dim=p.hidden_dim, output_dim=p.output_dim)
    save_model(args.out / "model.pt", method.model.cpu(), config)
    trained = p.epochs - result.start_epoch
    write_json(args.out / "metrics.json", {
        "loss": result.history[-1]["loss"], "epochs": p.epochs, "resumed_at_epoch": result.start_epoch,
        "seconds": round(seconds, 1),
        "images_per_second": round(trained * len(batches(0)) * batches(0).batch_size / max(seconds, 1e-9), 1),
        "device": str(runtime.device),
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
