"""Imports go flows -> tasks -> (subprocess) stages -> deepclust, never the other way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "deepclust": {"prefect", "dvc", "stages", "tasks", "flows", "pipelines"},
    "stages": {"prefect", "tasks", "flows", "pipelines"},
    # The stage-graph compiler reads params.yaml, the kinds' declarations and the stages' source text; it never
    # runs a stage (DECLARATIONS below are the only stage modules it may import).
    "pipelines": {"torch", "torchvision", "tasks", "flows", "prefect", "dvc"},
    "tasks": {"torch", "torchvision", "deepclust", "stages", "flows", "pipelines"},
    "flows": {"torch", "torchvision", "deepclust", "stages"},
}
# Torch-free modules of the stage layer: the kinds, their params models and how params are resolved.
DECLARATIONS = ("stages.kinds", "stages.params", "stages.resolve", "deepclust.errors")


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


def imported_modules(path: Path) -> set[str]:
    """Full names of every absolute import in PATH."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_compiler_imports_only_the_declarations_of_the_stage_layer() -> None:
    used = {name for path in (ROOT / "pipelines").rglob("*.py") for name in imported_modules(path)
            if name.split(".")[0] in ("stages", "deepclust")}
    assert all(name.startswith(DECLARATIONS) for name in used), used
    light = [ROOT / "stages/params.py", ROOT / "stages/resolve.py", *(ROOT / "stages/kinds").glob("*.py")]
    for path in light:  # and those stay light: no torch behind them
        assert not {"torch", "torchvision", "numpy"} & imported_top_modules(path), path


def test_the_compiler_and_the_flows_run_without_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, pipelines.__main__, flows.serve; "
            "print(sorted(m for m in ('torch', 'deepclust.data') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_checker_sees_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import torch.nn as nn\nfrom deepclust.losses import x\nfrom . import y\ndef f():\n    import dvc\n"
    )
    assert imported_top_modules(module) == {"torch", "deepclust", "dvc"}
