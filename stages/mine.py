"""mine: K nearest neighbours of every training sample (exact inner product on L2-normalised features)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepclust.cluster import knn_search, neighbour_accuracy
from deepclust.cluster.knn import backend
from deepclust.data import load_prepared
from deepclust.io import atomic_path, require_file, write_json
from stages.common import entry, parser
from stages.params import load_params


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Writes neighbours.npy (N x K+1, self first) and metrics.json (neighbour accuracy at several K)."""
    args = parser(__doc__, "data", "features", "out").parse_args(argv)
    _, p = load_params("mine", args.dataset, args.params)
    train = load_prepared(args.data).train
    labels = train.labels
    if p.features == "pixels":
        features = train.images.reshape(len(train.images), -1).astype(np.float32)
    else:
        with np.load(require_file(args.features, "features (run the embed stage)")) as f:
            features = f[f"train_{p.features}"]
    ks = sorted({k for k in p.accuracy_at if k < len(features)} | {p.num_neighbors})
    indices = knn_search(features, max(ks))
    metrics: dict[str, float | str | int] = {"num_neighbors": p.num_neighbors, "features": p.features,
                                             "backend": backend()}
    if labels is not None:
        for k in ks:
            metrics[f"neighbour_acc@{k}"] = round(neighbour_accuracy(indices, labels, k), 4)
    with atomic_path(args.out / "neighbours.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, indices[:, : p.num_neighbors + 1].astype(np.int64))
    write_json(args.out / "metrics.json", metrics)
    print(f"[mine] {args.dataset}: " + " ".join(f"{k}={v}" for k, v in metrics.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
