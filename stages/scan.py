"""scan: SCAN clustering on (anchor, neighbour) pairs; keeps the head and epoch with the lowest unlabelled loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import torch

from deepclust.engine import constant_schedule, predict
from deepclust.errors import DeepclustError
from deepclust.io import require_file
from deepclust.methods import SCAN, HeadSelector, scan_batch_maker
from deepclust.models import ClusteringHead, HeadModel, build_backbone
from deepclust.models.io import load_backbone
from deepclust.transforms import FeatureTransform, SCANStrongTransform
from stages.common import Job, entry, normalisation, parser, start
from stages.curve import BudgetCurve
from stages.inputs import is_identity, model_inputs
from stages.kinds.scan import ScanParams
from stages.training import finish, predict_splits, random_batches, run_fingerprint, train


def _backbone(job: Job) -> torch.nn.Module:
    """The upstream backbone (`--model`), or the identity on the upstream features (scan-on-features)."""
    if job.args.model is not None:
        backbone = cast(torch.nn.Module, load_backbone(job.args.model, "pretext model").backbone)
        job.runtime.seed_everything()  # loading built (and drew) a model: the head's init starts from the seed
        return backbone
    if job.args.features is None:
        raise DeepclustError("scan needs --model (a backbone) or --features (the input's features)")
    with np.load(require_file(job.args.features, "features (run the embed stage)")) as f:
        return build_backbone("identity", input_dim=int(f["train_backbone"].shape[1]))


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains SCAN heads on the upstream backbone and saves the selected one-head model and its predictions."""
    job = start(ScanParams, parser(__doc__, "data", "neighbours", "run-dir", "out", optional=("model", "features")),
                argv)
    p, args = job.params, job.args
    backbone = _backbone(job)
    inputs = model_inputs(job, is_identity(backbone), args.features)
    neighbours = np.load(require_file(args.neighbours, "neighbours (run the mine stage)"))
    if len(neighbours) != len(inputs.train):
        raise DeepclustError(f"{args.neighbours} has {len(neighbours)} rows, training split has {len(inputs.train)}")
    num_clusters = p.num_clusters
    transform: Callable[..., torch.Tensor]
    if inputs.images:
        mean, std = normalisation(job.data.card, job.facts)
        transform = SCANStrongTransform(mean=mean, std=std, **p.augment.model_dump())
    else:  # a feature row has no augmentation that keeps its meaning: the neighbours carry the invariance
        transform = FeatureTransform()
    method = SCAN(backbone, transform, num_clusters, p.num_heads, p.entropy_weight, p.update_head_only,
                  p.hidden_dim if p.head == "mlp" else None)
    optimizer = torch.optim.Adam([q for q in method.parameters() if q.requires_grad], lr=p.lr,
                                 weight_decay=p.weight_decay)
    pairs = torch.from_numpy(neighbours)
    batches = lambda epoch: random_batches(  # noqa: E731
        job, len(inputs.train), scan_batch_maker(inputs.train, pairs, args.seed, epoch))(epoch)
    fp = run_fingerprint(job, [args.data / "train.npz", args.neighbours,
                               *(path for path in (args.model, args.features) if path is not None)])
    selector = HeadSelector(args.run_dir / "best.pt", fp, neighbours, p.selection_neighbors)
    eval_transform = inputs.eval_transform(job)
    curve = BudgetCurve(args.run_dir, fp)

    def select(epoch: int, metrics: dict[str, float]) -> dict[str, float]:
        chosen = selector.update(epoch, method.model,
                                 predict(method.model, inputs.train, eval_transform, job.runtime, 512, "select"))
        curve.tick(metrics["seconds"])
        test = predict(method.model, inputs.test, eval_transform, job.runtime, 512, "curve")[chosen["best_head"]]
        curve.record(epoch + 1, test.argmax(-1).numpy(), job.runtime.is_main)
        return chosen

    train(job, method, optimizer, batches, constant_schedule(p.lr, p.epochs, len(batches(0))), fp,
          on_epoch_end=select)
    model = HeadModel(backbone, cast(ClusteringHead, method.model.head).keep(0))
    chosen = selector.load_best(model)
    finish(job, model, {"selected_epoch": chosen["epoch"], "selected_head": chosen["head"],
                        "val_loss": round(chosen["val_loss"], 5), "epochs": p.epochs, "head": p.head},
           predict_splits(job, model, inputs))
    print(f"[scan] {args.dataset}: selected head {chosen['head']} at epoch {chosen['epoch']} "
          f"(unlabelled loss {chosen['val_loss']:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
