"""A stage's code dependencies, read from its imports: what `dvc.yaml` lists under `deps`.

Importing `stages/scan.py` runs every repository module it imports, directly or not (package
`__init__`s included, and imports inside functions too: they run when the stage runs). Each of those
files is a dependency: change one and the stage's result may change. Library subpackages are listed as
folders (`deepclust/transforms`), as their `__init__` imports all of their modules anyway; top-level
modules and stage helpers as files. tests/pipelines/test_deps.py checks the result against the modules a
real import loads.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGES = ("deepclust", "stages")  # the repository's importable code; everything else is third-party


def module_file(root: Path, module: str) -> Path | None:
    """The file of a repository module (`a.b` -> a/b.py or a/b/__init__.py), or None if not ours."""
    if module.split(".")[0] not in PACKAGES:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(path: Path, module: str) -> set[str]:
    """Dotted names a module imports (absolute; `from a import b` gives `a` and `a.b`)."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: climb level-1 packages from the current one
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@cache
def module_closure(root: Path, module: str) -> frozenset[str]:
    """Every repository module that importing MODULE executes (parents' `__init__` included)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for name in _with_parents(todo.pop()):
            path = module_file(root, name)
            if path is None or name in seen:
                continue
            seen.add(name)
            todo.extend(_imported_names(path, name))
    return frozenset(seen)


def dep_path(root: Path, module: str) -> str:
    """The dependency entry covering MODULE: its library subpackage folder, or its own file."""
    parts = module.split(".")
    if parts[0] == "deepclust" and len(parts) > 1 and (root / "deepclust" / parts[1]).is_dir():
        return f"deepclust/{parts[1]}"
    path = module_file(root, module)
    assert path is not None
    return path.relative_to(root).as_posix()


def stage_deps(root: Path, kind: str) -> list[str]:
    """The code `deps` of `stages/<kind>.py`: the stage module first, then the rest sorted."""
    own = f"stages/{kind}.py"
    deps = {dep_path(root, m) for m in module_closure(root, f"stages.{kind}")}
    return [own] + sorted(deps - {own})


def uncovered(files: list[str], deps: list[str]) -> list[str]:
    """Repository files (relative paths) that no entry of DEPS (a file or a folder) covers."""
    def covered(f: str) -> bool:
        return any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)

    return sorted(f for f in files if not covered(f))
