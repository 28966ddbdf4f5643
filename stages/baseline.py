"""baseline: a scikit-learn baseline (spectral, agglomerative Ward, NMF) on the upstream features, predictions
for the train and test splits."""

from __future__ import annotations

import time
from collections.abc import Sequence

from deepclust.cluster import fit_baseline
from deepclust.data import SplitPredictions
from stages.common import entry, parser, split_features, start
from stages.kinds.baseline import BaselineParams
from stages.outputs import write_outputs


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Fits the baseline on (a subset of) the training split's features and assigns every train and test sample."""
    job = start(BaselineParams, parser(__doc__, "data", "features", "out"), argv)
    p, args = job.params, job.args
    k = p.num_clusters
    splits, (train, *others), view = split_features(job, p.features)
    t0 = time.perf_counter()
    result = fit_baseline(p.method, train, others, k, seed=args.seed, max_samples=p.max_samples,
                          n_neighbors=p.n_neighbors, nmf_max_iter=p.nmf_max_iter)
    seconds = time.perf_counter() - t0
    predictions = {}
    for (name, split), clusters, probs in zip(splits.items(), result.clusters, result.probabilities, strict=True):
        assert split.ids is not None  # load_prepared always fills them
        predictions[name] = SplitPredictions(split.ids, clusters, probs)
    write_outputs(job, {
        "method": p.method, "num_clusters": k, "features": view, "dim": int(train.shape[1]),
        "num_fitted": len(result.fitted), "seconds": round(seconds, 2)}, predictions)
    print(f"[baseline] {args.dataset}: {p.method} K={k} on {train.shape} {view} features "
          f"(fitted on {len(result.fitted)}), {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
