"""pretext: SimCLR training of the backbone; resumes from its epoch checkpoint when the fingerprint matches."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from deepclust.engine import cosine_schedule
from deepclust.io import write_json
from deepclust.methods import SimCLR
from deepclust.models import HeadModel, IdentityHead, build_backbone
from deepclust.transforms import SimCLRTransform
from stages.common import Job, entry, normalisation, parser, start
from stages.inputs import training_images
from stages.kinds.pretext import PretextParams
from stages.training import finish, random_batches, run_fingerprint, train


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains SimCLR on the training split (+ unlabeled split when present) and saves the model."""
    job = start(PretextParams, parser(__doc__, "data", "run-dir", "out"), argv)
    if job.data.train.images is None:
        return identity(job)
    data, p = job.data, job.params
    images = training_images(job)
    mean, std = normalisation(data.card, job.facts)
    backbone = build_backbone(p.backbone, images.shape[-1], p.width)
    transform = SimCLRTransform(mean=mean, std=std, **p.augment.model_dump())
    method = SimCLR(backbone, transform, p.temperature, p.symmetric, p.hidden_dim, p.output_dim)
    optimizer = torch.optim.SGD(method.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
    batches = random_batches(job, len(images), lambda idx: {"images": images[idx]})
    steps = len(batches(0))
    schedule = cosine_schedule(p.lr, p.lr * p.min_lr_fraction, p.epochs, steps, p.schedule_per_step)
    inputs = [job.args.data / "train.npz"] + ([job.args.data / "unlabeled.npz"] if data.unlabeled is not None else [])
    result, seconds = train(job, method, optimizer, batches, schedule, run_fingerprint(job, inputs))
    # Throughput over every epoch's own time (the history keeps resumed ones), so a re-run that resumes a
    # finished run reports the run's speed, not 0 images in a few seconds.
    epoch_seconds = sum(float(h.get("seconds", 0.0)) for h in result.history)
    seen = len(result.history) * steps * batches(0).global_batch_size
    finish(job, method.model, {
        "loss": result.history[-1]["loss"], "epochs": p.epochs, "resumed_at_epoch": result.start_epoch,
        "seconds": round(seconds, 1), "images_per_second": round(seen / max(epoch_seconds, 1e-9), 1),
    })
    return 0


def identity(job: Job) -> int:
    """A feature table is already a representation: its "backbone" is the identity, and nothing trains."""
    features = job.data.train.features
    assert features is not None  # prepare gives a split images or features
    dim = int(features.shape[1])
    if not job.runtime.is_main:
        return 0
    job.args.run_dir.mkdir(parents=True, exist_ok=True)  # a declared out: say why it holds no checkpoint
    write_json(job.args.run_dir / "identity.json", {"trained": False, "reason": "feature table", "dim": dim})
    finish(job, HeadModel(build_backbone("identity", input_dim=dim), IdentityHead()),
           {"epochs": 0, "identity": True, "feature_dim": dim})
    print(f"[pretext] {job.args.dataset} is a feature table ({dim}-d): nothing to pretrain, the backbone is "
          "the identity")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
