"""Every pipeline of the tiny params, stage by stage, as dvc.yaml runs it (same argv, paths under tmp_path)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from stage_helpers import GRAPH, argv, is_png, kind, leftovers, out_dir, run_stage

from stages.kinds import ARTIFACT_FILES, KINDS


def test_every_pipeline_runs_end_to_end(tmp_path: Path, params_file: Path) -> None:
    data = tmp_path / "data"
    for inst in GRAPH.instances:  # upstream first
        module = importlib.import_module(f"stages.{kind(inst.name)}")
        assert run_stage(module, argv(inst.name, data, params_file)) == 0, inst.name
        out = out_dir(data, inst.name)
        spec = KINDS[inst.kind]
        for artifact in spec.outputs:  # what dvc.yaml declares as the stage's outs
            assert (out / ARTIFACT_FILES[artifact]).exists(), f"{inst.name}: {artifact}"
        if inst.kind != "prepare":
            assert (out / "metrics.json").is_file(), inst.name
        if spec.trains:
            assert (out / "run" / "checkpoint.pt").is_file() and (out / "run" / "log.csv").is_file()
    assert leftovers(tmp_path) == []
    results = {p.name: json.loads((out_dir(data, GRAPH.terminal(p.name).name) / "metrics.json").read_text())
               for p in GRAPH.pipelines}
    assert set(results["scan"]["by_stage"]) == {"scan", "selflabel"}
    assert results["scan"]["acc"] > 0.2  # well above chance (0.1) even after two tiny epochs
    for name, metrics in results.items():
        assert {"acc", "nmi", "ari", "split", "protocol"} <= metrics.keys(), name
        assert is_png(out_dir(data, GRAPH.terminal(name).name) / "confusion.png")
    assert results["kmeans-pixels"]["acc"] > 0.5  # k-means on digits pixels
