"""Fixtures for flow tests: one Prefect test server per session, result storage isolated, toy DVC project."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "orchestration"))

from toy_project import copy_toy_project, make_toy_project  # noqa: E402


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A temporary Prefect API server (subprocess, temp SQLite) shared by the session's flow tests."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with pytest.MonkeyPatch.context() as patch:
        # The harness server is a subprocess: environment, not settings, reaches it.
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        # The harness does not isolate result storage: no stale result from an earlier session.
        with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: tmp_path_factory.mktemp("results")}):
            with prefect_test_harness(server_startup_timeout=120):
                yield


@pytest.fixture(scope="session")
def toy_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session; tests get copies."""
    return make_toy_project(tmp_path_factory.mktemp("template") / "toy", extra_stages=True)


@pytest.fixture
def toy_project(tmp_path: Path, toy_template: Path, prefect_server: None) -> Path:
    """Toy project a@toy -> b@toy -> c@toy, plus a `sleeper` stage outside the toy pipeline."""
    return copy_toy_project(toy_template, tmp_path / "toy")
