"""evaluate: Hungarian ACC, NMI, ARI (+ majority-vote ACC when overclustering), plots and predictions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from deepclust.cluster import kmeans
from deepclust.data import load_prepared
from deepclust.engine import Runtime, predict
from deepclust.io import atomic_path, require_file, write_json
from deepclust.metrics import clustering_metrics, plot_cluster_grid, plot_confusion_matrix
from deepclust.models.io import load_clustering
from deepclust.transforms import EvalTransform
from stages.common import entry, normalisation, parser
from stages.params import load_params

PROTOCOL = "trained on the train split, evaluated on the test split; SCAN head/epoch selected by unlabelled loss"


def _kmeans_test(train: np.ndarray, test: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fits k-means on train features and assigns each test feature to its nearest centroid."""
    _, centroids = kmeans(train.reshape(len(train), -1).astype(np.float32), k, seed=seed)
    flat = test.reshape(len(test), -1).astype(np.float32)
    dists = (flat**2).sum(1, keepdims=True) - 2 * flat @ centroids.T + (centroids**2).sum(1)
    return dists.argmin(1)


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Predicts the test split with the SCAN and self-label models and writes metrics.json and PNGs."""
    ap = parser(__doc__, "data", "scan", "selflabel", "features", "out")
    args = ap.parse_args(argv)
    ds, p = load_params("evaluate", args.dataset, args.params)
    data = load_prepared(args.data)
    runtime = Runtime.auto(p.seed)
    transform = EvalTransform(*normalisation(data.card, ds))
    labels = data.test.labels
    results: dict[str, object] = {"protocol": PROTOCOL, "test_samples": len(data.test)}
    predictions = {}
    for name, path in (("scan", args.scan), ("selflabel", args.selflabel)):
        model, _ = load_clustering(path)
        logits = predict(model.to(runtime.device), data.test.images, transform, runtime, p.batch_size, name)[0]
        predictions[name] = logits.argmax(1).numpy()
        if labels is not None:
            results[name] = _rounded(clustering_metrics(labels, predictions[name]))
    if labels is not None and p.kmeans_baselines:
        k = ds.num_classes
        results["kmeans_raw_pixels"] = _rounded(clustering_metrics(
            labels, _kmeans_test(data.train.images, data.test.images, k, p.seed)))
        with np.load(require_file(args.features, "features (run the embed stage)")) as f:
            for part in ("backbone", "head"):
                results[f"kmeans_pretext_{part}"] = _rounded(clustering_metrics(
                    labels, _kmeans_test(f[f"train_{part}"], f[f"test_{part}"], k, p.seed)))
    final = predictions["selflabel"]
    if labels is not None:
        results.update({k: v for k, v in results["selflabel"].items()})  # top level = the pipeline's result
        plot_confusion_matrix(labels, final, args.out / "confusion.png", data.class_names)
    plot_cluster_grid(data.test.images, final, args.out / "clusters.png", per_cluster=p.grid_per_cluster)
    frame = pd.DataFrame({"index": np.arange(len(final)), "cluster": final, "scan_cluster": predictions["scan"]})
    if labels is not None:
        frame["label"] = labels
    with atomic_path(args.out / "predictions.csv") as tmp:
        frame.to_csv(tmp, index=False)
    write_json(args.out / "metrics.json", results)
    print_table(args.dataset, results)
    return 0


def _rounded(metrics: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}


def print_table(dataset: str, results: dict) -> None:
    """Prints the pipeline's rows (scan, selflabel) first, then the baselines."""
    order = {"scan": 0, "selflabel": 1}
    rows = sorted(((k, v) for k, v in results.items() if isinstance(v, dict)), key=lambda r: (order.get(r[0], 2), r[0]))
    print(f"\n{dataset}: {results['protocol']}")
    print(f"{'method':<26}{'ACC':>8}{'NMI':>8}{'ARI':>8}")
    for name, m in rows:
        print(f"{name:<26}{m['acc']:>8.4f}{m['nmi']:>8.4f}{m['ari']:>8.4f}")
    if not rows:
        print("(no labels in the test split: predictions and clusters.png written, no metrics)")


if __name__ == "__main__":
    raise SystemExit(main())
