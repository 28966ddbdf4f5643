"""Fixtures for orchestration tests: a tiny real DVC project in tmp_path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # makes toy_project importable from tests/tasks, tests/flows

from toy_project import copy_toy_project, make_toy_project  # noqa: E402


@pytest.fixture(scope="session")
def toy_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session; tests get copies."""
    return make_toy_project(tmp_path_factory.mktemp("template") / "toy")


@pytest.fixture
def toy_project(tmp_path: Path, toy_template: Path) -> Path:
    """git + DVC repo with stages a@toy -> b@toy -> c@toy (c: `meta: {pipeline: toy}`, metrics acc)."""
    return copy_toy_project(toy_template, tmp_path / "toy")
