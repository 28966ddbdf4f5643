"""Measures `deepclust.cluster.estimate_k` on the issue-24 sets: estimate vs true K, per seed, with the time.

    python scripts/k_estimate_eval.py                          # both feature kinds, every set, seeds 0-2
    python scripts/k_estimate_eval.py --features simclr --sets mnist,mnist3 --json reports/k.json

Sets: digits (10 classes), mnist (10), cifar10 (10), cifar5 (CIFAR-10 classes 0-4: airplane, automobile,
bird, cat, deer) and mnist3 (MNIST digits 0, 1, 2), all on the training split. Features:
- pixels: flattened images scaled to [0, 1] (digits: scikit-learn's 8x8 digits, all 1,797 images);
- simclr: the SimCLR backbone features the `kmeans` pipeline's `embed` stage wrote
  (`data/<ds>/seed<s>/pretext-embed/features.npz`, `train_backbone`): digits uses pipeline seed s for estimator
  seed s; MNIST and CIFAR-10 use the seed-0 backbone (their pretext runs take 10-60 min on 2 CPU cores) with
  estimator seeds 0-2. The subsets keep the rows of their classes from the 10-class backbone's features.
Run `python -m pipelines run kmeans <digits|mnist-parquet|cifar10-parquet> --seed S` first for simclr.
Labels pick the subsets' rows and score the estimate; they never reach `estimate_k`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from deepclust.cluster.k_estimate import estimate_k
from deepclust.data import load_prepared, load_source

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SETS = {  # name -> (data set in params.yaml, parquet stem, classes kept or None)
    "digits": ("digits", None, None),
    "mnist": ("mnist-parquet", "mnist", None),
    "cifar10": ("cifar10-parquet", "cifar10", None),
    "cifar5": ("cifar10-parquet", "cifar10", [0, 1, 2, 3, 4]),
    "mnist3": ("mnist-parquet", "mnist", [0, 1, 2]),
}


def pixels(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Flattened training images in [0, 1] and their labels."""
    dataset, stem, _ = SETS[name]
    if dataset == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return (bunch.data / 16.0).astype(np.float32), bunch.target
    prepared = ROOT / "data" / dataset / "prepared"
    if prepared.is_dir():
        split = load_prepared(prepared).train
    else:
        split = load_source("parquet", SHARED, train=f"{stem}-train.parquet").train
    assert split.images is not None and split.labels is not None
    return split.images.reshape(len(split.images), -1).astype(np.float32) / 255.0, split.labels


def simclr(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The pipeline's SimCLR backbone features of the training split and their labels."""
    dataset = SETS[name][0]
    pipeline_seed = seed if dataset == "digits" else 0
    path = ROOT / "data" / dataset / f"seed{pipeline_seed}" / "pretext-embed" / "features.npz"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `python -m pipelines run kmeans {dataset} --seed {pipeline_seed}`")
    labels = load_prepared(ROOT / "data" / dataset / "prepared").train.labels
    assert labels is not None
    return np.load(path)["train_backbone"], labels


def subset(name: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = SETS[name][2]
    if keep is None:
        return x, y
    rows = np.isin(y, keep)
    return x[rows], y[rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated, from " + ", ".join(SETS))
    parser.add_argument("--features", choices=("simclr", "pixels", "both"), default="both")
    parser.add_argument("--seeds", default="0,1,2", help="estimator seeds")
    parser.add_argument("--k-min", type=int, default=2)
    parser.add_argument("--k-max", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the rows (and each estimate's evidence) here")
    args = parser.parse_args(argv)
    kinds = ("simclr", "pixels") if args.features == "both" else (args.features,)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    print(f"{'set':8} {'features':8} {'seed':>4} {'true K':>6} {'estimate':>8} {'per repeat':>18} {'seconds':>8}")
    for name in args.sets.split(","):
        for kind in kinds:
            cache = None if kind == "simclr" else subset(name, *pixels(name))
            for seed in seeds:
                x, y = cache if cache is not None else subset(name, *simclr(name, seed))
                started = time.perf_counter()
                estimate = estimate_k(x, args.k_min, args.k_max, seed=seed)
                seconds = time.perf_counter() - started
                true_k = len(np.unique(y))  # labels: only here, to score
                rows.append({"set": name, "features": kind, "seed": seed, "true_k": true_k, "k": estimate.k,
                             "seconds": round(seconds, 2), "rows": len(x), "estimate": estimate.to_dict()})
                repeats = ",".join(map(str, estimate.details["per_repeat"]))
                print(f"{name:8} {kind:8} {seed:>4} {true_k:>6} {estimate.k:>8} {repeats:>18} {seconds:>8.1f}",
                      flush=True)
    print("\nper set and features: estimates over the seeds; exact / within +-1 on every seed")
    for name in args.sets.split(","):
        for kind in kinds:
            got = [r for r in rows if r["set"] == name and r["features"] == kind]
            if got:
                diffs = [abs(r["k"] - r["true_k"]) for r in got]
                print(f"{name:8} {kind:8} true {got[0]['true_k']:>2}: {[r['k'] for r in got]} "
                      f"exact={all(d == 0 for d in diffs)} within1={all(d <= 1 for d in diffs)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
