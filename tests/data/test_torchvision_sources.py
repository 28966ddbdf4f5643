"""torchvision sources on tiny files in torchvision's own formats; downloads served from 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import write_cifar10, write_cifar100, write_mnist, write_stl10

from deepclust.data import load_source
from deepclust.data.cifar20 import CIFAR20_CLASS_NAMES, CIFAR100_TO_20
from deepclust.errors import DeepclustError


def test_cifar10_offline_files(tmp_path: Path, no_md5: None) -> None:
    ref = write_cifar10(tmp_path)
    data = load_source("torchvision", tmp_path, name="cifar10", download=False)
    assert data.train.images.shape == (20, 32, 32, 3) and data.train.images.dtype == np.uint8
    assert np.array_equal(data.train.images, ref["train"]) and np.array_equal(data.test.images, ref["test"])
    assert np.array_equal(data.train.labels, ref["train_y"]) and data.train.labels.dtype == np.int64
    assert data.class_names[0] == "airplane" and data.card["name"] == "cifar10"
    assert data.train.ids.tolist() == [f"cifar10/train/{i}" for i in range(20)]
    assert data.test.ids.tolist() == [f"cifar10/test/{i}" for i in range(6)]


def test_cifar20_maps_fine_labels_to_superclasses(tmp_path: Path, no_md5: None) -> None:
    ref = write_cifar100(tmp_path)
    data = load_source("torchvision", tmp_path, name="cifar20", download=False)
    assert np.array_equal(data.train.labels, np.asarray(CIFAR100_TO_20)[ref["train_y"]])
    assert np.array_equal(data.test.images, ref["test"])
    assert data.class_names == list(CIFAR20_CLASS_NAMES) and data.card["num_classes"] == 20
    assert data.train.ids[17] == "cifar20/train/17" and data.test.ids[-1] == "cifar20/test/9"


def test_cifar20_table_is_five_fine_classes_per_superclass() -> None:
    assert len(CIFAR100_TO_20) == 100 and np.all(np.bincount(CIFAR100_TO_20) == 5)
    # spot checks against the official coarse labels: apple, streetcar, whale
    assert CIFAR100_TO_20[0] == 4 and CIFAR100_TO_20[81] == 19 and CIFAR100_TO_20[95] == 0


def test_mnist_offline_files(tmp_path: Path, no_md5: None) -> None:
    ref = write_mnist(tmp_path)
    data = load_source("torchvision", tmp_path, name="mnist", download=False)
    assert data.train.images.shape == (12, 28, 28, 1) and data.test.images.shape == (5, 28, 28, 1)
    assert np.array_equal(data.train.images[..., 0], ref["train"])
    assert np.array_equal(data.test.labels, ref["t10k_y"].astype(np.int64))
    assert data.train.ids[11] == "mnist/train/11" and data.test.ids.tolist()[:2] == ["mnist/test/0", "mnist/test/1"]


def test_stl10_offline_files_with_unlabeled(tmp_path: Path, no_md5: None) -> None:
    ref = write_stl10(tmp_path)
    data = load_source("torchvision", tmp_path, name="stl10", download=False)
    assert data.train.images.shape == (6, 96, 96, 3) and data.test.images.shape == (4, 96, 96, 3)
    assert np.array_equal(data.train.images, ref["train"])
    assert np.array_equal(data.unlabeled.images, ref["unlabeled"])
    assert np.array_equal(data.train.labels, ref["train_y"]) and data.unlabeled.labels is None
    assert data.card["splits"]["unlabeled"]["n"] == 3 and data.class_names[0] == "s0"
    assert data.train.ids[5] == "stl10/train/5" and data.test.ids[3] == "stl10/test/3"
    assert data.unlabeled.ids.tolist() == ["stl10/unlabeled/0", "stl10/unlabeled/1", "stl10/unlabeled/2"]
    without = load_source("torchvision", tmp_path, name="stl10", download=False, include_unlabeled=False)
    assert without.unlabeled is None


def test_missing_files_without_download(tmp_path: Path) -> None:
    with pytest.raises(DeepclustError, match="not found or corrupt") as err:
        load_source("torchvision", tmp_path, name="cifar10", download=False)
    assert "\n" not in str(err.value)


def test_unknown_torchvision_name(tmp_path: Path) -> None:
    with pytest.raises(DeepclustError, match="cifar10.*cifar20.*stl10.*mnist"):
        load_source("torchvision", tmp_path, name="imagenet")


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Serves a directory over HTTP on 127.0.0.1 from a background thread."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def test_cifar10_real_download_path_from_local_server(
    tmp_path: Path, http_dir: tuple[str, Path], no_md5: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.datasets import CIFAR10

    url, served = http_dir
    ref = write_cifar10(tmp_path / "src")
    with tarfile.open(served / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(CIFAR10, "url", f"{url}/cifar-10-python.tar.gz")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    root = tmp_path / "root"
    data = load_source("torchvision", root, name="cifar10", download=True)
    assert (root / "cifar-10-python.tar.gz").is_file()
    assert np.array_equal(data.train.images, ref["train"]) and np.array_equal(data.test.labels, ref["test_y"])


def test_download_from_unreachable_host_is_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with pytest.raises(DeepclustError, match="could not be downloaded.*download: false") as err:
        load_source("torchvision", tmp_path, name="cifar10", download=True)
    assert "\n" not in str(err.value)
