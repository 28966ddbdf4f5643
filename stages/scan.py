"""scan: SCAN clustering on (anchor, neighbour) pairs; keeps the head and epoch with the lowest unlabelled loss."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from deepclust.data import load_prepared
from deepclust.engine import EpochBatches, Runtime, constant_schedule, fingerprint, fit, predict
from deepclust.errors import DeepclustError
from deepclust.io import require_file, write_json
from deepclust.methods import SCAN, HeadSelector, scan_batch_maker
from deepclust.models import ClusteringModel
from deepclust.models.io import load_contrastive, save_model
from deepclust.transforms import EvalTransform, SCANStrongTransform
from stages.common import TRAINING_CODE, entry, normalisation, params_dict, parser
from stages.params import load_params


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains SCAN heads on the pretext backbone and saves the selected one-head model."""
    args = parser(__doc__, "data", "pretext", "neighbours", "run-dir", "out").parse_args(argv)
    ds, p = load_params("scan", args.dataset, args.params)
    data = load_prepared(args.data)
    images = torch.from_numpy(data.train.images)
    neighbours = np.load(require_file(args.neighbours, "neighbours (run the mine stage)"))
    if len(neighbours) != len(images):
        raise DeepclustError(f"{args.neighbours} has {len(neighbours)} rows, training split has {len(images)}")
    num_clusters = p.num_clusters or ds.num_classes
    if num_clusters > len(images):
        raise DeepclustError(f"scan.{args.dataset}.num_clusters={num_clusters} exceeds the {len(images)} samples")
    pretext, cfg = load_contrastive(args.pretext)
    mean, std = normalisation(data.card, ds)
    runtime = Runtime.auto(p.seed)
    runtime.seed_everything()
    method = SCAN(pretext.backbone, SCANStrongTransform(mean=mean, std=std, **p.augment.model_dump()),
                  num_clusters, p.num_heads, p.entropy_weight, p.update_head_only)
    trainable = [q for q in method.parameters() if q.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=p.lr, weight_decay=p.weight_decay)
    pairs = torch.from_numpy(neighbours)
    batches = lambda epoch: EpochBatches(  # noqa: E731
        len(images), p.batch_size, epoch, p.seed, scan_batch_maker(images, pairs, p.seed, epoch),
        samples_per_epoch=p.samples_per_epoch)
    fp = fingerprint(params_dict(ds, p), [args.data / "train.npz", args.pretext, args.neighbours],
                     TRAINING_CODE + [__file__])
    selector = HeadSelector(args.run_dir / "best.pt", fp, neighbours, p.selection_neighbors)
    eval_transform = EvalTransform(mean, std)
    select = lambda epoch, _: selector.update(  # noqa: E731
        epoch, method.model, predict(method.model, images, eval_transform, runtime, 512, "select"))
    fit(method, optimizer, batches, epochs=p.epochs, runtime=runtime, fingerprint=fp, run_dir=args.run_dir,
        lr_schedule=constant_schedule(p.lr, p.epochs, len(batches(0))), on_epoch_end=select,
        desc=f"scan {args.dataset}")
    model = ClusteringModel(pretext.backbone, method.model.head.keep(0))
    chosen = selector.load_best(model)
    save_model(args.out / "model.pt", model.cpu(), dict(cfg, num_clusters=num_clusters, num_heads=1))
    write_json(args.out / "metrics.json", {"selected_epoch": chosen["epoch"], "selected_head": chosen["head"],
                                           "val_loss": round(chosen["val_loss"], 5), "epochs": p.epochs})
    print(f"[scan] {args.dataset}: selected head {chosen['head']} at epoch {chosen['epoch']} "
          f"(unlabelled loss {chosen['val_loss']:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
