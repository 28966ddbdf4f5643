"""estimate_k: the number of clusters of a data set whose `num_classes` is `auto`, from the training features."""

from __future__ import annotations

from collections.abc import Sequence

from deepclust.cluster.k_estimate import estimate_k, largest_k
from deepclust.io import write_json
from deepclust.metrics.plots import plot_k_estimate
from stages.common import entry, parser, read_features, start
from stages.kinds.estimate_k import EstimateKParams
from stages.outputs import write_outputs
from stages.params import AUTO_K_RANGE, AutoK


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Estimates K on the training split's features (no labels); writes k.json, k_estimate.png and metrics.json."""
    job = start(EstimateKParams, parser(__doc__, "data", "features", "out"), argv)
    p, args = job.params, job.args
    stated = job.facts.get("num_classes")
    low, high = AutoK.model_validate(stated).auto if isinstance(stated, dict) else AUTO_K_RANGE
    train, view = read_features(args.features, p.features, "train")
    rows = min(len(train), p.max_samples)
    allowed = largest_k(rows)
    if allowed < high:  # a small folder under the default range: say so rather than stop after the pretext
        print(f"[estimate_k] {args.dataset}: K range [{low}, {high}] capped at {max(allowed, low)}: "
              f"{rows} rows allow K up to {allowed} (20 rows per micro-cluster)")
        high = max(allowed, low)
    found = estimate_k(train, low, high, seed=args.seed, max_samples=p.max_samples, repeats=p.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "k.json", found.to_dict())
    plot_k_estimate(found.ks, found.criteria, found.k, args.out / "k_estimate.png")
    write_outputs(job, {"k": found.k, "range": [low, high], "features": view, "decided_by": found.decided_by,
                        **{k: v for k, v in found.details.items() if isinstance(v, int | float | str)}})
    print(f"[estimate_k] {args.dataset}: K = {found.k} in [{low}, {high}] on {train.shape} {view} features "
          f"({found.decided_by}); evidence: {args.out / 'k_estimate.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
