"""deepcluster: DeepCluster's k-means pseudo-labels and classifier, alternated every epoch; saves the backbone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from deepclust.engine import EpochBatches, constant_schedule
from deepclust.methods.deepcluster import DeepCluster
from deepclust.models import HeadModel, IdentityHead, build_backbone
from deepclust.transforms import EvalTransform, SimCLRViewTransform
from stages.common import entry, normalisation, parser, start
from stages.inputs import model_inputs, training_images
from stages.kinds.deepcluster import DeepClusterParams
from stages.kmeans_curve import kmeans_curve
from stages.training import finish, run_fingerprint, train


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains the backbone to predict its own features' k-means clusters, re-clustered every epoch."""
    job = start(DeepClusterParams, parser(__doc__, "data", "run-dir", "out"), argv)
    p, args = job.params, job.args
    images = training_images(job)
    mean, std = normalisation(job.data.card, job.facts)
    backbone = build_backbone(p.backbone, images.shape[-1], p.width, sobel=p.sobel)
    method = DeepCluster(backbone, SimCLRViewTransform(mean=mean, std=std, **p.augment.model_dump()),
                         EvalTransform(mean, std), images, p.num_clusters, p.pca_dim, p.kmeans_niter, p.reassign,
                         args.seed)
    # The top layer is re-made every epoch and trained without momentum, as by the reference's fresh optimiser.
    groups: list[dict[str, Any]] = [{"params": [q for q in backbone.parameters() if q.requires_grad]},
                                     {"params": list(method.top_layer.parameters()), "momentum": 0.0}]
    opt = torch.optim.SGD(groups,
                          lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
    batches = lambda epoch: EpochBatches(  # noqa: E731
        method.epoch_order, p.batch_size, lambda idx: {"images": images[idx], "index": idx},
        rank=job.runtime.rank, world_size=job.runtime.world_size)
    steps = max(1, int(round(p.reassign * len(images))) // p.batch_size)
    fp = run_fingerprint(job, [args.data / "train.npz"])
    # A constant rate, as the reference: a decayed one leaves each epoch's new top layer untrained at the end.
    result, seconds = train(job, method, opt, batches, constant_schedule(p.lr, p.epochs, steps), fp,
                            on_epoch_end=kmeans_curve(job, backbone, model_inputs(job, False), fp))
    last = result.history[-1]
    finish(job, HeadModel(backbone, IdentityHead()), {
        "loss": last.get("loss"), "nmi_previous": last.get("nmi_previous"), "epochs": p.epochs,
        "num_clusters": p.num_clusters, "empty_clusters": last.get("empty_clusters"),
        "resumed_at_epoch": result.start_epoch, "seconds": round(seconds, 1)})
    print(f"[deepcluster] {args.dataset}: k={p.num_clusters}, last epoch loss {last.get('loss', float('nan')):.4f}, "
          f"NMI to the previous assignment {last.get('nmi_previous', float('nan')):.3f}, {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
