"""Helpers of the stage tests: the tiny params, argv as dvc.yaml gives it, and stderr/leftover checks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

DS = "digits"

# The structure of the repository's params.yaml, digits only, with CPU-test sizes.
TINY_PARAMS: dict[str, Any] = {
    "datasets": {DS: {"source": {"kind": "digits", "test_fraction": 0.2, "seed": 0}, "num_classes": 10}},
    "pretext": {DS: {
        "backbone": "small_cnn", "width": 8, "epochs": 2, "batch_size": 64, "lr": 0.4, "temperature": 0.1,
        "hidden_dim": 32, "output_dim": 16,
        "augment": {"crop_scale": [0.5, 1.0], "hflip_prob": 0.0, "jitter_prob": 0.8, "brightness": 0.4,
                    "contrast": 0.4, "saturation": 0.0, "hue": 0.0, "grayscale_prob": 0.0},
        "seed": 0,
    }},
    "embed": {DS: {"batch_size": 512}},
    "mine": {DS: {"num_neighbors": 20, "features": "head"}},
    "scan": {DS: {"epochs": 2, "batch_size": 128, "lr": 0.01, "entropy_weight": 5.0, "num_heads": 2,
                  "augment": {"num_ops": 2, "cutout_max": 3, "hflip_prob": 0.0}, "seed": 0}},
    "selflabel": {DS: {"epochs": 1, "batch_size": 256, "threshold": 0.5,
                       "augment": {"num_ops": 2, "cutout_max": 3, "hflip_prob": 0.0}, "seed": 0}},
    "evaluate": {DS: {"seed": 0, "kmeans_baselines": True}},
}


def write_params(path: Path, edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Writes TINY_PARAMS (after `edit(params)`, if given) to `path` as YAML."""
    params = copy.deepcopy(TINY_PARAMS)
    if edit is not None:
        edit(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def leftovers(root: Path) -> list[Path]:
    """Temporary files or directories that `atomic_path` leaves behind when a write is interrupted."""
    return [p for p in Path(root).rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]


def stderr_error_line(err: str) -> str:
    """Asserts stderr holds exactly one line, starting with `error:`, and returns it."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one stderr line, got {lines}"
    assert lines[0].startswith("error:"), lines[0]
    return lines[0]


def argv(stage: str, data: Path, params: Path, ds: str = DS, **override: str | Path) -> list[str]:
    """The `cmd` of `dvc.yaml` for `stage`, with `data/` replaced by `data` and `--params params` added."""
    d = Path(data) / ds
    paths: dict[str, dict[str, Path]] = {
        "prepare": {"raw-dir": Path(data) / "raw", "out": d / "prepared"},
        "pretext": {"data": d / "prepared", "run-dir": d / "pretext" / "run", "out": d / "pretext"},
        "embed": {"data": d / "prepared", "model": d / "pretext" / "model.pt",
                  "out": d / "embed" / "features.npz"},
        "mine": {"data": d / "prepared", "features": d / "embed" / "features.npz", "out": d / "mine"},
        "scan": {"data": d / "prepared", "pretext": d / "pretext" / "model.pt",
                 "neighbours": d / "mine" / "neighbours.npy", "run-dir": d / "scan" / "run",
                 "out": d / "scan"},
        "selflabel": {"data": d / "prepared", "scan": d / "scan" / "model.pt",
                      "run-dir": d / "selflabel" / "run", "out": d / "selflabel"},
        "evaluate": {"data": d / "prepared", "scan": d / "scan" / "model.pt",
                     "selflabel": d / "selflabel" / "model.pt", "features": d / "embed" / "features.npz",
                     "out": d / "evaluate"},
    }[stage]
    paths.update({k.replace("_", "-"): Path(v) for k, v in override.items()})
    out = ["--dataset", ds, "--params", str(params)]
    for key, value in paths.items():
        out += [f"--{key}", str(value)]
    return out


def is_png(path: Path) -> bool:
    """True when `path` is a PNG that PIL can fully decode."""
    from PIL import Image

    if Path(path).read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    with Image.open(path) as im:
        im.load()
        return im.size[0] > 0 and im.size[1] > 0


def run_stage(module: Any, args: list[str]) -> int:
    """Runs `module.main(args)` as `python -m stages.<name>` does: through `stages.common.run`, which turns a
    DeepclustError into one `error:` line on stderr and a non-zero return code."""
    from stages.common import run

    return run(module.main, args)
