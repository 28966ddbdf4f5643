"""Helpers of the stage tests: the tiny params, argv exactly as dvc.yaml gives it, and stderr/leftover checks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from pipelines.graph import build_graph
from pipelines.render import stage_argv

ROOT = Path(__file__).resolve().parents[2]
REAL = yaml.safe_load((ROOT / "params.yaml").read_text())
DS = "digits"
AUGMENT = {"num_ops": 2, "cutout_max": 3, "hflip_prob": 0.0}
_PAIR = {"backbone": "small_cnn", "width": 8, "epochs": 2, "batch_size": 128, "lr": 0.001,
         "augment": {"crop_scale": [0.7, 1.0], "hflip_prob": 0.0, "saturation": 0.0, "hue": 0.0,
                     "grayscale_prob": 0.0, "rotation": 10}}

# CPU-test sizes of every stage kind's settings, on digits. The pipelines are the repository's own declarations
# (params.yaml), so a pipeline added there is tested here without a copy.
TINY_SETTINGS: dict[str, dict[str, Any]] = {
    "pretext": {
        "backbone": "small_cnn", "width": 8, "epochs": 2, "batch_size": 64, "lr": 0.4, "temperature": 0.1,
        "hidden_dim": 32, "output_dim": 16,
        "augment": {"crop_scale": [0.5, 1.0], "hflip_prob": 0.0, "jitter_prob": 0.8, "brightness": 0.4,
                    "contrast": 0.4, "saturation": 0.0, "hue": 0.0, "grayscale_prob": 0.0},
    },
    "embed": {"batch_size": 512},
    "mine": {"num_neighbors": 20, "features": "head"},
    "scan": {"epochs": 2, "batch_size": 128, "lr": 0.01, "entropy_weight": 5.0, "num_heads": 2, "hidden_dim": 32,
             "augment": AUGMENT},
    "selflabel": {"epochs": 1, "batch_size": 256, "threshold": 0.5, "augment": AUGMENT},
    "kmeans": {"features": "backbone", "nredo": 1},
    "baseline": {"features": "backbone"},
    "evaluate": {},
    "estimate_k": {"max_samples": 500},
    "pretrained": {"network": "resnet18", "checkpoint": "weights.pt", "input_size": 32, "batch_size": 64},
    "ae_pretrain": {"hidden_dims": [32, 32, 64, 10], "epochs": 2, "batch_size": 128, "lr": 0.001},
    "dec": {"update_interval": 3, "batch_size": 128, "max_iterations": 9, "kmeans_nredo": 2},
    "deepcluster": {"backbone": "small_cnn", "width": 8, "num_clusters": 20, "epochs": 2, "batch_size": 128,
                    "lr": 0.05, "pca_dim": 16, "augment": {"crop_scale": [0.7, 1.0], "hflip_prob": 0.0}},
    "pcl": {"backbone": "small_cnn", "width": 8, "epochs": 2, "warmup_epochs": 1, "batch_size": 128, "lr": 0.06,
            "queue_size": 256, "num_clusters": [10, 20], "hidden_dim": 32, "output_dim": 16,
            "augment": {"crop_scale": [0.7, 1.0], "hflip_prob": 0.0, "saturation": 0.0, "hue": 0.0,
                        "grayscale_prob": 0.0}},
    "cc": {**_PAIR, "hidden_dim": 32, "num_heads": 2},
    "dcdc": {**_PAIR, "overcluster": 20, "repeats": 2,
             "original": {"crop_scale": [0.9, 1.0], "hflip_prob": 0.0, "jitter_prob": 0.0}},
    "iic": {**_PAIR, "epochs": 3, "overcluster": 20, "cluster_epochs": 2, "num_heads": 3},
    "idfd": {"backbone": "small_cnn", "width": 8, "epochs": 2, "batch_size": 128, "lr": 0.03, "lr_milestones": [1],
             "output_dim": 16, "augment": {"crop_scale": [0.7, 1.0], "hflip_prob": 0.0, "saturation": 0.0,
                                           "hue": 0.0, "grayscale_prob": 0.0}},
}

TINY_PARAMS: dict[str, Any] = {
    "pipelines": REAL["pipelines"],
    "seeds": [0],
    "main": {"dataset": DS, "pipelines": ["scan", "kmeans"]},
    "datasets": {DS: {"preset": DS, "source": {"kind": "digits", "test_fraction": 0.2, "seed": 0}, "num_classes": 10}},
    **{kind: {DS: settings} for kind, settings in TINY_SETTINGS.items()},
}
GRAPH = build_graph(TINY_PARAMS)


def write_params(path: Path, edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Writes TINY_PARAMS (after `edit(params)`, if given) to `path` as YAML."""
    params = copy.deepcopy(TINY_PARAMS)
    if edit is not None:
        edit(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def out_dir(data: Path, instance: str, ds: str = DS, seed: int = 0) -> Path:
    """Where dvc.yaml puts INSTANCE's outputs, under DATA instead of `data/`."""
    return Path(data) / ds / "prepared" if instance == "prepare" else Path(data) / ds / f"seed{seed}" / instance


def kind(instance: str) -> str:
    """The stage kind an instance runs (`stages.<kind>`)."""
    return GRAPH.instance(instance).kind


def leftovers(root: Path) -> list[Path]:
    """Temporary files or directories that `atomic_path` leaves behind when a write is interrupted."""
    return [p for p in Path(root).rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]


def stderr_error_line(err: str) -> str:
    """Asserts stderr holds exactly one line, starting with `error:`, and returns it."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one stderr line, got {lines}"
    assert lines[0].startswith("error:"), lines[0]
    return lines[0]


def argv(instance: str, data: Path, params: Path, ds: str = DS, seed: int = 0, **override: str | Path) -> list[str]:
    """The `cmd` that dvc.yaml gives INSTANCE (generated from TINY_PARAMS' pipelines), with `data/` replaced
    by DATA, `--params PARAMS` added, and each `override` (`model=...`) replacing that option's value."""
    # The command is rendered on DS (a data set a test adds to its own params is not in TINY_PARAMS); only the
    # data set's name and folder differ between data sets.
    tokens = " ".join(stage_argv(GRAPH.instance(instance), GRAPH, DS, seed)).split()
    tokens = tokens[next(i for i, t in enumerate(tokens) if t.startswith("stages.")) + 1:]  # drop the launcher
    tokens = [ds if t == DS else t.replace(f"data/{DS}/", f"data/{ds}/", 1) for t in tokens]
    options: dict[str, list[str]] = {}
    for token in tokens:
        if token.startswith("--"):
            options[token] = []
        else:
            options[list(options)[-1]].append(token.replace("data/", f"{data}/", 1))
    options.pop("--keys", None)  # tests edit their params (test_resolve checks `--keys` itself)
    for key, value in override.items():
        options[f"--{key.replace('_', '-')}"] = [str(value)]
    return ["--params", str(params)] + [t for flag, values in options.items() for t in (flag, *values)]


def is_png(path: Path) -> bool:
    """True when `path` is a PNG that PIL can fully decode."""
    from PIL import Image

    if Path(path).read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    with Image.open(path) as im:
        im.load()
        return im.size[0] > 0 and im.size[1] > 0


def run_stage(module: Any, args: list[str]) -> int:
    """Runs `module.main(args)` as `python -m stages.<name>` does: through `stages.cli.run`, which turns a
    DeepclustError into one `error:` line on stderr and a non-zero return code."""
    from stages.cli import run

    return run(module.main, args)
