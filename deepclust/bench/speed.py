"""Throughput of the training and clustering hot paths on this machine, as a table and a comparable JSON report.

Usage:
    python -m deepclust.bench.speed --threads 2 --out reports/speed-cpu-2core.json
    python -m deepclust.bench.speed --quick --sections augment,step      # a one-minute look
    python -m deepclust.bench.speed --compare reports/speed-cpu-2core.json reports/speed-h100.json

Sections (each prints a table; `--out` writes them all with the environment):
- augment: the pretext stage's batched `SimCLRTransform` on a uint8 batch on the device, beside the SimCLR
  reference's per-sample torchvision/PIL pipeline in a torch DataLoader (`--workers` processes), both making
  two views of the same images. images/s counts source images (each gives two views).
- step: one SimCLR pretext step (batch indexing and upload, augmentation, forward, NT-Xent, backward, SGD
  step) per backbone and batch size; `augment_fraction` is the share of step time spent in the transform,
  timed inside the step (CUDA synchronised around it). On CUDA also in bf16 autocast, with peak CUDA memory;
  on the CPU in fp32 unless `--precisions fp32,bf16` (bf16 pays on CPUs with AMX; `DEEPCLUST_CHANNELS_LAST=1`
  for NHWC, as a training stage would read it).
- knn: exact top-k cosine `deepclust.cluster.knn_search` on N x d Gaussian features, and on `--features`
  (an embed stage's features.npz, or an image Parquet file searched on its raw pixels).
- kmeans: `deepclust.cluster.kmeans` (its default backend) on the mixture of `deepclust.bench.kmeans`,
  with scikit-learn's Lloyd on the same data for K <= `--sklearn-max-k`.
Seconds are wall clock: the median of the timed repeats after an untimed warm-up. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from deepclust.bench._env import environment, peak_rss_mb, thread_limit
from deepclust.bench.kmeans import gaussian_mixture, implementations, run_kmeans, warm_up
from deepclust.cluster import backend, knn_search, neighbour_accuracy
from deepclust.data.decode import decode_images
from deepclust.engine import Runtime
from deepclust.engine.runtime import keep_freed_memory, speed_options
from deepclust.engine.state import TrainState
from deepclust.io import write_json
from deepclust.methods import SimCLR
from deepclust.models import build_backbone
from deepclust.transforms import SimCLRTransform

SECTIONS = ("augment", "step", "knn", "kmeans")
# Where CIFAR-10 is looked for when --images-from is not given: the checkout's shared/ or the one beside it.
_REPO = Path(__file__).resolve().parents[2]
_CIFAR_CANDIDATES = (_REPO / "shared/data/cifar10-train.parquet", _REPO.parent / "shared/data/cifar10-train.parquet")
# Per section: the row fields that go into the flat, machine-comparable `metrics` of the report.
_METRIC_FIELDS = {
    "augment": ("images_per_s", "speedup_vs_per_sample"),
    "step": ("images_per_s", "augment_fraction", "peak_cuda_mb"),
    "knn": ("seconds",),
    "kmeans": ("seconds", "speedup_vs_sklearn"),
}


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m deepclust.bench.speed", description=(__doc__ or "").split("\n")[0])
    add = p.add_argument
    add("--sections", default=",".join(SECTIONS), help=f"Comma-separated sections to run (default {SECTIONS}).")
    add("--quick", action="store_true", help="Small sizes everywhere (about a minute on 2 cores).")
    add("--device", default="auto", choices=("auto", "cpu", "cuda"), help="augment/step device (auto: CUDA if any).")
    add("--threads", type=int, default=None, help="Threads for torch, faiss and BLAS (default: as found).")
    add("--out", default=None, help="Write the JSON report here.")
    add("--compare", nargs="+", metavar="REPORT", help="Print the reports' metrics side by side and exit.")
    add("--images-from", default=None, help="Image Parquet for augment/step (default: CIFAR-10 train under "
        "shared/data when present, else synthetic 32x32 RGB noise).")
    add("--images", type=int, default=None, help="Images per augment pass (default 4096, quick 512).")
    add("--augment-batch", type=int, default=256, help="Batch size of both augment paths (default 256).")
    add("--workers", type=int, default=None, help="DataLoader workers of the per-sample path (default: threads).")
    add("--backbones", default="small_cnn,resnet18", help="Comma-separated backbones for step.")
    add("--width", type=int, default=16,
        help="small_cnn(_s2) width (mnist preset: small_cnn 16; cifar10-parquet: small_cnn_s2 32).")
    add("--batch-sizes", type=_ints, default=None, help="Step batch sizes (default 128,256,512; quick 32).")
    add("--precisions", default=None, help="Comma-separated step precisions, fp32 and/or bf16 (default: both on "
        "CUDA, fp32 on the CPU).")
    add("--steps", type=int, default=None, help="Timed steps per configuration (default 10, quick 2).")
    add("--budget", type=float, default=20.0, help="Stop timing a configuration after this many seconds (min 2 steps).")
    add("--knn-n", type=_ints, default=None, help="kNN sizes (default 10000,60000,100000,1000000; quick 2000,10000).")
    add("--dim", type=int, default=128, help="Feature dimension of the synthetic kNN and k-means data (128).")
    add("--knn-k", type=int, default=20, help="Neighbours per sample (SCAN: 20).")
    add("--max-seconds", type=float, default=300.0, help="Skip a kNN size whose predicted time (quadratic in N "
        "from the last one) exceeds this.")
    add("--features", nargs="*", default=[], help="Real features for knn: features.npz from embed, or image Parquet.")
    add("--kmeans-n", type=int, default=None, help="k-means points (default 60000, quick 10000).")
    add("--k", type=_ints, default=None, help="k-means K values (default 10,100,1000,10000; quick 10,100).")
    add("--niter", type=int, default=20, help="Lloyd iterations per k-means run (default 20).")
    add("--sklearn-max-k", type=int, default=1000, help="Run scikit-learn for K up to this (default 1000).")
    args = p.parse_args(argv)
    q = args.quick
    args.sections = [s for s in args.sections.split(",") if s]
    if unknown := set(args.sections) - set(SECTIONS):
        p.error(f"unknown section(s) {sorted(unknown)}; expected some of {SECTIONS}")
    args.backbones = [b for b in args.backbones.split(",") if b]
    if args.precisions is not None:
        args.precisions = [v.strip() for v in args.precisions.split(",") if v.strip()]
        if not args.precisions or set(args.precisions) - {"fp32", "bf16"}:
            p.error(f"--precisions takes fp32 and/or bf16, got {args.precisions}")
    args.images = args.images or (512 if q else 4096)
    args.batch_sizes = args.batch_sizes or ([32] if q else [128, 256, 512])
    args.steps = args.steps or (2 if q else 10)
    args.knn_n = args.knn_n or ([2000, 10000] if q else [10_000, 60_000, 100_000, 1_000_000])
    args.kmeans_n = args.kmeans_n or (10_000 if q else 60_000)
    args.k = args.k or ([10, 100] if q else [10, 100, 1000, 10_000])
    return args


# ---------------------------------------------------------------- timing and tables

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], Any], device: torch.device, repeats: int, budget: float, warmup: int = 1) -> list[float]:
    """Seconds of each timed call of `fn` after `warmup` untimed ones; stops early past `budget` (>= 2 calls)."""
    for _ in range(warmup):
        fn()
        _sync(device)
    seconds: list[float] = []
    while len(seconds) < repeats and (len(seconds) < 2 or sum(seconds) < budget):
        start = time.perf_counter()
        fn()
        _sync(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    return "-" if value is None else str(value)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [list(columns)] + [[_fmt(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


# ---------------------------------------------------------------- images

def _load_images(count: int, path: str | None) -> tuple[np.ndarray, str]:
    """`count` uint8 (H, W, C) images (repeated if the file has fewer) and a line naming where they came from."""
    source = Path(path) if path else next((c for c in _CIFAR_CANDIDATES if c.exists()), None)
    if source is None:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8), "synthetic uniform noise 32x32x3"
    import pyarrow.parquet as pq

    column = pq.read_table(source, columns=["image"]).column("image").slice(0, count).to_pylist()
    images = decode_images(column, lambda i: f"{source} row {i}", desc="decoding").images
    reps = -(-count // len(images))
    return np.concatenate([images] * reps)[:count], f"{source.name}: first {len(images)} images {images.shape[1:]}"


def _mean_std(images: np.ndarray) -> tuple[list[float], list[float]]:
    x = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255
    return x.mean(0).tolist(), np.maximum(x.std(0), 1e-3).tolist()


class _PILPairs(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Two views of each image through a per-sample PIL pipeline, the way torchvision-era SimCLR code loads."""

    def __init__(self, images: np.ndarray, pipeline: Callable[[Image.Image], torch.Tensor]) -> None:
        self.images, self.pipeline = images, pipeline

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        img = Image.fromarray(self.images[index].squeeze(-1) if self.images.shape[-1] == 1 else self.images[index])
        return self.pipeline(img), self.pipeline(img)


