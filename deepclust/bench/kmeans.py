"""Benchmark `deepclust.cluster.kmeans` (faiss and torch backends) against scikit-learn's Lloyd k-means.

Usage:
    python -m deepclust.bench.kmeans                       # 60000 x 128 mixture, K = 10, 100, 1000
    python -m deepclust.bench.kmeans --n 5000 --k 10       # a quick check
    python -m deepclust.bench.kmeans --threads 2 --out kmeans_bench.json

The data are a Gaussian mixture: `--components` centres drawn from N(0, I) and unit-variance noise
around them. Every implementation gets the same data, K, `--niter`, `--nredo` and `--seed`; scikit-learn
runs `KMeans(n_clusters=K, n_init=nredo, max_iter=niter, tol=0, algorithm="lloyd", random_state=seed)`.
Seconds are wall clock, seeding included. Inertia is recomputed from each implementation's centroids
with `deepclust.cluster.assign`, so all share one formula. `speedup` is sklearn's seconds over the row's
and `inertia/sk` the row's inertia over sklearn's (below 1 is better). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import sklearn
from sklearn.cluster import KMeans

from deepclust.bench._env import environment, thread_limit
from deepclust.cluster import assign, kmeans
from deepclust.cluster import knn as _knn
from deepclust.errors import DeepclustError
from deepclust.io import write_json


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m deepclust.bench.kmeans", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--n", type=int, default=60000, help="Number of points (default 60000).")
    parser.add_argument("--dim", type=int, default=128, help="Feature dimension (default 128).")
    parser.add_argument("--components", type=int, default=100, help="Mixture components (default 100).")
    parser.add_argument("--k", type=int, nargs="+", default=[10, 100, 1000], help="Values of K (default 10 100 1000).")
    parser.add_argument("--niter", type=int, default=20, help="Lloyd iterations per run (default 20).")
    parser.add_argument("--nredo", type=int, default=1, help="Runs per K, best kept; sklearn's n_init (default 1).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the data and of every implementation.")
    parser.add_argument(
        "--threads", type=int, default=None, help="Threads for torch, faiss and OpenMP/BLAS (default: as found)."
    )
    parser.add_argument("--out", default=None, help="Also write the environment and results to this JSON file.")
    return parser.parse_args(argv)


def gaussian_mixture(num_samples: int, dim: int, components: int, seed: int) -> np.ndarray:
    """Points around `components` centres from N(0, I), unit noise. Shape: (num_samples, dim)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(components, dim))
    labels = rng.integers(components, size=num_samples)
    return (centres[labels] + rng.normal(size=(num_samples, dim))).astype(np.float32)


def run_kmeans(features: np.ndarray, k: int, impl: str, *, niter: int, nredo: int, seed: int) -> dict[str, Any]:
    """Times one implementation ("sklearn" or a `deepclust.cluster.kmeans` backend) at one K.

    Inertia is measured afterwards, untimed, with `deepclust.cluster.assign` for every implementation.

    Returns:
        `k`, `impl`, `backend` (the name of what ran), `seconds`, `inertia`, `empty_fixed`.
    """
    start = time.perf_counter()
    if impl == "sklearn":
        model = KMeans(
            n_clusters=k, n_init=nredo, max_iter=niter, tol=0, algorithm="lloyd", random_state=seed
        ).fit(features)
        seconds = time.perf_counter() - start
        centroids, name, fixed = model.cluster_centers_, f"sklearn-{sklearn.__version__}", None
    else:
        result = kmeans(features, k, seed=seed, niter=niter, nredo=nredo, backend=impl)
        seconds = time.perf_counter() - start
        centroids, name, fixed = result.centroids, result.backend, result.empty_clusters_fixed
    _, d2 = assign(features, centroids)
    inertia = float(d2.sum(dtype=np.float64))
    return {"k": k, "impl": impl, "backend": name, "seconds": seconds, "inertia": inertia, "empty_fixed": fixed}


def implementations() -> list[str]:
    """The implementations compared, scikit-learn last: faiss (when installed), torch, sklearn."""
    return (["faiss"] if _knn.faiss is not None else []) + ["torch", "sklearn"]


def warm_up(features: np.ndarray, impls: Sequence[str]) -> None:
    """One tiny untimed run per implementation, so thread pools and lazy imports do not count."""
    for impl in impls:
        run_kmeans(features[:200], 2, impl, niter=2, nredo=1, seed=0)


def _bench_k(features: np.ndarray, k: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = [run_kmeans(features, k, impl, niter=args.niter, nredo=args.nredo, seed=args.seed)
            for impl in implementations()]
    reference = rows[-1]
    for row in rows:
        row["speedup_vs_sklearn"] = reference["seconds"] / row["seconds"]
        row["inertia_ratio_vs_sklearn"] = row["inertia"] / reference["inertia"]
    return rows


def _format_table(rows: list[dict[str, Any]]) -> str:
    header = f"{'K':>6} {'impl':<8} {'backend':<14} {'seconds':>9} {'inertia':>14} {'speedup':>8} {'inertia/sk':>10}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['k']:>6} {row['impl']:<8} {row['backend']:<14} {row['seconds']:>9.3f} {row['inertia']:>14.6e} "
            f"{row['speedup_vs_sklearn']:>8.2f} {row['inertia_ratio_vs_sklearn']:>10.5f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark, prints the environment and a table, and optionally writes JSON (`--out`)."""
    args = _parse_args(argv)
    with thread_limit(args.threads):
        env = environment()
        print(" ".join(f"{key}={value}" for key, value in env.items()))
        print(
            f"data: Gaussian mixture N={args.n} D={args.dim} components={args.components}; "
            f"niter={args.niter} nredo={args.nredo} seed={args.seed}"
        )
        features = gaussian_mixture(args.n, args.dim, args.components, args.seed)
        try:
            warm_up(features, implementations())
            rows = [row for k in args.k for row in _bench_k(features, k, args)]
        except DeepclustError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    print(_format_table(rows))
    if args.out:
        write_json(args.out, {"environment": env, "config": vars(args), "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
