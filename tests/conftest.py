"""Suite-wide options: slow end-to-end tests run only with --runslow (as in lightly's tests/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

# The Prefect settings in prefect.toml point at a server on 127.0.0.1:4200; tests start their own.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --runslow to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One CPU thread per test: on a shared 2-core machine torch's default pool spins and runs ~50x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
