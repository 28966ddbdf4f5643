"""Exact k-nearest-neighbour mining by cosine similarity, with faiss or a torch fallback."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import torch

from deepclust.errors import DeepclustError

try:
    import faiss as _faiss

    faiss: ModuleType | None = _faiss
except ImportError:  # faiss is an optional extra; torch covers its absence.
    faiss = None


def _faiss_gpus() -> int:
    """GPUs faiss can use: 0 without faiss, with a CPU-only faiss, or without a GPU."""
    if faiss is None or not hasattr(faiss, "StandardGpuResources"):
        return 0
    return int(faiss.get_num_gpus())


def _faiss_gpu_available() -> bool:
    return _faiss_gpus() > 0


def _torch_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def choose_backend(faiss_installed: bool, faiss_gpus: int, cuda_available: bool) -> str:
    """The kNN / k-means backend for a machine's facts (pure, so the choice is tested without GPUs).

    faiss on every GPU it sees (kNN: one index sharded over them, `index_cpu_to_all_gpus`; k-means:
    `faiss.Kmeans(gpu=True)`, which uses all of them); else faiss on the CPU; without faiss, torch on CUDA or
    on the CPU.

    Args:
        faiss_installed: faiss imports.
        faiss_gpus: GPUs a GPU-enabled faiss sees (0 for faiss-cpu).
        cuda_available: torch sees a CUDA device.

    Returns:
        One of "faiss-gpu", "faiss-cpu", "torch-cuda", "torch-cpu".
    """
    if faiss_installed:
        return "faiss-gpu" if faiss_gpus > 0 else "faiss-cpu"
    return "torch-cuda" if cuda_available else "torch-cpu"


def backend() -> str:
    """Names the backend that `knn_search` and `kmeans` use on this machine (`choose_backend` of its facts).

    Returns:
        One of "faiss-gpu", "faiss-cpu", "torch-cuda", "torch-cpu".
    """
    return choose_backend(faiss is not None, _faiss_gpus(), torch.cuda.is_available())


def _as_matrix(features: np.ndarray, name: str = "features") -> np.ndarray:
    """Returns `features` as a contiguous float32 matrix, or raises a one-line DeepclustError."""
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise DeepclustError(f"{name} must be a non-empty 2-D array (num_samples, dim), got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise DeepclustError(f"{name} contains NaN or infinite values")
    return x


def _normalize(x: np.ndarray) -> np.ndarray:
    """Unit L2 rows; all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def _knn_faiss(x: np.ndarray, num_results: int, batch_size: int) -> np.ndarray:
    assert faiss is not None
    index = faiss.IndexFlatIP(x.shape[1])
    if _faiss_gpu_available():  # every visible GPU; the database is split between them (memory / n_gpus each)
        options = faiss.GpuMultipleClonerOptions()
        options.shard = True
        index = faiss.index_cpu_to_all_gpus(index, co=options)
    index.add(x)
    chunks = [
        index.search(x[start : start + batch_size], num_results)[1] for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(chunks).astype(np.int64)


def _knn_torch(
    x: np.ndarray, num_results: int, batch_size: int, device: torch.device | str | None = None
) -> np.ndarray:
    """Exact inner-product top-k of every row of `x` against all rows, in chunks of queries."""
    device = torch.device(device) if device is not None else _torch_device()
    bank = torch.from_numpy(x).to(device)
    chunks = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            # (chunk, N) similarities; only the chunk's rows are held at once.
            similarities = bank[start : start + batch_size] @ bank.T
            chunks.append(similarities.topk(num_results, dim=1).indices.cpu())
    return torch.cat(chunks).numpy().astype(np.int64)


def _self_first(indices: np.ndarray, k: int) -> np.ndarray:
    """Puts each row's own index in column 0 and keeps its first k other neighbours.

    With duplicate samples the search may rank a duplicate above the sample itself, or leave the sample
    out of its k+1 results altogether; SCAN assumes column 0 is the anchor.
    """
    rows = np.arange(len(indices))
    is_self = indices == rows[:, None]
    # A stable sort on is_self moves the self entry (if any) last and keeps the others in rank order.
    order = np.argsort(is_self, axis=1, kind="stable")
    others = np.take_along_axis(indices, order, axis=1)[:, :k]
    return np.concatenate([rows[:, None], others], axis=1).astype(np.int64)


def knn_search(features: np.ndarray, k: int, *, batch_size: int = 4096) -> np.ndarray:
    """Finds the k nearest neighbours of every sample by exact cosine similarity.

    Features are L2-normalised and searched by inner product: faiss `IndexFlatIP` when faiss is
    installed (on all GPUs when faiss has GPU support and one is present), else a chunked torch
    matmul + topk on CUDA or CPU. Column 0 is always the sample itself, even with duplicate rows.

    Args:
        features: Feature matrix. Shape: (num_samples, dim).
        k: Number of neighbours besides the sample itself, 1 <= k < num_samples.
        batch_size: Queries searched per chunk; bounds memory at batch_size * num_samples floats.

    Returns:
        int64 neighbour indices, self first, then by decreasing similarity. Shape: (num_samples, k + 1).

    Raises:
        DeepclustError: If k is out of range or the features are not a finite 2-D array.
    """
    x = _normalize(_as_matrix(features))
    num_samples = x.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < num_samples:
        raise DeepclustError(f"k must be an integer with 1 <= k < N, got k={k} for N={num_samples} samples")
    if batch_size < 1:
        raise DeepclustError(f"batch_size must be >= 1, got {batch_size}")
    num_results = int(k) + 1
    if faiss is not None:
        indices = _knn_faiss(x, num_results, batch_size)
    else:
        indices = _knn_torch(x, num_results, batch_size)
    return _self_first(indices, int(k))


def neighbour_accuracy(indices: np.ndarray, labels: np.ndarray, k: int | None = None) -> float:
    """Fraction of the N * k non-self neighbour slots whose label equals the anchor's label.

    Args:
        indices: Neighbour indices with the sample itself in column 0, as from `knn_search`.
            Shape: (num_samples, num_neighbours + 1).
        labels: Ground-truth labels. Shape: (num_samples,).
        k: Use columns 1..k only; all non-self columns when None.

    Returns:
        The accuracy in [0, 1].

    Raises:
        DeepclustError: If the shapes disagree, an index is out of range, or k is out of range.
    """
    indices = np.asarray(indices)
    labels = np.asarray(labels)
    if indices.ndim != 2 or indices.shape[1] < 2:
        raise DeepclustError(f"indices must have shape (N, k + 1) with k >= 1, got {indices.shape}")
    if labels.shape != (indices.shape[0],):
        raise DeepclustError(
            f"labels must have shape ({indices.shape[0]},) to match indices, got {labels.shape}"
        )
    max_k = indices.shape[1] - 1
    k = max_k if k is None else k
    if not 1 <= k <= max_k:
        raise DeepclustError(
            f"k must be in [1, {max_k}] for indices with {indices.shape[1]} columns, got k={k}"
        )
    neighbours = indices[:, 1 : k + 1]
    if neighbours.min() < 0 or neighbours.max() >= len(labels):
        raise DeepclustError(f"indices must lie in [0, {len(labels)}), got values outside it")
    return float(np.mean(labels[neighbours] == labels[:, None]))
