"""mine: K nearest neighbours of every training sample (exact inner product on L2-normalised features)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepclust.cluster import backend, knn_search, neighbour_accuracy
from deepclust.errors import DeepclustError
from deepclust.io import atomic_path
from stages.common import entry, parser, read_features, start
from stages.kinds.mine import MineParams
from stages.outputs import write_outputs


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Writes neighbours.npy (N x K+1, self first) and metrics.json (neighbour accuracy at several K)."""
    job = start(MineParams, parser(__doc__, "data", "features", "out"), argv)
    p, labels = job.params, job.data.train.labels
    features, view = read_features(job.args.features, p.features)
    if len(features) != len(job.data.train):
        raise DeepclustError(f"{job.args.features} has {len(features)} rows, the training split {len(job.data.train)}"
                             " (re-run the embed stage)")
    ks = sorted({k for k in p.accuracy_at if k < len(features)} | {p.num_neighbors})
    indices = knn_search(features, max(ks))
    metrics: dict[str, float | str | int] = {"num_neighbors": p.num_neighbors, "features": view, "backend": backend()}
    if labels is not None:
        for k in ks:
            metrics[f"neighbour_acc@{k}"] = round(neighbour_accuracy(indices, labels, k), 4)
    with atomic_path(job.args.out / "neighbours.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, indices[:, : p.num_neighbors + 1].astype(np.int64))
    write_outputs(job, metrics)
    print(f"[mine] {job.args.dataset}: " + " ".join(f"{k}={v}" for k, v in metrics.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
