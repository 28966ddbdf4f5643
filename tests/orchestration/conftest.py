"""Fixtures for orchestration tests: the toy DVC project, and a tiny copy of the real project."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # makes toy_project importable from tests/tasks, tests/flows

from prefect_api import Server, start_server  # noqa: E402
from real_project import Built, build_real_project  # noqa: E402
from toy_project import copy_toy_project, make_toy_project  # noqa: E402


@pytest.fixture(scope="session")
def toy_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session; tests get copies."""
    return make_toy_project(tmp_path_factory.mktemp("template") / "toy")


@pytest.fixture
def toy_project(tmp_path: Path, toy_template: Path) -> Path:
    """git + DVC repo with stages a@toy -> b@toy -> c@toy (c: `meta: {pipeline: toy}`, metrics acc)."""
    return copy_toy_project(toy_template, tmp_path / "toy")


@pytest.fixture(scope="session")
def real_template(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The real project, tiny digits params, after one full `dvc repro` (about a minute); copy it to mutate."""
    return build_real_project(tmp_path_factory.mktemp("real") / "deepclust")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `prefect server start` (own PREFECT_HOME, free port) for every deployment test of the session."""
    with start_server(tmp_path_factory.mktemp("prefect")) as started:
        yield started
