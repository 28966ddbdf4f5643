import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepclust.errors import DeepclustError
from deepclust.metrics import plot_cluster_grid, plot_confusion_matrix, plot_curves
from deepclust.metrics.plots import plot_cluster_sizes, plot_k_estimate


def _assert_png(path: Path) -> None:
    assert path.is_file()
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("num_clusters", [3, 5])
def test_confusion_matrix(tmp_path: Path, num_clusters: int) -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, size=60)
    y_pred = rng.integers(0, num_clusters, size=60)
    out = plot_confusion_matrix(
        y_true, y_pred, tmp_path / "plots" / "confusion.png", class_names=["a", "b", "c"]
    )
    assert out == tmp_path / "plots" / "confusion.png"
    _assert_png(out)


def test_confusion_matrix_class_names_too_short(tmp_path: Path) -> None:
    with pytest.raises(DeepclustError, match="class_names"):
        plot_confusion_matrix(np.array([0, 1, 2]), np.array([0, 1, 2]), tmp_path / "c.png", class_names=["a"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("channels", [1, 3])
def test_cluster_grid(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 8, 8, channels), dtype=np.uint8)
    y_pred = np.array([0] * 20 + [1] * 7 + [4] * 3)
    path = tmp_path / "grid.png"
    plot_cluster_grid(images, y_pred, path, per_cluster=8, seed=0)
    _assert_png(path)


def test_cluster_grid_rejects_float_images(tmp_path: Path) -> None:
    with pytest.raises(DeepclustError, match="uint8"):
        plot_cluster_grid(
            np.zeros((4, 8, 8, 3), dtype=np.float32), np.zeros(4, dtype=int), tmp_path / "g.png"
        )


def test_curves_from_rows_and_csv(tmp_path: Path) -> None:
    rows = [{"epoch": e, "loss": 1.0 / (e + 1), "acc": 0.1 * e, "note": "x"} for e in range(5)]
    plot_curves(rows, tmp_path / "rows.png", ys=["loss", "acc"])
    _assert_png(tmp_path / "rows.png")

    csv_path = tmp_path / "log.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["epoch", "loss", "acc"])
        writer.writeheader()
        writer.writerows(
            {"epoch": r["epoch"], "loss": r["loss"], "acc": "" if r["epoch"] == 2 else r["acc"]} for r in rows
        )
    plot_curves(csv_path, tmp_path / "csv.png")
    _assert_png(tmp_path / "csv.png")


def test_curves_missing_column(tmp_path: Path) -> None:
    with pytest.raises(DeepclustError, match="nope"):
        plot_curves([{"epoch": 0, "loss": 1.0}], tmp_path / "c.png", ys=["nope"])


def test_cluster_sizes(tmp_path: Path) -> None:
    _assert_png(plot_cluster_sizes([5, 0, 12, 3], tmp_path / "sizes.png"))
    _assert_png(plot_cluster_sizes(list(range(60)), tmp_path / "many.png"))  # no tick labels past 40
    for bad in ([], [3, -1]):
        with pytest.raises(DeepclustError, match="sizes"):
            plot_cluster_sizes(bad, tmp_path / "bad.png")


def test_k_estimate(tmp_path: Path) -> None:
    criteria = {"eigengap": [0.1, 0.4, 0.2, 0.1], "stability": [1.0, 0.9, float("nan"), 0.5]}
    _assert_png(plot_k_estimate([2, 3, 4, 5], criteria, 3, tmp_path / "k.png", "eigengap"))
    with pytest.raises(DeepclustError, match="one value per K"):
        plot_k_estimate([2, 3], {"eigengap": [0.1]}, 2, tmp_path / "bad.png")
