"""What the benchmark commands share: thread limits and a record of the machine a measurement ran on."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
from threadpoolctl import threadpool_limits

from deepclust.cluster import backend
from deepclust.cluster import knn as _knn


@contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Sets torch, faiss and OpenMP/BLAS thread counts for the block, then restores them (None: as found)."""
    if threads is None:
        yield
        return
    faiss = _knn.faiss
    before = (torch.get_num_threads(), faiss.omp_get_max_threads() if faiss is not None else None)
    try:
        with threadpool_limits(limits=threads):
            torch.set_num_threads(threads)
            if faiss is not None:
                faiss.omp_set_num_threads(threads)
            yield
    finally:
        torch.set_num_threads(before[0])
        if faiss is not None and before[1] is not None:
            faiss.omp_set_num_threads(before[1])


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    """The checkout's commit (with "+dirty" when files differ from it), or None outside a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (it never decreases)."""
    # ru_maxrss is in KiB on Linux (bytes on macOS; these benchmarks target Linux).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def environment() -> dict[str, Any]:
    """The machine, thread counts and library versions: the header of every benchmark report."""
    faiss = _knn.faiss
    cuda = torch.cuda.is_available()
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "torch_threads": torch.get_num_threads(),
        # Under oversubscription (more runnable threads than cores) spinning OpenMP workers slow torch and
        # faiss by up to ~16x on 2 cores; PASSIVE makes them sleep. Only read at import, so recorded here.
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "faiss_threads": faiss.omp_get_max_threads() if faiss is not None else None,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "faiss": getattr(faiss, "__version__", None),
        "sklearn": sklearn.__version__,
        "deepclust_backend": backend(),
        "git_commit": git_commit(),
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
