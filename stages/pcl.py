"""pcl: Prototypical Contrastive Learning (MoCo + k-means prototypes at several granularities); saves the encoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from deepclust.engine import cosine_schedule
from deepclust.methods.pcl import PCL
from deepclust.models import build_backbone
from deepclust.transforms import EvalTransform, SimCLRTransform
from stages.common import entry, normalisation, parser, start
from stages.inputs import model_inputs, training_images
from stages.kinds.pcl import PclParams
from stages.kmeans_curve import kmeans_curve
from stages.training import finish, random_batches, run_fingerprint, train


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains the query encoder with InfoNCE, then InfoNCE + ProtoNCE after the warm-up; saves backbone + head."""
    job = start(PclParams, parser(__doc__, "data", "run-dir", "out"), argv)
    p, args = job.params, job.args
    images = training_images(job)
    mean, std = normalisation(job.data.card, job.facts)
    backbone = build_backbone(p.backbone, images.shape[-1], p.width)
    method = PCL(backbone, SimCLRTransform(mean=mean, std=std, **p.augment.model_dump()), EvalTransform(mean, std),
                 images, p.num_clusters, p.temperature, p.encoder_momentum, p.queue_size, p.warmup_epochs,
                 p.hidden_dim, p.output_dim, p.kmeans_niter, p.kmeans_nredo, p.alpha, seed=args.seed)
    opt = torch.optim.SGD(method.model.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
    batches = random_batches(job, len(images), lambda idx: {"images": images[idx], "index": idx})
    steps = len(batches(0))
    fp = run_fingerprint(job, [args.data / "train.npz"])
    result, seconds = train(job, method, opt, batches,
                            cosine_schedule(p.lr, p.lr * p.min_lr_fraction, p.epochs, steps, True), fp,
                            sync_batchnorm=False,  # MoCo's shuffle-BN relies on per-process statistics
                            on_epoch_end=kmeans_curve(job, method.model, model_inputs(job, False), fp))
    last = result.history[-1]
    finish(job, method.model, {
        "loss": last.get("loss"), "info_nce": last.get("info_nce"), "proto_nce": last.get("proto_nce"),
        "epochs": p.epochs, "num_clusters": p.num_clusters, "resumed_at_epoch": result.start_epoch,
        "seconds": round(seconds, 1)})
    print(f"[pcl] {args.dataset}: {p.epochs} epochs, last loss {last.get('loss', float('nan')):.4f}, {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
