"""Imports go flows -> tasks -> (subprocess) stages -> deepclust, never the other way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "deepclust": {"prefect", "dvc", "stages", "tasks", "flows", "pipelines"},
    "stages": {"prefect", "tasks", "flows", "pipelines"},
    # The stage-graph generator reads params.yaml and the stages' source text, never runs them.
    "pipelines": {"torch", "torchvision", "deepclust", "stages", "tasks", "flows", "prefect", "dvc"},
    "tasks": {"torch", "torchvision", "deepclust", "stages", "flows", "pipelines"},
    "flows": {"torch", "torchvision", "deepclust", "stages"},
}


def imported_top_modules(path: Path) -> set[str]:
    """Top-level names of every absolute import in PATH (relative imports stay inside the layer)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_one_way(layer: str) -> None:
    violations = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for name in sorted(imported_top_modules(path) & FORBIDDEN[layer])
    ]
    assert not violations, "\n".join(violations)


def test_checker_sees_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import torch.nn as nn\nfrom deepclust.losses import x\nfrom . import y\ndef f():\n    import dvc\n"
    )
    assert imported_top_modules(module) == {"torch", "deepclust", "dvc"}
