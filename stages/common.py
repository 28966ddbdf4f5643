"""What the stages share: params + data + runtime set-up, model inputs, features; argv lives in stages/cli.py."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepclust.data import PreparedData, load_prepared
from deepclust.engine import Runtime
from deepclust.engine.distributed import init_process_group
from deepclust.errors import DeepclustError
from deepclust.io import require_file
from stages.cli import entry, parser
from stages.params import DatasetParams, load_params

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Job:
    """A stage run: its argv, validated params, prepared data and seeded runtime."""

    stage: str
    args: argparse.Namespace
    dataset: DatasetParams
    params: Any
    data: PreparedData
    runtime: Runtime

    @property
    def name(self) -> str:
        """`<stage> <dataset>`, for progress bars and log lines."""
        return f"{self.stage} {self.args.dataset}"

    def params_record(self) -> dict[str, Any]:
        """JSON-able params of the run (fingerprints, metrics files): data set, stage settings and seed."""
        return {**params_dict(self.dataset, *([self.params] if self.params is not None else [])),
                "seed": self.args.seed}


def start(stage: str, ap: argparse.ArgumentParser, argv: Sequence[str] | None) -> Job:
    """Parses argv, loads the stage's params (preset + overrides) and the prepared data, seeds everything; under
    torchrun, joins the process group (every rank runs the whole stage; only rank 0 writes its outputs)."""
    args = ap.parse_args(argv)
    ds, p = load_params(stage, args.dataset, args.params, args.pipeline)
    data = load_prepared(args.data)
    runtime = Runtime.auto(args.seed)
    init_process_group(runtime)
    runtime.seed_everything()
    return Job(stage, args, ds, p, data, runtime)


def normalisation(card: dict[str, Any], dataset_params: Any) -> tuple[list[float], list[float]]:
    """Mean/std from params when the reference prescribes them, else the values prepare measured."""
    mean = dataset_params.mean or card.get("mean")
    std = dataset_params.std or card.get("std")
    if mean is None or std is None:
        raise DeepclustError("prepared data card has no mean/std: re-run the prepare stage")
    return list(mean), list(std)


def params_dict(*models: Any) -> dict[str, Any]:
    """JSON-able dump of params models (for fingerprints and metrics files)."""
    return {type(m).__name__: m.model_dump(mode="json") for m in models}


def code_files() -> list[Path]:
    """The repository's modules this process has imported: the code part of a training fingerprint."""
    files = {Path(str(m.__file__)).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
    return sorted(f for f in files if f.suffix == ".py" and f.is_relative_to(ROOT)
                  and f.relative_to(ROOT).parts[0] in ("deepclust", "stages"))


def read_features(path: Path, view: str, split: str = "train") -> tuple[np.ndarray, str]:
    """One view (`backbone` or `head`) of the embed stage's features; backbone when there is no head.

    Returns:
        (features, the view actually read).
    """
    with np.load(require_file(path, "features (run the embed stage)")) as f:
        key = f"{split}_{view}"
        if key not in f.files:
            if view != "head" or f"{split}_backbone" not in f.files:
                raise DeepclustError(f"{path} has no {key} (it holds {sorted(f.files)})")
            print(f"[features] {path} has no projection head (no network upstream): using the backbone view")
            return f[f"{split}_backbone"], "backbone"
        return f[key], view


def split_features(job: Job, view: str) -> tuple[dict[str, Any], list[np.ndarray], str]:
    """The splits to predict (train, and test unless the card says test is train) and their features.

    Returns:
        (split name -> prepared split, one feature array per split in that order, the view actually read).
    """
    data, path = job.data, job.args.features
    train, view = read_features(path, view, "train")
    if len(train) != len(data.train):
        raise DeepclustError(f"{path} has {len(train)} rows, the training split {len(data.train)}"
                             " (re-run the embed stage)")
    splits = {"train": data.train} if data.card.get("test_is_train") else {"train": data.train, "test": data.test}
    return splits, [train] + [read_features(path, view, s)[0] for s in list(splits)[1:]], view


__all__ = ["Job", "entry", "parser", "start"]
