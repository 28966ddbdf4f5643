"""The whole SCAN pipeline, prepare -> pretext -> embed -> mine -> scan -> selflabel -> evaluate, as dvc.yaml
runs it (same argv, paths under tmp_path)."""

from __future__ import annotations

import json
from pathlib import Path

from stage_helpers import DS, argv, is_png, leftovers, run_stage

from stages import embed, evaluate, mine, prepare, pretext, scan, selflabel

CHAIN = [("prepare", prepare), ("pretext", pretext), ("embed", embed), ("mine", mine), ("scan", scan),
         ("selflabel", selflabel), ("evaluate", evaluate)]

# What dvc.yaml declares as each stage's outs and metrics, relative to data/<ds>/.
OUTPUTS = {
    "prepare": ["prepared/train.npz", "prepared/test.npz", "prepared/card.json"],
    "pretext": ["pretext/run/checkpoint.pt", "pretext/run/log.csv", "pretext/model.pt",
                "pretext/metrics.json"],
    "embed": ["embed/features.npz"],
    "mine": ["mine/neighbours.npy", "mine/metrics.json"],
    "scan": ["scan/run/checkpoint.pt", "scan/run/log.csv", "scan/model.pt", "scan/metrics.json"],
    "selflabel": ["selflabel/run/checkpoint.pt", "selflabel/model.pt", "selflabel/metrics.json"],
    "evaluate": ["evaluate/confusion.png", "evaluate/clusters.png", "evaluate/predictions.csv",
                 "evaluate/metrics.json"],
}


def test_full_chain(tmp_path: Path, params_file: Path) -> None:
    data = tmp_path / "data"
    for name, module in CHAIN:
        assert run_stage(module, argv(name, data, params_file)) == 0, name
        for rel in OUTPUTS[name]:
            assert (data / DS / rel).is_file(), f"{name}: {rel}"
    assert leftovers(tmp_path) == []
    mined = json.loads((data / DS / "mine" / "metrics.json").read_text())
    assert {"neighbour_acc@1", "neighbour_acc@5", "neighbour_acc@20"} <= mined.keys()
    metrics = json.loads((data / DS / "evaluate" / "metrics.json").read_text())
    assert {"acc", "nmi", "ari", "scan", "selflabel", "kmeans_raw_pixels", "kmeans_pretext_backbone", "kmeans_pretext_head"} <= metrics.keys()
    assert metrics["acc"] > 0.2  # well above chance (0.1) even after two tiny epochs
    assert is_png(data / DS / "evaluate" / "confusion.png")
    assert is_png(data / DS / "evaluate" / "clusters.png")
