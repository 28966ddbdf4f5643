"""`python -m pipelines`: list, check, sync (on a copy) and the one-line errors of `run`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines import DeclarationError, stale_files, sync
from pipelines.render import HEADER

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=cwd, capture_output=True, text=True)


def test_list_prints_every_pipeline_with_its_address() -> None:
    out = cli("list").stdout
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for pipeline in params["pipelines"]:
        assert f"\n{pipeline}: prepare -> " in out
    assert "dvc repro pipelines/dvc.yaml:evaluate-kmeans@digits" in out


def test_run_rejects_unknown_data_set_seed_and_pipeline() -> None:
    for args, message in ((["nope"], "unknown data set 'nope'"), (["digits", "--seed", "99"], "seed 99 is not"),):
        done = cli("run", "scan", *args)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    done = cli("run", "nope", "digits")
    assert done.returncode == 2 and "unknown pipeline 'nope'" in done.stderr


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for rel in ("params.yaml", "dvc.yaml", "pipelines", "stages", "deepclust"):
        src = ROOT / rel
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / rel)
    return root


def test_sync_follows_seeds_and_removes_stale_seed_files(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    assert stale_files(root) == []
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["seeds"] = [0, 7]
    del params["bench"]  # its seeds are gone; and without it, its generated file goes too
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changes = sync(root)
    assert "wrote pipelines/seed7/dvc.yaml" in changes
    assert any(c.startswith("removed pipelines/seed1/dvc.yaml") for c in changes)
    assert any(c.startswith("removed pipelines/bench/dvc.yaml") for c in changes)
    assert (root / "pipelines/seed7/dvc.yaml").read_text().startswith(HEADER)
    assert "--seed 7" in (root / "pipelines/seed7/dvc.yaml").read_text()
    assert sync(root) == [] and stale_files(root) == []


def test_bench_seeds_must_be_declared_seeds(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["bench"] = {"digits": {"seeds": [0, 9]}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(DeclarationError, match=r"bench\.digits\.seeds"):
        sync(root)


def test_a_bad_declaration_is_one_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["pipelines"]["broken"] = ["prepare", "mine"]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from pipelines import sync;"
                           f"sync(Path({str(root)!r}))"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0 and "stage 2 (mine) needs features" in done.stderr
