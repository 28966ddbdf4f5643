"""bench: the benchmark table of a data set: pipelines x seeds -> reports/bench-<ds>.{parquet,csv,md,png,html}.

Reads what the pipelines' stages already wrote (each stage's metrics.json: scores, seconds, peak memory,
threads, device); it runs nothing itself. `dvc repro pipelines/bench/dvc.yaml:bench-<ds>` (or `python -m
pipelines bench <ds>`) first runs every pipeline x seed it needs, each seed its own DVC stages.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepclust.bench.curves import score_curve
from deepclust.bench.table import Run, environment, markdown, plot, published, summarise
from deepclust.data import load_prepared
from deepclust.engine.runtime import autocast_dtype
from deepclust.errors import DeepclustError
from deepclust.io import require_file, write_atomic, write_json
from deepclust.report.bench_page import write_bench_page
from stages.cli import entry, pair
from stages.curve import CURVE_FILE
from stages.kinds import kind_of


def _read(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(require_file(path, what).read_text())
    except json.JSONDecodeError as exc:
        raise DeepclustError(f"{path} is not valid JSON ({exc}): re-run its stage") from None


def selection(folder: Path) -> str | None:
    """How the stage in FOLDER chose what it kept, from its kind's declaration (its params.json names the kind)."""
    kind = json.loads((folder / "params.json").read_text()).get("kind") if (folder / "params.json").exists() \
        else None
    try:
        return kind_of(str(kind)).selection if kind else None
    except ValueError:
        return None


def collect(data_root: Path, dataset: str, runs_by_pipeline: dict[str, list[str]], seeds: Sequence[int],
            allow_missing: bool = False, scored: dict[str, Any] | None = None
            ) -> tuple[list[Run], list[tuple[str, int]]]:
    """One Run per pipeline x seed, from DATA_ROOT/seed<k>/<stage>/metrics.json of each stage of the pipeline
    (prepare excluded; the last one is its evaluate stage) and the budget curve of its last stage that keeps one
    (from SCORED, curves an earlier table scored, when the run directory is gone but the stage's metrics are
    the same); with ALLOW_MISSING, the runs not finished yet are returned apart instead of stopping."""
    runs, missing = [], []
    scored = scored or {}
    labels = _scored_labels(data_root)
    for pipeline, chain in runs_by_pipeline.items():
        for seed in seeds:
            if allow_missing and not (data_root / f"seed{seed}" / chain[-1] / "metrics.json").exists():
                missing.append((pipeline, seed))
                continue
            stage_metrics = {}
            for stage in chain:
                path = data_root / f"seed{seed}" / stage / "metrics.json"
                hint = f"metrics of {stage} (run `python -m pipelines run {pipeline} {dataset} --seed {seed}`)"
                stage_metrics[stage] = _read(path, hint)
            scores = stage_metrics[chain[-1]]
            if "acc" not in scores:
                raise DeepclustError(f"{dataset} has no labels on its scored split: a benchmark needs labels")
            threads = {int(m["torch_threads"]) for m in stage_metrics.values() if "torch_threads" in m}
            runs.append(Run(
                pipeline=pipeline, seed=seed, scores={k: float(scores[k]) for k in ("acc", "nmi", "ari")},
                stage_seconds={n: float(m.get("stage_seconds", float("nan"))) for n, m in stage_metrics.items()},
                peak_rss_mb=max(float(m.get("peak_rss_mb", float("nan"))) for m in stage_metrics.values()),
                threads=tuple(sorted(threads)),
                devices=tuple(sorted({_device(m) for m in stage_metrics.values() if "device" in m})),
                selection="; ".join(dict.fromkeys(filter(None, (selection(data_root / f"seed{seed}" / stage)
                                                                for stage in chain)))),
                split=str(scores.get("split", "test")),
                **(_curve(data_root / f"seed{seed}", chain, labels)
                   or _kept_curve(scored.get(f"{pipeline}/{seed}"), data_root / f"seed{seed}")),
            ))
    return runs, missing


def _device(metrics: dict[str, Any]) -> str:
    """A stage's device for the table, with its precision where that is not the device's default (bf16 on CUDA,
    fp32 on the CPU): a CPU stage run with `DEEPCLUST_AMP=bf16` shows as `cpu bf16`."""
    device, precision = str(metrics["device"]), metrics.get("precision")
    default = "fp32" if autocast_dtype(device.split(":")[0], {}) is None else "bf16"  # the engine's own default
    return device if precision in (None, default) else f"{device} {precision}"


def _scored_labels(data_root: Path) -> np.ndarray | None:
    """The test split's labels (what a budget curve is scored on), or None without a prepared folder."""
    if not (data_root / "prepared").is_dir():
        return None
    return load_prepared(data_root / "prepared").test.labels


def _curve(seed_root: Path, chain: Sequence[str], labels: np.ndarray | None) -> dict[str, Any]:
    """`curve` and `curve_stage` of the last stage of CHAIN whose run directory keeps a budget curve."""
    if labels is None:
        return {}
    for stage in reversed(chain):
        curve = score_curve(seed_root / stage / "run" / CURVE_FILE, labels)
        if curve:
            return {"curve": tuple(curve), "curve_stage": stage}
    return {}


