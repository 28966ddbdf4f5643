"""Fixtures shared by the data-layer tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixture files are not the originals: drop the md5s that torchvision checks (None = exists only)."""
    from torchvision.datasets import CIFAR10, CIFAR100, MNIST, STL10

    for cls in (CIFAR10, CIFAR100, STL10):
        monkeypatch.setattr(cls, "train_list", [[f, None] for f, _ in cls.train_list])
        monkeypatch.setattr(cls, "test_list", [[f, None] for f, _ in cls.test_list])
        monkeypatch.setattr(cls, "tgz_md5", None)
    for cls in (CIFAR10, CIFAR100):
        monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": None})
    monkeypatch.setattr(MNIST, "resources", [(f, None) for f, _ in MNIST.resources])
