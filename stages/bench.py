"""bench: the benchmark table of a data set: pipelines x seeds -> reports/bench-<ds>.{parquet,csv,md,png}.

Reads what the pipelines' stages already wrote (each stage's metrics.json: scores, seconds, peak memory,
threads, device); it runs nothing itself. `dvc repro pipelines/bench/dvc.yaml:bench-<ds>` (or `python -m
pipelines bench <ds>`) first runs every pipeline x seed it needs, each seed its own DVC stages.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deepclust.bench.table import Run, environment, markdown, plot, published, summarise
from deepclust.errors import DeepclustError
from deepclust.io import require_file, write_atomic
from pipelines import ROOT, load_graph
from pipelines.graph import Graph
from pipelines.render import instance_dir
from stages.cli import entry

# How each kind that chooses a checkpoint or clusters makes its choice: label-free, said in the table.
SELECTION = {
    "scan": "SCAN: (epoch, head) with the lowest unlabelled selection loss on the training split, collapsed heads last",
    "selflabel": "self-label: last epoch",
    "kmeans": "k-means: best of nredo runs by inertia",
    "baseline": "scikit-learn: one fit",
    "dec": "DEC: last iteration (stops when < tol of labels change)",
    "cc": "CC: (epoch, sub-head) with the lowest own loss, collapsed last",
    "dcdc": "DCDC: (epoch, sub-head) with the lowest own loss, collapsed last",
    "iic": "IIC: (epoch, sub-head) with the lowest own loss, collapsed last",
    "pretext": "SimCLR: last epoch", "pcl": "PCL: last epoch", "deepcluster": "DeepCluster: last epoch",
    "idfd": "IDFD: last epoch", "ae_pretrain": "autoencoder: last epoch",
}


def _read(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(require_file(path, what).read_text())
    except json.JSONDecodeError as exc:
        raise DeepclustError(f"{path} is not valid JSON ({exc}): re-run its stage") from None


def collect(graph: Graph, root: Path, dataset: str, pipelines: Sequence[str], seeds: Sequence[int]) -> list[Run]:
    """One Run per pipeline x seed, from the metrics.json of the pipeline's evaluate stage and of every stage
    before it (prepare writes none)."""
    runs = []
    for pipeline in pipelines:
        terminal = graph.terminal(pipeline)
        if terminal.kind != "evaluate":
            raise DeepclustError(f"pipeline {pipeline} ends in {terminal.kind}, not evaluate: nothing to score")
        names = (*terminal.upstream, terminal.name)
        chain = [graph.instance(n) for n in names if graph.instance(n).kind != "prepare"]
        for seed in seeds:
            stage_metrics = {}
            for inst in chain:
                path = root / instance_dir(dataset, seed, inst.name) / "metrics.json"
                hint = f"metrics of {inst.name} (run `python -m pipelines run {pipeline} {dataset} --seed {seed}`)"
                stage_metrics[inst.name] = _read(path, hint)
            scores = stage_metrics[terminal.name]
            if "acc" not in scores:
                raise DeepclustError(f"{dataset} has no labels on its scored split: a benchmark needs labels")
            threads = {int(m["torch_threads"]) for m in stage_metrics.values() if "torch_threads" in m}
            runs.append(Run(
                pipeline=pipeline, seed=seed, scores={k: float(scores[k]) for k in ("acc", "nmi", "ari")},
                stage_seconds={n: float(m.get("stage_seconds", float("nan"))) for n, m in stage_metrics.items()},
                peak_rss_mb=max(float(m.get("peak_rss_mb", float("nan"))) for m in stage_metrics.values()),
                threads=tuple(sorted(threads)),
                devices=tuple(sorted({str(m["device"]) for m in stage_metrics.values() if "device" in m})),
                selection="; ".join(dict.fromkeys(SELECTION[i.kind] for i in chain if i.kind in SELECTION)),
                split=str(scores.get("split", "test")),
            ))
    return runs


def protocol_text(root: Path, dataset: str, pipelines: Sequence[str], graph: Graph, seed: int) -> str:
    """The evaluate stage's own protocol sentence (the same for every pipeline of a data set)."""
    path = root / instance_dir(dataset, seed, graph.terminal(pipelines[0]).name) / "metrics.json"
    found = _read(path, "evaluate metrics")
    return (f"{found.get('protocol', '')}; {found.get('samples', '?')} samples scored ({found.get('split', '?')} "
            "split). ACC: Hungarian matching (scipy); NMI: arithmetic normalisation (scikit-learn); ARI. "
            "Every stage of a run uses its seed; no seed, epoch, head or hyperparameter is chosen with labels.")


def unpinned_notes(devices: set[str], threads: set[str]) -> list[str]:
    """What the table cannot pin, so a reader knows when another machine may differ."""
    notes = [f"floating-point summation order depends on the torch thread count (this table: "
             f"{', '.join(sorted(threads))}); the same seeds give identical results only at the same thread count, "
             "on the same CPU and libraries"]
    if any(d.startswith("cuda") for d in devices):
        notes.append("GPU kernels (cuDNN / cuBLAS atomics) are not bit-deterministic: GPU rows vary slightly "
                     "run to run")
    return notes


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Builds the table of PIPELINES x SEEDS on DATASET; writes bench-<ds>.{parquet,csv,md,png} into --out."""
    ap = argparse.ArgumentParser(prog="python -m stages.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--pipelines", nargs="+", required=True)
    ap.add_argument("--seeds", nargs="+", type=int, required=True)
    ap.add_argument("--published", default=None, help="key of deepclust/bench/published.csv to show beside ours")
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--root", type=Path, default=ROOT, help="the project (default: this checkout)")
    args = ap.parse_args(argv)
    graph = load_graph(args.root)
    runs = collect(graph, args.root, args.dataset, args.pipelines, args.seeds)
    table = summarise(runs)
    env = environment(args.root)
    protocol = protocol_text(args.root, args.dataset, args.pipelines, graph, args.seeds[0])
    for key, value in env.items():
        table[key] = value
    table["dataset"] = args.dataset
    table["protocol"] = protocol
    reference = published(args.published)
    devices = {d for r in runs for d in r.devices}
    notes = unpinned_notes(devices, {str(t) for r in runs for t in r.threads})
    base = args.out / f"bench-{args.dataset}"
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(base.with_suffix(".parquet"), lambda tmp: table.to_parquet(tmp, index=False))
    write_atomic(base.with_suffix(".csv"), lambda tmp: table.to_csv(tmp, index=False))
    text = markdown(args.dataset, table, env, protocol, reference, notes)
    plot(args.dataset, table, base.with_suffix(".png"), reference)
    write_atomic(base.with_suffix(".md"), lambda tmp: tmp.write_text(text))  # last: its presence means all is there
    print(text.split("\n## Cost")[0])
    print(f"[bench] {args.dataset}: {len(table)} pipelines x {len(args.seeds)} seeds -> {base}.{{parquet,csv,md,png}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
