"""The checked-in dvc.yaml files are what `python -m pipelines sync` writes from params.yaml and the stages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from pipelines import load_graph
from pipelines.render import HEADER

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_dvc_yaml_files_are_current() -> None:
    check = subprocess.run([sys.executable, "-m", "pipelines", "check"], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_one_stage_file_per_seed_and_every_instance_in_each() -> None:
    graph = load_graph(ROOT)
    files = [ROOT / "pipelines" / "dvc.yaml"] + [ROOT / "pipelines" / f"seed{s}" / "dvc.yaml" for s in graph.seeds[1:]]
    for i, path in enumerate(files):
        text = path.read_text()
        assert text.startswith(HEADER)
        stages = yaml.safe_load(text)["stages"]
        expected = {inst.name for inst in graph.instances if i == 0 or inst.kind != "prepare"}
        assert set(stages) == expected, path
        seed = graph.seeds[i]
        for name, stage in stages.items():
            if name != "prepare":
                assert f"--seed {seed}" in stage["do"]["cmd"] and f"/seed{seed}/" in stage["do"]["cmd"], name


def test_root_dvc_yaml_holds_only_the_main_report() -> None:
    graph = load_graph(ROOT)
    root = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    assert list(root["stages"]) == ["report"]
    deps = root["stages"]["report"]["deps"]
    for pipeline in graph.main_pipelines:
        terminal = graph.terminal(pipeline).name
        assert f"data/{graph.main_dataset}/seed{graph.seeds[0]}/{terminal}/metrics.json" in deps


def test_every_preset_has_a_block_for_every_stage_kind() -> None:
    """DVC reads `<stage>.${item.preset}` of every data set: a missing block would fail its stages."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    graph = load_graph(ROOT)
    kinds = {inst.kind for inst in graph.instances} - {"prepare"}
    for name, ds in params["datasets"].items():
        for kind in kinds:
            assert ds["preset"] in (params.get(kind) or {}), f"{kind}.{ds['preset']} (data set {name})"
