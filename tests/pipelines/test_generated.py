"""The checked-in dvc.yaml files are what `python -m pipelines sync` writes from params.yaml and the stages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from pipelines import load_graph
from pipelines.render import BENCH_DIR, HEADER, instance_dir, render_all, render_bench_files, stage_file
from stages.resolve import resolve

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_dvc_yaml_files_are_current() -> None:
    check = subprocess.run([sys.executable, "-m", "pipelines", "check"], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_one_file_per_data_set_and_seed_asked_for_holding_exactly_its_stages() -> None:
    graph = load_graph(ROOT)
    live = graph.live()
    # A benchmark running in this checkout has its own files under pipelines/bench (`pipelines check` tells stale
    # ones from those); the checked-in graph is the rest.
    generated = {p.relative_to(ROOT).as_posix() for p in (ROOT / "pipelines").rglob("dvc.yaml")
                 if not p.is_relative_to(ROOT / BENCH_DIR)}
    assert generated == {stage_file(ds, seed) for ds, seed in live} | {stage_file(ds, None) for ds, _ in live}
    for (ds, seed), pipelines in live.items():
        text = (ROOT / stage_file(ds, seed)).read_text()
        assert text.startswith(HEADER)
        stages = yaml.safe_load(text)["stages"]
        assert set(stages) == {i.name for i in graph.instances_for(pipelines)} - {"prepare"}
        for name, stage in stages.items():
            assert f"--seed {seed}" in stage["cmd"] and f"--out {instance_dir(ds, seed, name)}" in stage["cmd"], name


def _stages(files: dict[Path, str], path: str) -> dict:
    return yaml.safe_load(files[ROOT / path])["stages"] if ROOT / path in files else {}


def test_a_benchmark_adds_exactly_the_stages_the_checked_in_graph_lacks() -> None:
    graph = load_graph(ROOT)
    live, bench = render_all(graph, ROOT), render_bench_files(graph, ROOT)
    assert set(_stages(bench, "pipelines/bench/dvc.yaml")) == {f"bench-{b.dataset}" for b in graph.benches}
    for (ds, seed), pipelines in graph.asked().items():
        here, there = _stages(live, stage_file(ds, seed)), _stages(bench, stage_file(ds, seed, bench=True))
        assert not set(here) & set(there), (ds, seed)
        wanted = {i.name for i in graph.instances_for(pipelines)} - {"prepare"}
        assert set(here) | set(there) == wanted, (ds, seed)
        for name, stage in there.items():
            assert stage["wdir"] == "../../../.." and f"--out {instance_dir(ds, seed, name)}" in stage["cmd"]


def test_every_stage_lists_exactly_the_params_it_reads() -> None:
    graph = load_graph(ROOT)
    files = {**render_all(graph, ROOT), **render_bench_files(graph, ROOT)}
    for (ds, seed), _pipelines in graph.asked().items():
        stages = {**_stages(files, stage_file(ds, seed)), **_stages(files, stage_file(ds, seed, bench=True))}
        for name, stage in stages.items():
            inst = graph.instance(name)
            assert stage["params"] == list(resolve(graph.params, inst.kind, ds, inst.variant).keys), name
            assert all(not key.startswith(f"datasets.{ds}") or key.count(".") >= 2 for key in stage["params"]), \
                f"{name} reads the whole datasets.{ds} block"


def test_root_dvc_yaml_holds_only_the_main_report() -> None:
    graph = load_graph(ROOT)
    root = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    assert list(root["stages"]) == ["report"]
    deps = root["stages"]["report"]["deps"]
    for pipeline in graph.main.pipelines:
        terminal = graph.terminal(pipeline).name
        assert f"{instance_dir(graph.main.dataset, graph.main.seeds[0], terminal)}/metrics.json" in deps
