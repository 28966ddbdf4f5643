"""selflabel: fine-tune the selected SCAN model on its own confident predictions (threshold 0.99)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch

from deepclust.engine import constant_schedule
from deepclust.methods import SelfLabel
from deepclust.models.io import load_clustering
from deepclust.transforms import SCANStrongTransform
from stages.common import entry, normalisation, parser, start
from stages.inputs import is_identity, model_inputs
from stages.training import finish, predict_splits, random_batches, run_fingerprint, train


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains with class-balanced cross entropy on confident samples; saves the last epoch's model."""
    job = start("selflabel", parser(__doc__, "data", "model", "run-dir", "out", optional=("features",)), argv)
    p, args = job.params, job.args
    model, _ = load_clustering(args.model)
    job.runtime.seed_everything()  # as before loading: the run's random draws start from the seed
    inputs = model_inputs(job, is_identity(cast(torch.nn.Module, model.backbone)), args.features)
    weak = inputs.eval_transform(job)
    strong = weak  # feature rows: no augmentation that keeps their meaning
    if inputs.images:
        mean, std = normalisation(job.data.card, job.dataset)
        strong = SCANStrongTransform(mean=mean, std=std, **p.augment.model_dump())
    method = SelfLabel(model, weak, strong, p.threshold, p.class_balanced)
    optimizer = torch.optim.Adam(method.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    batches = random_batches(job, len(inputs.train), lambda idx: {"images": inputs.train[idx]})
    fp = run_fingerprint(job, [args.data / "train.npz", args.model,
                               *([args.features] if args.features is not None else [])])
    result, _ = train(job, method, optimizer, batches, constant_schedule(p.lr, max(p.epochs, 1), len(batches(0))), fp)
    last = result.history[-1] if result.history else {}
    finish(job, model, {
        "epochs": p.epochs, "confident_fraction": round(last.get("confident_fraction", 0.0), 4),
        "skipped_batches": int(sum(h.get("skipped_batches", 0) for h in result.history)),
    }, predict_splits(job, model, inputs))
    print(f"[selflabel] {args.dataset}: {p.epochs} epochs, confident fraction "
          f"{last.get('confident_fraction', 0.0):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
