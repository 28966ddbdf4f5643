"""Writers of tiny data files in the on-disk formats of torchvision and of the Parquet copies."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def encode(arr: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.squeeze(-1) if arr.shape[-1] == 1 else arr).save(buf, format=fmt)
    return buf.getvalue()


def write_image_parquet(path: Path, blobs: list[bytes], labels: list[int] | None) -> Path:
    cols = {"image": pa.array(blobs, type=pa.binary())}
    if labels is not None:
        cols["label"] = pa.array(labels, type=pa.int8())
        cols["source_index"] = pa.array(range(len(blobs)), type=pa.int32())
    pq.write_table(pa.table(cols), path)
    return path


def _pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj))


def write_cifar10(root: Path, per_batch: int = 4, n_test: int = 6) -> dict[str, np.ndarray]:
    """Writes `cifar-10-batches-py/` (data_batch_1..5, test_batch, batches.meta); returns the NHWC arrays."""
    rng = np.random.default_rng(0)
    base = root / "cifar-10-batches-py"
    train = rng.integers(0, 256, (5 * per_batch, 32, 32, 3), dtype=np.uint8)
    train_y = np.arange(5 * per_batch) % 10
    test = rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8)
    test_y = np.arange(n_test) % 10
    flat = lambda x: x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # noqa: E731 - CIFAR stores CHW rows
    for b in range(5):
        sl = slice(b * per_batch, (b + 1) * per_batch)
        _pickle(base / f"data_batch_{b + 1}", {"data": flat(train[sl]), "labels": train_y[sl].tolist()})
    _pickle(base / "test_batch", {"data": flat(test), "labels": test_y.tolist()})
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _pickle(base / "batches.meta", {"label_names": names})
    return {"train": train, "train_y": train_y, "test": test, "test_y": test_y}


def write_cifar100(root: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    base = root / "cifar-100-python"
    out = {}
    for split, n in (("train", 100), ("test", 10)):
        x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        y = np.arange(n) % 100
        _pickle(
            base / split,
            {
                "data": x.transpose(0, 3, 1, 2).reshape(n, -1),
                "fine_labels": y.tolist(),
                "coarse_labels": [0] * n,
            },
        )
        out[split], out[f"{split}_y"] = x, y
    _pickle(base / "meta", {"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": []})
    return out


def write_mnist(root: Path, n_train: int = 12, n_test: int = 5) -> dict[str, np.ndarray]:
    """Writes the four raw idx files under `MNIST/raw/`."""
    rng = np.random.default_rng(2)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 0x803, n, 28, 28) + x.tobytes()
        )
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + y.tobytes())
        out[prefix], out[f"{prefix}_y"] = x, y
    return out


def write_stl10(root: Path, n_train: int = 6, n_test: int = 4, n_unlabeled: int = 3) -> dict[str, np.ndarray]:
    """Writes `stl10_binary/*.bin`: images column-major (N, 3, W, H), labels 1-based uint8."""
    rng = np.random.default_rng(3)
    base = root / "stl10_binary"
    base.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled)):
        x = rng.integers(0, 256, (n, 96, 96, 3), dtype=np.uint8)
        (base / f"{split}_X.bin").write_bytes(np.ascontiguousarray(x.transpose(0, 3, 2, 1)).tobytes())
        out[split] = x
        if split != "unlabeled":
            y = np.arange(n) % 10
            (base / f"{split}_y.bin").write_bytes((y + 1).astype(np.uint8).tobytes())
            out[f"{split}_y"] = y
    (base / "class_names.txt").write_text("\n".join(f"s{i}" for i in range(10)) + "\n")
    return out
