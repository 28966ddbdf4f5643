"""idfd: instance discrimination over a memory bank + feature decorrelation; saves the 128-d encoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from deepclust.engine import step_schedule
from deepclust.methods import IDFD
from deepclust.models import build_backbone
from deepclust.transforms import SimCLRViewTransform
from stages.common import entry, normalisation, parser, start
from stages.inputs import model_inputs, training_images
from stages.kinds.idfd import IDFDParams
from stages.kmeans_curve import kmeans_curve
from stages.training import finish, random_batches, run_fingerprint, train


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains the encoder against the memory bank (SGD, lr x0.1 at the milestones); k-means runs downstream."""
    job = start(IDFDParams, parser(__doc__, "data", "run-dir", "out"), argv)
    p, args = job.params, job.args
    images = training_images(job)
    mean, std = normalisation(job.data.card, job.facts)
    backbone = build_backbone(p.backbone, images.shape[-1], p.width)
    method = IDFD(backbone, SimCLRViewTransform(mean=mean, std=std, **p.augment.model_dump()), len(images),
                  p.temperature, p.decorrelation_temperature, p.alpha, p.bank_momentum, p.output_dim)
    opt = torch.optim.SGD(method.model.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
    batches = random_batches(job, len(images), lambda idx: {"images": images[idx], "index": idx})
    fp = run_fingerprint(job, [args.data / "train.npz"])
    result, seconds = train(job, method, opt, batches,
                            step_schedule(p.lr, p.epochs, len(batches(0)), p.lr_milestones), fp,
                            on_epoch_end=kmeans_curve(job, method.model, model_inputs(job, False), fp))
    last = result.history[-1]
    finish(job, method.model, {
        "loss": last.get("loss"), "instance": last.get("instance"), "decorrelation": last.get("decorrelation"),
        "epochs": p.epochs, "resumed_at_epoch": result.start_epoch, "seconds": round(seconds, 1)})
    print(f"[idfd] {args.dataset}: {p.epochs} epochs, last loss {last.get('loss', float('nan')):.4f}, {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
