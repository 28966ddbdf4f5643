"""A stage's code dependencies, read from its imports: what `dvc.yaml` lists under `deps`.

Importing `stages/scan.py` runs every repository module it imports, directly or not (package
`__init__`s included, and imports inside functions too: they run when the stage runs). Each of those
files is a dependency: change one and the stage's result may change. A library subpackage the stage
loads whole (`deepclust/engine`: its `__init__` imports all of its modules) is listed as one folder; one
it loads in part is listed file by file, so `deepclust/methods/pcl.py` is a dependency of the PCL stage
only (`deepclust.methods` and `deepclust.losses` import their modules on first use: `_LAZY` maps each
name to its module, and `from deepclust.methods import SCAN` here counts as importing
`deepclust.methods.scan`). tests/pipelines/test_deps.py checks the result against the modules a real
import loads.
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


@cache
def _imported_names(path: Path, module: str) -> frozenset[str]:
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
    return frozenset(names)


@cache
def lazy_names(path: Path) -> dict[str, str]:
    """A package `__init__`'s `_LAZY = {"Name": "package.module", ...}`: what `from package import Name` loads."""
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets) and isinstance(node.value, ast.Dict):
            return {str(k.value): str(v.value) for k, v in zip(node.value.keys, node.value.values, strict=True)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)}
    return {}


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@cache
def module_closure(root: Path, module: str) -> frozenset[str]:
    """Every repository module that importing MODULE executes (parents' `__init__` included)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        package, _, attr = name.rpartition(".")
        init = module_file(root, package) if package else None
        if init is not None and init.name == "__init__.py" and attr in lazy_names(init):
            todo.append(lazy_names(init)[attr])  # `from package import Name`, loaded on first use
        for part in _with_parents(name):
            path = module_file(root, part)
            if path is None or part in seen:
                continue
            seen.add(part)
            todo.extend(_imported_names(path, part))
    return frozenset(seen)


@cache
def _members(folder: Path) -> frozenset[str]:
    return frozenset(p.relative_to(folder.parent.parent).as_posix() for p in folder.rglob("*.py"))


def stage_deps(root: Path, kind: str) -> list[str]:
    """The code `deps` of `stages/<kind>.py`: the stage module first, then the rest sorted; a library subpackage
    whose every module is loaded is one folder entry."""
    own = f"stages/{kind}.py"
    files = set()
    for module in module_closure(root, f"stages.{kind}"):
        path = module_file(root, module)
        assert path is not None
        files.add(path.relative_to(root).as_posix())
    deps = set()
    for file in files:
        parts = file.split("/")
        if parts[0] == "deepclust" and len(parts) > 2:  # inside a library subpackage
            deps.add(f"deepclust/{parts[1]}" if _members(root / "deepclust" / parts[1]) <= files else file)
        else:
            deps.add(file)
    return [own] + sorted(deps - {own})


def uncovered(files: list[str], deps: list[str]) -> list[str]:
    """Repository files (relative paths) that no entry of DEPS (a file or a folder) covers."""
    def covered(f: str) -> bool:
        return any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)

    return sorted(f for f in files if not covered(f))


def forget() -> None:
    """Drops what was read of the sources (a long-lived process, e.g. `flows.serve`, syncs after code edits)."""
    for cached in (_imported_names, lazy_names, module_closure, _members):
        cached.cache_clear()
