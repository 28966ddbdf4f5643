"""embed: features of every image (backbone and projection head), with the eval transform, no augmentation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from deepclust.data import load_prepared
from deepclust.engine import Runtime, predict
from deepclust.io import atomic_path
from deepclust.models.io import load_contrastive
from deepclust.transforms import EvalTransform
from stages.common import entry, normalisation, parser
from stages.params import load_params


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Writes features.npz with train_/test_ x backbone/head float32 matrices."""
    args = parser(__doc__, "data", "model", "out").parse_args(argv)
    ds, p = load_params("embed", args.dataset, args.params)
    data = load_prepared(args.data)
    model, _ = load_contrastive(args.model)
    runtime = Runtime.auto()
    model.to(runtime.device)
    head = model.head.cpu().eval()  # (N, 512) -> (N, 128) is cheap; keep it off the device
    transform = EvalTransform(*normalisation(data.card, ds))
    arrays = {}
    for split in ("train", "test"):
        images = getattr(data, split).images
        backbone = predict(model.backbone, images, transform, runtime, p.batch_size, f"embed {split}")
        arrays[f"{split}_backbone"] = backbone.numpy().astype(np.float32)
        with torch.no_grad():
            arrays[f"{split}_head"] = head(backbone).numpy().astype(np.float32)
    with atomic_path(args.out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    print(f"[embed] {args.dataset}: " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
