"""Fixtures for task tests: the toy DVC project, plus a failing and a sleeping stage."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "orchestration"))

from toy_project import copy_toy_project, make_toy_project  # noqa: E402


@pytest.fixture(scope="session")
def toy_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session; tests get copies."""
    return make_toy_project(tmp_path_factory.mktemp("template") / "toy", extra_stages=True)


@pytest.fixture
def toy_project(tmp_path: Path, toy_template: Path) -> Path:
    """Toy project whose dvc.yaml also has `fail` (exits 3) and `sleeper` (spawns `sleep 60`) stages."""
    return copy_toy_project(toy_template, tmp_path / "toy")
