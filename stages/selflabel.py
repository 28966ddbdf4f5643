"""selflabel: fine-tune the selected SCAN model on its own confident predictions (threshold 0.99)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from deepclust.data import load_prepared
from deepclust.engine import EpochBatches, Runtime, constant_schedule, fingerprint, fit
from deepclust.io import write_json
from deepclust.methods import SelfLabel
from deepclust.models.io import load_clustering, save_model
from deepclust.transforms import EvalTransform, SCANStrongTransform
from stages.common import TRAINING_CODE, entry, normalisation, params_dict, parser
from stages.params import load_params


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains with class-balanced cross entropy on confident samples; saves the last epoch's model."""
    args = parser(__doc__, "data", "scan", "run-dir", "out").parse_args(argv)
    ds, p = load_params("selflabel", args.dataset, args.params)
    data = load_prepared(args.data)
    images = torch.from_numpy(data.train.images)
    model, cfg = load_clustering(args.scan)
    mean, std = normalisation(data.card, ds)
    runtime = Runtime.auto(p.seed)
    runtime.seed_everything()
    method = SelfLabel(model, EvalTransform(mean, std), SCANStrongTransform(mean=mean, std=std,
                       **p.augment.model_dump()), p.threshold, p.class_balanced)
    optimizer = torch.optim.Adam(method.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    batches = lambda epoch: EpochBatches(  # noqa: E731
        len(images), p.batch_size, epoch, p.seed, lambda idx: {"images": images[idx]},
        samples_per_epoch=p.samples_per_epoch)
    fp = fingerprint(params_dict(ds, p), [args.data / "train.npz", args.scan], TRAINING_CODE + [__file__])
    result = fit(method, optimizer, batches, epochs=p.epochs, runtime=runtime,
                 lr_schedule=constant_schedule(p.lr, max(p.epochs, 1), len(batches(0))),
                 run_dir=args.run_dir, fingerprint=fp, desc=f"selflabel {args.dataset}")
    save_model(args.out / "model.pt", model.cpu(), cfg)
    last = result.history[-1] if result.history else {}
    write_json(args.out / "metrics.json", {
        "epochs": p.epochs, "confident_fraction": round(last.get("confident_fraction", 0.0), 4),
        "skipped_batches": int(sum(h.get("skipped_batches", 0) for h in result.history)),
    })
    print(f"[selflabel] {args.dataset}: {p.epochs} epochs, confident fraction "
          f"{last.get('confident_fraction', 0.0):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
