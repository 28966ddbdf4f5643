"""evaluate: ACC, NMI, ARI (+ majority-vote ACC when overclustering) of every predictions file of a pipeline, and the
run's report.html (clusters, their most and least confident members, the K estimate, curves, params, cost)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepclust.cluster.k_estimate import KEstimate
from deepclust.data import PreparedData, SplitPredictions, read_predictions
from deepclust.errors import DeepclustError
from deepclust.io import write_json
from deepclust.metrics import clustering_metrics, plot_cluster_grid, plot_confusion_matrix
from deepclust.report import write_report
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


def _predictions(path: Path, split: str, ids: np.ndarray) -> SplitPredictions:
    """The predictions of every sample of SPLIT, checked against the prepared data's sample ids."""
    found = read_predictions(path)
    if split not in found:
        raise DeepclustError(f"{path} has no {split} predictions (it has {sorted(found)}): re-run its stage")
    pred = found[split]
    if len(pred.ids) != len(ids) or not np.array_equal(pred.ids, ids):
        raise DeepclustError(f"{path}: its {split} sample ids differ from the prepared data's: re-run its stage")
    return pred


def _run_folders(out: Path) -> list[Path]:
    """The stages of this run, upstream first: the sibling folders whose name starts this stage's path (a stage
    is named after its path, `pretext-embed-...-evaluate`), and the K estimate of a data set whose K is auto."""
    found = [p for p in sorted(out.parent.iterdir(), key=lambda p: len(p.name)) if p.is_dir() and p != out
             and out.name.startswith(f"{p.name}-")]
    estimates = [p for p in out.parent.glob("*-estimate_k") if any(p.name == f"{q.name}-estimate_k"
                                                                   for q in [*found, out.parent / "embed"])]
    return found + estimates


def write_run_report(job: Any, split_name: str, final: SplitPredictions, results: dict[str, Any]) -> Path:
    """report.html beside the metrics: what a person opens to look at the clusters of the run."""
    split, out = getattr(job.data, split_name), job.args.out
    folders = _run_folders(out)
    read = {p.name: json.loads((p / "metrics.json").read_text()) for p in [*folders, out]
            if (p / "metrics.json").exists() and p != out}
    params = {p.name: json.loads((p / "params.json").read_text()).get("settings")
              for p in folders if (p / "params.json").exists()}
    k_file = next((p / "k.json" for p in folders if (p / "k.json").exists()), None)
    estimate = KEstimate(**{k: v for k, v in json.loads(k_file.read_text()).items()
                            if k in KEstimate.__dataclass_fields__}) if k_file else None
    cost = {"stage seconds (this run)": round(sum(m.get("stage_seconds", 0.0) for m in read.values()), 1),
            "peak memory MB": max((m.get("peak_rss_mb", 0.0) for m in read.values()), default=None),
            "device": ", ".join(sorted({str(m["device"]) for m in read.values() if "device" in m})),
            "torch threads": ", ".join(sorted({str(m["torch_threads"]) for m in read.values()
                                               if "torch_threads" in m}))}
    title = f"{job.args.dataset}, seed {job.args.seed}: {out.name.removesuffix('-evaluate')} ({split_name} split)"
    probabilities = final.probabilities
    return write_report(out / "report.html", final.clusters, title=title,
                        num_clusters=None if probabilities is None else int(probabilities.shape[1]),
                        confidence=None if probabilities is None else probabilities.max(1),
                        images=split.images, ids=[str(i) for i in split.ids] if split.images is None else None,
                        labels=split.labels, class_names=job.data.class_names, k_estimate=estimate,
                        curves={p.name: p / "run" / "log.csv" for p in folders if (p / "run" / "log.csv").exists()},
                        params=params, cost=cost)


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Scores each `name=predictions.csv`; the last one is the pipeline's result. Writes metrics.json and PNGs."""
    job = start(EvaluateParams, parser(__doc__, "data", "out", pairs=("predictions",)), argv)
    data, out = job.data, job.args.out
    split_name, protocol = scored_split(data)
    split = getattr(data, split_name)
    labels = split.labels
    predictions = {name: _predictions(path, split_name, split.ids) for name, path in job.args.predictions}
    clusters = {name: p.clusters for name, p in predictions.items()}
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
    report = write_run_report(job, split_name, predictions[final_name], results)
    write_json(out / "params.json", job.params_record())
    write_json(out / "metrics.json", {**results, **resources(), "report": report.name})
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