def _reference_pipeline(size: int, mean: list[float], std: list[float]) -> T.Compose:
    """SimCLR's CIFAR augmentation as SCAN's config writes it with torchvision (the transform's defaults)."""
    return T.Compose([
        T.RandomResizedCrop(size, scale=(0.2, 1.0)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.ToTensor(),
        T.Normalize(mean, std),
    ])


# ---------------------------------------------------------------- sections

def bench_augment(images: np.ndarray, device: torch.device, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Batched SimCLR views on the device vs the per-sample PIL DataLoader, same images, both two views."""
    mean, std = _mean_std(images)
    n, bs = len(images), args.augment_batch
    x = torch.from_numpy(images).to(device)
    generator = torch.Generator(device=device).manual_seed(0)

    def batched(hue_space: str) -> Callable[[], None]:
        transform = SimCLRTransform(mean=mean, std=std, hue_space=hue_space)  # SimCLR/SCAN CIFAR settings

        def run() -> None:
            for start in range(0, n, bs):
                transform(x[start : start + bs], generator)
        return run

    workers = args.workers if args.workers is not None else torch.get_num_threads()
    loader = DataLoader(_PILPairs(images, _reference_pipeline(images.shape[1], mean, std)), batch_size=bs,
                        num_workers=workers, persistent_workers=workers > 0)

    def per_sample() -> None:
        for _ in loader:
            pass

    rows: list[dict[str, Any]] = []
    on_device = f"SimCLRTransform on {device.type}, {torch.get_num_threads()} threads"
    for name, fn, how in (("batched", batched("hsv"), on_device + ", HSV hue (the default)"),
                          ("batched_yiq", batched("yiq"), on_device + ", hue_space=yiq"),
                          ("per_sample", per_sample, f"torchvision/PIL DataLoader, {workers} workers")):
        seconds = statistics.median(_time(fn, device, repeats=3, budget=args.budget))
        rows.append({"name": name, "how": how, "images": n, "seconds": seconds, "images_per_s": n / seconds,
                     "views_per_s": 2 * n / seconds})
    for row in rows[:2]:
        row["speedup_vs_per_sample"] = row["images_per_s"] / rows[2]["images_per_s"]
    return rows


class _TimedTransform:
    """Wraps a transform and adds up the seconds spent in it, CUDA synchronised on both sides."""

    def __init__(self, transform: SimCLRTransform, device: torch.device) -> None:
        self.transform, self.device, self.seconds = transform, device, 0.0

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        _sync(self.device)
        start = time.perf_counter()
        views = self.transform(images, generator)
        _sync(self.device)
        self.seconds += time.perf_counter() - start
        return views


def bench_step(images: np.ndarray, backbone_name: str, batch_size: int, precision: str, device: torch.device,
               args: argparse.Namespace) -> dict[str, Any]:
    """Times SimCLR pretext steps: random batch upload, augmentation, forward, loss, backward, SGD."""
    mean, std = _mean_std(images)
    timed = _TimedTransform(SimCLRTransform(mean=mean, std=std), device)
    backbone = build_backbone(backbone_name, images.shape[-1], args.width)
    # SCAN's CIFAR pretext settings (params.yaml pretext.cifar10): temperature 0.1, SGD lr 0.4 momentum 0.9.
    method = SimCLR(backbone, cast(SimCLRTransform, timed), temperature=0.1).to(device).train()
    optimizer = torch.optim.SGD(method.parameters(), lr=0.4, momentum=0.9, weight_decay=1e-4)
    # The engine's speed options (channels_last on CUDA, DEEPCLUST_COMPILE), as a training stage would use them.
    channels_last, compile_backend = speed_options(device.type, os.environ)
    runtime = Runtime(device, torch.bfloat16 if precision == "bf16" else None, seed=0,
                      channels_last=channels_last, compile_backend=compile_backend)
    runtime.prepare_model(method)
    runtime.seed_everything()  # as the stages do; on CUDA it also turns on cudnn.benchmark
    state = TrainState(runtime=runtime, optimizer=optimizer, epochs=1, generator=runtime.generator())
    rng = np.random.default_rng(0)

    def step() -> None:
        batch = {"images": torch.from_numpy(images[rng.integers(len(images), size=batch_size)]).to(device)}
        with runtime.autocast():
            out = method.training_step(batch, state)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    warmup = 3 if device.type == "cuda" else 1
    for _ in range(warmup):
        step()
    _sync(device)
    timed.seconds = 0.0
    seconds = _time(step, device, repeats=args.steps, budget=args.budget, warmup=0)
    total = sum(seconds)
    return {
        "name": f"{backbone_name} b{batch_size} {precision}", "backbone": backbone_name, "batch_size": batch_size,
        "precision": precision, "channels_last": channels_last, "compile": compile_backend,
        "steps": len(seconds), "step_s": statistics.median(seconds),
        "images_per_s": batch_size * len(seconds) / total, "augment_fraction": timed.seconds / total,
        "peak_cuda_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
    }


def _available_bytes() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _knn_row(name: str, features: np.ndarray, k: int, labels: np.ndarray | None = None) -> dict[str, Any]:
    start = time.perf_counter()
    indices = knn_search(features, k)
    seconds = time.perf_counter() - start
    accuracy = neighbour_accuracy(indices, labels) if labels is not None else None
    return {"name": name, "n": len(features), "dim": features.shape[1], "k": k, "backend": backend(),
            "seconds": seconds, "neighbour_accuracy": accuracy}


def bench_knn(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Exact kNN on synthetic N x dim Gaussian features, skipping sizes predicted too slow or too large."""
    rng = np.random.default_rng(0)
    knn_search(rng.standard_normal((500, args.dim), dtype=np.float32), 5)  # warm-up: thread pools, imports
    rows: list[dict[str, Any]] = []
    last: tuple[int, float] | None = None
    for n in args.knn_n:
        name = f"synthetic n{n}"
        predicted = last[1] * (n / last[0]) ** 2 if last else 0.0
        needed, available = 4 * n * args.dim * 3, _available_bytes()  # features, a normalised copy, a margin
        if predicted > args.max_seconds:
            rows.append({"name": name, "n": n, "skipped": f"predicted {predicted:.0f} s > --max-seconds"})
            continue
        if available is not None and needed > available // 2:
            rows.append({"name": name, "n": n, "skipped": f"needs ~{needed >> 20} MiB, {available >> 20} free"})
            continue
        rows.append(_knn_row(name, rng.standard_normal((n, args.dim), dtype=np.float32), args.knn_k))
        last = (n, rows[-1]["seconds"])
    for path in map(Path, args.features):
        for name, features, labels in _feature_sets(path):
            rows.append(_knn_row(name, features, args.knn_k, labels))
    return rows


def _feature_sets(path: Path) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """The train_* matrices of an embed features.npz, or an image Parquet's raw pixels in [0, 1] with labels."""
    if path.suffix == ".npz":
        with np.load(path) as npz:
            return [(f"{path.parent.name}/{key}", npz[key], None) for key in npz.files
                    if key.startswith("train_") and npz[key].ndim == 2]
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["image", "label"])
    images = decode_images(table.column("image").to_pylist(), lambda i: f"{path} row {i}", desc=path.name).images
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255
    return [(f"{path.stem} pixels", pixels, table.column("label").to_numpy())]


def bench_kmeans(args: argparse.Namespace) -> list[dict[str, Any]]:
    """deepclust k-means (default backend) per K on the Gaussian mixture, with scikit-learn up to sklearn-max-k."""
    features = gaussian_mixture(args.kmeans_n, args.dim, 100, seed=0)
    ours = implementations()[0]  # faiss when installed, else torch: what `kmeans(backend="auto")` picks
    warm_up(features, [ours, "sklearn"])
    rows = []
    for k in args.k:
        row = run_kmeans(features, k, ours, niter=args.niter, nredo=1, seed=0)
        row["name"] = f"k{k}"
        if k <= args.sklearn_max_k:
            sk = run_kmeans(features, k, "sklearn", niter=args.niter, nredo=1, seed=0)
            row.update(sklearn_s=sk["seconds"], speedup_vs_sklearn=sk["seconds"] / row["seconds"],
                       inertia_vs_sklearn=row["inertia"] / sk["inertia"])
        rows.append(row)
    return rows


# ---------------------------------------------------------------- report

def _run_sections(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    sections: dict[str, Any] = {"peak_rss_mb_after": {}}
    if {"augment", "step"} & set(args.sections):
        images, source = _load_images(args.images, args.images_from)
        print(f"images: {source}")
        sections["images"] = source
    if "augment" in args.sections:
        sections["augment"] = bench_augment(images, device, args)
        print(_table(sections["augment"], ("name", "how", "images", "seconds", "images_per_s", "views_per_s",
                                           "speedup_vs_per_sample")), flush=True)
        sections["peak_rss_mb_after"]["augment"] = peak_rss_mb()
    if "step" in args.sections:
        precisions = args.precisions or (["fp32", "bf16"] if device.type == "cuda" else ["fp32"])
        sections["step"] = [bench_step(images, b, bs, p, device, args)
                            for b in args.backbones for bs in args.batch_sizes for p in precisions]
        print(_table(sections["step"], ("name", "steps", "step_s", "images_per_s", "augment_fraction",
                                        "peak_cuda_mb")), flush=True)
        sections["peak_rss_mb_after"]["step"] = peak_rss_mb()
    if "knn" in args.sections:
        sections["knn"] = bench_knn(args)
        print(_table(sections["knn"], ("name", "n", "dim", "k", "backend", "seconds", "neighbour_accuracy",
                                       "skipped")), flush=True)
        sections["peak_rss_mb_after"]["knn"] = peak_rss_mb()
    if "kmeans" in args.sections:
        print(f"k-means: {args.kmeans_n} x {args.dim} Gaussian mixture (100 components), niter={args.niter}")
        sections["kmeans"] = bench_kmeans(args)
        print(_table(sections["kmeans"], ("name", "backend", "seconds", "sklearn_s", "speedup_vs_sklearn",
                                          "inertia_vs_sklearn")), flush=True)
        sections["peak_rss_mb_after"]["kmeans"] = peak_rss_mb()
    return sections


def _metrics(sections: dict[str, Any]) -> dict[str, float]:
    """Flat `<section>/<row>/<field>` numbers, the keys `--compare` lines up across machines."""
    return {f"{section}/{row['name']}/{field}": float(row[field])
            for section, fields in _METRIC_FIELDS.items() for row in sections.get(section, [])
            for field in fields if isinstance(row.get(field), (int, float))}


def compare(paths: Sequence[str]) -> str:
    """A side-by-side table of the `metrics` of several reports, one column per report."""
    reports = [json.loads(Path(p).read_text()) for p in paths]
    legend = []
    for i, (path, report) in enumerate(zip(paths, reports, strict=True)):
        env = report["environment"]
        legend.append(f"[{i}] {path}: {env['cpu']} x{env['cpu_count']}, {env['torch_threads']} threads, "
                      f"gpu={env['gpu']}, device={report['config']['device']}, commit={env['git_commit']}")
    keys = sorted({key for report in reports for key in report["metrics"]})
    rows = [{"metric": key, **{f"[{i}]": r["metrics"].get(key) for i, r in enumerate(reports)}} for key in keys]
    return "\n".join(legend) + "\n" + _table(rows, ["metric", *(f"[{i}]" for i in range(len(reports)))])


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the chosen sections (or `--compare`), prints their tables and writes the JSON report (`--out`)."""
    args = _parse_args(argv)
    if args.compare:
        print(compare(args.compare))
        return 0
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    malloc_tuned = keep_freed_memory(os.environ)  # as every stage does (Runtime.auto)
    with thread_limit(args.threads):
        env = {**environment(), "malloc_tuned": malloc_tuned}
        print(" ".join(f"{key}={value}" for key, value in env.items()), flush=True)
        sections = _run_sections(args, device)
    # Each step configuration resets the CUDA peak; the last reset's peak also covers knn and kmeans.
    cuda_peaks = [row["peak_cuda_mb"] for row in sections.get("step", []) if row["peak_cuda_mb"] is not None]
    if device.type == "cuda":
        cuda_peaks.append(torch.cuda.max_memory_allocated(device) / 2**20)
    resources: dict[str, Any] = {"peak_rss_mb": peak_rss_mb(), "peak_cuda_mb": max(cuda_peaks) if cuda_peaks else None}
    print(" ".join(f"{k}={v}" for k, v in resources.items()))
    metrics = _metrics(sections)
    metrics["resources/peak_rss_mb"] = resources["peak_rss_mb"]
    if resources["peak_cuda_mb"] is not None:
        metrics["resources/peak_cuda_mb"] = resources["peak_cuda_mb"]
    if args.out:
        config = {k: v for k, v in vars(args).items() if k != "compare"} | {"device": device.type}
        write_json(args.out, {"environment": env, "config": config, "resources": resources,
                              "sections": sections, "metrics": metrics})
    return 0


if __name__ == "__main__":
    sys.exit(main())
