"""The recipe CC, DCDC and IIC share: clustering heads on two views of each image, the sub-head and epoch kept
by the method's own unlabelled loss (collapsed heads last), predictions of the kept head."""

from __future__ import annotations

from typing import Any, cast

import torch

from deepclust.engine import constant_schedule, predict
from deepclust.methods import HeadSelector, PairClustering
from deepclust.models import ClusteringHead, HeadModel, build_backbone
from deepclust.transforms import PairTransform, SimCLRViewTransform
from stages.common import Job, normalisation
from stages.inputs import model_inputs, training_images
from stages.training import finish, make_optimizer, predict_splits, random_batches, run_fingerprint, train


def train_pair_clustering(job: Job, pair_loss: torch.nn.Module, instance_temperature: float | None = None) -> int:
    """Trains `PairClustering` with `pair_loss` on the job's params; saves the kept one-head model."""
    p, args = job.params, job.args
    images = training_images(job)
    inputs = model_inputs(job, False)
    mean, std = normalisation(job.data.card, job.facts)
    augmented = SimCLRViewTransform(mean=mean, std=std, **p.augment.model_dump())
    original = augmented if p.original is None else SimCLRViewTransform(mean=mean, std=std,
                                                                        **p.original.model_dump())
    k = p.num_clusters
    groups, schedule = [k], [0]
    if p.overcluster is not None:
        groups, schedule = [p.overcluster, k], [0] * p.overcluster_epochs + [1] * p.cluster_epochs
    backbone = build_backbone(p.backbone, images.shape[-1], p.width, sobel=p.sobel)
    method = PairClustering(backbone, PairTransform(original, augmented), groups, pair_loss, schedule, p.num_heads,
                            p.hidden_dim, p.repeats, instance_temperature)
    opt = make_optimizer(p.optimizer, [q for q in method.parameters() if q.requires_grad], p.lr, p.momentum,
                         p.weight_decay)
    batches = random_batches(job, len(images), lambda idx: {"images": images[idx]})
    fp = run_fingerprint(job, [args.data / "train.npz"])
    selector = HeadSelector(args.run_dir / "best.pt", fp)
    eval_transform = inputs.eval_transform(job)
    # Selection scores a fixed random subset of the training split (the guard needs no more; saves a full pass).
    scored = inputs.train[torch.randperm(len(inputs.train), generator=torch.Generator().manual_seed(args.seed))
                          [:p.selection_samples]]

    def select(epoch: int, _: dict[str, float]) -> dict[str, float] | None:
        if not method.trains_final(epoch):  # an overclustering epoch: the K head did not move
            return None
        model = method.clustering_model()
        logits = predict(model, scored, eval_transform, job.runtime, 512, "select")
        return selector.update(epoch, model, logits, method.epoch_head_losses())

    result, seconds = train(job, method, opt, batches, constant_schedule(p.lr, p.epochs, len(batches(0))), fp,
                            on_epoch_end=select)
    model = HeadModel(backbone, cast(ClusteringHead, method.head.groups[-1]).keep(0))
    chosen = selector.load_best(model)
    last: dict[str, Any] = result.history[-1] if result.history else {}
    finish(job, model, {
        "selected_epoch": chosen["epoch"], "selected_head": chosen["head"], "val_loss": round(chosen["val_loss"], 5),
        "selected_collapsed": chosen.get("collapsed", False), "epochs": p.epochs, "num_clusters": groups,
        "last_loss": last.get("loss"), "resumed_at_epoch": result.start_epoch, "seconds": round(seconds, 1)},
        predict_splits(job, model, inputs))
    print(f"[{job.name}] {args.dataset}: kept sub-head {chosen['head']} of epoch {chosen['epoch']} "
          f"(own loss {chosen['val_loss']:.4f}{', collapsed' if chosen.get('collapsed') else ''}), {seconds:.0f} s")
    return 0
