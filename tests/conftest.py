"""Suite-wide options: slow end-to-end tests run only with --runslow (as in lightly's tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

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