def _metrics_digest(stage_dir: Path) -> str:
    path = stage_dir / "metrics.json"
    return hashlib.md5(path.read_bytes()).hexdigest() if path.exists() else ""


def _kept_curve(entry: dict[str, Any] | None, seed_root: Path) -> dict[str, Any]:
    """A curve scored by an earlier table, if the stage it is of still has the metrics it had then."""
    if not entry or entry.get("metrics_md5") != _metrics_digest(seed_root / entry["stage"]):
        return {}
    return {"curve": tuple(tuple(point) for point in entry["curve"]), "curve_stage": entry["stage"]}


def read_scored_curves(path: Path) -> dict[str, Any]:
    """`{pipeline/seed: {stage, metrics_md5, curve}}` from an earlier table ({} when there is none)."""
    try:
        return dict(json.loads(path.read_text())) if path.exists() else {}
    except json.JSONDecodeError:
        return {}  # only a cache of scores: rebuilt from the run directories that exist


def scored_curves(runs: Sequence[Run], data_root: Path) -> dict[str, Any]:
    """What `read_scored_curves` reads back: each run's curve with the digest of its stage's metrics."""
    return {f"{r.pipeline}/{r.seed}": {"stage": r.curve_stage, "curve": [list(point) for point in r.curve],
                                       "metrics_md5": _metrics_digest(data_root / f"seed{r.seed}" / r.curve_stage)}
            for r in runs if r.curve}


def protocol_text(evaluate_metrics: Path) -> str:
    """The evaluate stage's own protocol sentence (the same for every pipeline of a data set)."""
    found = _read(evaluate_metrics, "evaluate metrics")
    return (f"{found.get('protocol', '')}; {found.get('samples', '?')} samples scored ({found.get('split', '?')} "
            "split). ACC: Hungarian matching (scipy); NMI: arithmetic normalisation (scikit-learn); ARI. "
            "Every stage of a run uses its seed; no seed, epoch or head is chosen with labels, and test-split "
            "labels serve only this score (where params.yaml's comments say a setting was tuned with labels, "
            "those were training-split labels).")


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
    ap.add_argument("--data-root", type=Path, required=True, help="data/<ds>: runs are in seed<k>/<stage>/")
    ap.add_argument("--runs", nargs="+", type=pair, required=True, metavar="PIPELINE=STAGE,STAGE,...,EVALUATE",
                    help="each pipeline and its stage instances in order, the last its evaluate stage")
    ap.add_argument("--seeds", nargs="+", type=int, required=True)
    ap.add_argument("--published", default=None, help="key of deepclust/bench/published.csv to show beside ours")
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--curves", type=Path, default=None,
                    help="JSON file of scored budget curves, kept across runs: read for runs whose run directory "
                    "is gone (their stage's metrics unchanged), then updated")
    ap.add_argument("--allow-missing", action="store_true",
                    help="tabulate the runs that finished and list the others (a table built across sessions)")
    args = ap.parse_args(argv)
    runs_by_pipeline = {name: str(stages).split(",") for name, stages in args.runs}
    kept = read_scored_curves(args.curves) if args.curves else {}
    runs, missing = collect(args.data_root, args.dataset, runs_by_pipeline, args.seeds, args.allow_missing, kept)
    if not runs:
        raise DeepclustError(f"no run of the {args.dataset} benchmark has finished yet")
    table = summarise(runs)
    env = environment(Path.cwd())
    first = runs[0]
    protocol = protocol_text(args.data_root / f"seed{first.seed}" / runs_by_pipeline[first.pipeline][-1] /
                             "metrics.json")
    for key, value in env.items():
        table[key] = value
    table["dataset"] = args.dataset
    table["protocol"] = protocol
    reference = published(args.published)
    devices = {d for r in runs for d in r.devices}
    notes = unpinned_notes(devices, {str(t) for r in runs for t in r.threads})
    base = args.out / f"bench-{args.dataset}"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.curves:
        write_json(args.curves, kept | scored_curves(runs, args.data_root))
    write_atomic(base.with_suffix(".parquet"), lambda tmp: table.to_parquet(tmp, index=False))
    write_atomic(base.with_suffix(".csv"), lambda tmp: table.to_csv(tmp, index=False))
    if missing:
        notes.append("not run yet (pipeline seed): " + ", ".join(f"{p} {s}" for p, s in missing))
    text = markdown(args.dataset, table, env, protocol, reference, notes, runs)
    plot(args.dataset, table, base.with_suffix(".png"), reference)
    write_bench_page(base.with_suffix(".html"), text, base.with_suffix(".png"), f"deepclust benchmark: {args.dataset}")
    write_atomic(base.with_suffix(".md"), lambda tmp: tmp.write_text(text))  # last: its presence means all is there
    print(text.split("\n## Cost")[0])
    print(f"[bench] {args.dataset}: {len(table)} pipelines x {len(args.seeds)} seeds -> "
          f"{base}.{{parquet,csv,md,png,html}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
