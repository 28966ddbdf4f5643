"""selflabel: fine-tune the selected SCAN model on its own confident predictions (threshold 0.99).

Two guards make the step safe where the reference's is not: when few samples pass the threshold it adapts
the threshold (`min_confident`), and when the result is worse than where it started by SCAN's unlabelled
loss on the neighbours (or collapses), it keeps the upstream model and says so (`guard`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import torch

from deepclust.engine import constant_schedule
from deepclust.io import require_file
from deepclust.methods import SelfLabel, adapted_threshold, keep_self_labelled
from deepclust.models.io import load_clustering
from deepclust.transforms import SCANStrongTransform
from stages.common import entry, normalisation, parser, start
from stages.inputs import is_identity, model_inputs
from stages.kinds.selflabel import SelflabelParams
from stages.training import finish, predict_splits, random_batches, run_fingerprint, train


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains with class-balanced cross entropy on confident samples; saves the last epoch's model, or the
    upstream one when the guard finds the result worse."""
    ap = parser(__doc__, "data", "model", "run-dir", "out", optional=("features", "neighbours"))
    job = start(SelflabelParams, ap, argv)
    p, args = job.params, job.args
    model, _ = load_clustering(args.model)
    job.runtime.seed_everything()  # as before loading: the run's random draws start from the seed
    inputs = model_inputs(job, is_identity(cast(torch.nn.Module, model.backbone)), args.features)
    neighbours = None if args.neighbours is None else np.load(require_file(args.neighbours, "neighbours"))
    start_predictions = predict_splits(job, model, inputs)
    start_probs = start_predictions["train"].probabilities
    assert start_probs is not None
    threshold = adapted_threshold(torch.from_numpy(start_probs), p.threshold, p.min_confident)
    passing = float((start_probs.max(1) > p.threshold).mean())
    if threshold < p.threshold:
        print(f"[selflabel] {args.dataset}: only {passing:.1%} of the training samples pass {p.threshold}; "
              f"training on those above {threshold:.3f} ({p.min_confident:.0%} of them)", flush=True)
    weak = inputs.eval_transform(job)
    strong = weak  # feature rows: no augmentation that keeps their meaning
    if inputs.images:
        mean, std = normalisation(job.data.card, job.facts)
        strong = SCANStrongTransform(mean=mean, std=std, **p.augment.model_dump())
    method = SelfLabel(model, weak, strong, threshold, p.class_balanced)
    optimizer = torch.optim.Adam(method.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    batches = random_batches(job, len(inputs.train), lambda idx: {"images": inputs.train[idx]})
    fp = run_fingerprint(job, [args.data / "train.npz", args.model,
                               *(path for path in (args.features, args.neighbours) if path is not None)])
    result, _ = train(job, method, optimizer, batches, constant_schedule(p.lr, max(p.epochs, 1), len(batches(0))), fp)
    predictions = predict_splits(job, model, inputs)
    keep, reason = True, "guard off"
    if p.guard and p.epochs > 0:
        after = predictions["train"].probabilities
        assert after is not None
        keep, reason = keep_self_labelled(start_probs, after, neighbours)
    if not keep:
        print(f"[selflabel] {args.dataset}: stepping aside, the upstream clustering is kept: {reason}", flush=True)
        model, _ = load_clustering(args.model)
        predictions = start_predictions
    last = result.history[-1] if result.history else {}
    finish(job, model, {
        "epochs": p.epochs, "confident_fraction": round(last.get("confident_fraction", 0.0), 4),
        "threshold": p.threshold, "threshold_used": round(threshold, 6),
        "passing_threshold_at_start": round(passing, 4),
        "stepped_aside": not keep, "guard": reason,
        "skipped_batches": int(sum(h.get("skipped_batches", 0) for h in result.history)),
    }, predictions)
    print(f"[selflabel] {args.dataset}: {p.epochs} epochs, confident fraction "
          f"{last.get('confident_fraction', 0.0):.3f}; {'kept' if keep else 'stepped aside'} ({reason})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
