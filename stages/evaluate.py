"""evaluate: ACC, NMI, ARI (+ majority-vote ACC when overclustering) of every predictions file of a pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepclust.data import PreparedData, read_predictions
from deepclust.errors import DeepclustError
from deepclust.io import write_json
from deepclust.metrics import clustering_metrics, plot_cluster_grid, plot_confusion_matrix
from stages.common import entry, parser, start
from stages.kinds.evaluate import EvaluateParams
from stages.outputs import resources
from stages.report import print_table


def scored_split(data: PreparedData) -> tuple[str, str]:
    """The split the metrics are computed on, and the protocol sentence that says so."""
    if not data.card.get("test_is_train"):
        return "test", "clusters fitted on the train split without labels; scored on the held-out test split"
    return "train", ("scored on the train split: the source has no test split, so these are the samples the "
                     "clusters were fitted on (transductive, as most deep-clustering papers report)")


def _clusters(path: Path, split: str, ids: np.ndarray) -> np.ndarray:
    """The predicted cluster of every sample of SPLIT, checked against the prepared data's sample ids."""
    found = read_predictions(path)
    if split not in found:
        raise DeepclustError(f"{path} has no {split} predictions (it has {sorted(found)}): re-run its stage")
    pred = found[split]
    if len(pred.ids) != len(ids) or not np.array_equal(pred.ids, ids):
        raise DeepclustError(f"{path}: its {split} sample ids differ from the prepared data's: re-run its stage")
    return pred.clusters


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Scores each `name=predictions.csv`; the last one is the pipeline's result. Writes metrics.json and PNGs."""
    job = start(EvaluateParams, parser(__doc__, "data", "out", pairs=("predictions",)), argv)
    data, out = job.data, job.args.out
    split_name, protocol = scored_split(data)
    split = getattr(data, split_name)
    labels = split.labels
    clusters = {name: _clusters(path, split_name, split.ids) for name, path in job.args.predictions}
    final_name, final_path = job.args.predictions[-1]
    print(f"[evaluate] {job.args.dataset}: final predictions {final_path}")
    results: dict[str, Any] = {"split": split_name, "samples": len(split), "protocol": protocol, "final": final_name}
    if labels is None:
        results["protocol"] += "; no labels: predictions only, no metrics"
    else:
        results["by_stage"] = {name: _summary(clustering_metrics(labels, c)) for name, c in clusters.items()}
        results.update({k: results["by_stage"][final_name][k] for k in ("acc", "nmi", "ari")})
        plot_confusion_matrix(labels, clusters[final_name], out / "confusion.png", data.class_names)
    if split.images is not None:
        plot_cluster_grid(split.images, clusters[final_name], out / "clusters.png",
                          per_cluster=job.params.grid_per_cluster)
    for plot in ("confusion.png", "clusters.png"):  # declared outs: say why one is empty rather than omit it
        if not (out / plot).exists():
            _placeholder(out / plot)
    write_json(out / "params.json", job.params_record())
    write_json(out / "metrics.json", {**results, **resources()})
    print_table(job.args.dataset, {out.name.removesuffix("-evaluate"): results})  # <path>-evaluate
    return 0


def _placeholder(path: Path) -> None:
    """A 1x1 white PNG for a plot that cannot be drawn (no labels, or a feature table has no images)."""
    from PIL import Image

    from deepclust.io import atomic_path

    with atomic_path(path) as tmp:
        Image.new("L", (1, 1), 255).save(tmp, format="PNG")


def _summary(metrics: dict) -> dict:
    """ACC, NMI, ARI (+ majority-vote ACC when overclustering) rounded, and how many clusters were used."""
    keep = ("acc", "nmi", "ari", "majority_acc", "num_clusters")
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items() if k in keep}


if __name__ == "__main__":
    raise SystemExit(main())
