"""Stage-test fixtures: a tiny params.yaml (digits only), digits prepared once per session, and the
upstream artifacts of the scan and kmeans pipelines built once per session, copied into each test's tmp_path."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from stage_helpers import DS, GRAPH, argv, kind, out_dir, run_stage, write_params

from stages import prepare

# Every instance of the scan and kmeans pipelines but their evaluate stages, upstream first.
UPSTREAM = [i.name for i in GRAPH.instances_for(["scan", "kmeans"]) if i.kind not in ("prepare", "evaluate")]


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    """The tiny params.yaml in this test's tmp_path; the `pretrained` kind reads a torchvision ResNet-18 state dict
    saved there (random weights: what matters is that it loads and runs)."""
    import torchvision

    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet18.pt")
    return write_params(tmp_path / "params.yaml",
                        lambda p: p["pretrained"][DS].update(checkpoint=str(tmp_path / "resnet18.pt")))


@pytest.fixture(scope="session")
def prepared_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Digits prepared once per session (tests copy it, never modify it)."""
    root = tmp_path_factory.mktemp("prepared")
    torch.set_num_threads(1)
    params = write_params(root / "params.yaml")
    assert run_stage(prepare, argv("prepare", root / "data", params)) == 0
    out = out_dir(root / "data", "prepare")
    assert json.loads((out / "card.json").read_text())["splits"]["train"]["n"] > 1000
    return out


@pytest.fixture(scope="session")
def upstream_session(tmp_path_factory: pytest.TempPathFactory, prepared_session: Path) -> Path:
    """`data/` after every non-evaluate stage of the scan and kmeans pipelines, tiny params (built once)."""
    root = tmp_path_factory.mktemp("upstream")
    torch.set_num_threads(1)
    params = write_params(root / "params.yaml")
    data = root / "data"
    shutil.copytree(prepared_session, out_dir(data, "prepare"))
    for name in UPSTREAM:
        module = importlib.import_module(f"stages.{kind(name)}")
        assert run_stage(module, argv(name, data, params)) == 0, name
    return data


@pytest.fixture
def work(tmp_path: Path, prepared_session: Path) -> Path:
    """A per-test `tmp_path/data` with only `digits/prepared` in place, laid out as dvc.yaml does."""
    data = tmp_path / "data"
    shutil.copytree(prepared_session, out_dir(data, "prepare"))
    return data


@pytest.fixture
def upstream(tmp_path: Path, upstream_session: Path) -> Path:
    """A per-test copy of every upstream artifact under `tmp_path/data`."""
    data = tmp_path / "data"
    shutil.copytree(upstream_session, data)
    return data


__all__ = ["DS"]
