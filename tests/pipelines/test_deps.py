"""Deps that cannot go stale: every repository module a stage really imports is covered by its dvc.yaml deps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.imports import module_closure, stage_deps, uncovered
from stages.kinds import all_kinds

ROOT = Path(__file__).resolve().parents[2]
STAGES = sorted(all_kinds()) + ["report"]


def loaded_files(module: str) -> list[str]:
    """Repository files a fresh interpreter has loaded after `import MODULE` (the runtime truth)."""
    code = (f"import sys, json, {module}; from pathlib import Path; root = Path({str(ROOT)!r}); "
            "files = {Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, '__file__', None)}; "
            "print(json.dumps(sorted(str(f.relative_to(root)) for f in files if f.is_relative_to(root) "
            "and f.relative_to(root).parts[0] in ('deepclust', 'stages'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def declared_deps(kind: str) -> list[list[str]]:
    """The code deps of every dvc.yaml stage that runs KIND (each instance, each file)."""
    found = []
    for path in [ROOT / "dvc.yaml", *sorted((ROOT / "pipelines").rglob("dvc.yaml"))]:
        for stage in (yaml.safe_load(path.read_text()).get("stages") or {}).values():
            body = stage.get("do", stage)
            if f" -m stages.{kind} " in body["cmd"] + " ":  # `python -m` or `torchrun ... -m`
                found.append([d for d in body["deps"] if not d.startswith("data/")])
    return found


@pytest.mark.parametrize("kind", STAGES)
def test_every_imported_module_is_a_dep(kind: str) -> None:
    loaded = loaded_files(f"stages.{kind}")
    assert f"stages/{kind}.py" in loaded
    # A kind no checked-in run uses (estimate_k, pretrained) gets the deps its first run will render.
    instances = declared_deps(kind) or [stage_deps(ROOT, kind)]
    for deps in instances:
        assert uncovered(loaded, deps) == [], f"stages.{kind}: imported but not in deps"


@pytest.mark.parametrize("kind", STAGES)
def test_static_closure_covers_the_runtime_imports(kind: str) -> None:
    """The generator reads imports from source (no torch import); it must see at least what runs."""
    assert uncovered(loaded_files(f"stages.{kind}"), stage_deps(ROOT, kind)) == []


def test_a_planted_miss_is_reported() -> None:
    deps = stage_deps(ROOT, "scan")
    assert "deepclust/transforms" in deps
    planted = [d for d in deps if d != "deepclust/transforms"]
    missed = uncovered(loaded_files("stages.scan"), planted)
    assert missed and all(f.startswith("deepclust/transforms/") for f in missed)


def test_a_method_is_a_dependency_of_its_own_stages_only() -> None:
    """deepclust.methods and deepclust.losses load each module on first use: editing PCL re-runs only PCL stages."""
    assert "deepclust/methods/pcl.py" in stage_deps(ROOT, "pcl")
    assert "deepclust/losses/proto_nce_loss.py" in stage_deps(ROOT, "pcl")
    for kind in ("pretext", "scan", "cc", "embed"):
        deps = stage_deps(ROOT, kind)
        assert not any(d.endswith(("pcl.py", "proto_nce_loss.py")) or d in ("deepclust/methods", "deepclust/losses")
                       for d in deps), (kind, deps)
    assert "deepclust/methods/simclr.py" in stage_deps(ROOT, "pretext")


def test_a_lazy_name_counts_as_importing_its_module(tmp_path: Path) -> None:
    pkg = tmp_path / "deepclust" / "lazy"
    pkg.mkdir(parents=True)
    (tmp_path / "deepclust" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text('_LAZY = {"A": "deepclust.lazy.a", "B": "deepclust.lazy.b"}\n')
    (pkg / "a.py").write_text("A = 1\n")
    (pkg / "b.py").write_text("B = 2\n")
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "__init__.py").write_text("")
    (tmp_path / "stages" / "s.py").write_text("from deepclust.lazy import A\n")
    assert module_closure(tmp_path, "stages.s") == {"stages", "stages.s", "deepclust", "deepclust.lazy",
                                                     "deepclust.lazy.a"}
    assert stage_deps(tmp_path, "s") == ["stages/s.py", "deepclust/__init__.py", "deepclust/lazy/__init__.py",
                                         "deepclust/lazy/a.py", "stages/__init__.py"]


def test_closure_follows_package_inits_and_function_level_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "deepclust" / "sub"
    pkg.mkdir(parents=True)
    (tmp_path / "deepclust" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from deepclust.sub.a import x\n")
    (pkg / "a.py").write_text("def x():\n    from deepclust import late\n")
    (tmp_path / "deepclust" / "late.py").write_text("from . import sub\n")
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "__init__.py").write_text("")
    (tmp_path / "stages" / "s.py").write_text("import numpy\nfrom deepclust.sub import a\n")
    assert module_closure(tmp_path, "stages.s") == {"stages", "stages.s", "deepclust", "deepclust.sub",
                                                     "deepclust.sub.a", "deepclust.late"}
    assert stage_deps(tmp_path, "s") == ["stages/s.py", "deepclust/__init__.py", "deepclust/late.py",
                                         "deepclust/sub", "stages/__init__.py"]


def test_the_stages_that_predict_clusters_do_not_depend_on_the_budget_curves_k_means() -> None:
    """The k-means of a budget curve is the business of the stages a k-means follows: editing it re-runs those,
    not SCAN, CC, DCDC or IIC (which keep curves of their own clusters)."""
    assert "stages/kmeans_curve.py" in stage_deps(ROOT, "deepcluster")
    assert "deepclust/cluster/kmeans.py" in stage_deps(ROOT, "idfd")
    for kind in ("scan", "cc", "dcdc", "iic"):
        deps = stage_deps(ROOT, kind)
        assert "stages/curve.py" in deps, kind
        assert not any(d.startswith("deepclust/cluster") or d == "stages/kmeans_curve.py" for d in deps), (kind, deps)
