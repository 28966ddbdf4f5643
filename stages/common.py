"""What the stages share: params + data + runtime set-up, model inputs, features; argv lives in stages/cli.py."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepclust.data import PreparedData, load_prepared
from deepclust.engine import Runtime
from deepclust.errors import DeepclustError
from deepclust.io import require_file
from deepclust.transforms import EvalTransform, FeatureTransform
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
    """Parses argv, loads the stage's params (preset + overrides) and the prepared data, seeds everything."""
    args = ap.parse_args(argv)
    ds, p = load_params(stage, args.dataset, args.params, args.pipeline)
    data = load_prepared(args.data)
    runtime = Runtime.auto(args.seed)
    runtime.seed_everything()
    return Job(stage, args, ds, p, data, runtime)


def normalisation(card: dict[str, Any], dataset_params: Any) -> tuple[list[float], list[float]]:
    """Mean/std from params when the reference prescribes them, else the values prepare measured."""
    mean = dataset_params.mean or card.get("mean")
    std = dataset_params.std or card.get("std")
    if mean is None or std is None:
        raise DeepclustError("prepared data card has no mean/std: re-run the prepare stage")
    return list(mean), list(std)


def mean_std(job: Job) -> dict[str, list[float]]:
    """The job's normalisation as transform keywords."""
    mean, std = normalisation(job.data.card, job.dataset)
    return {"mean": mean, "std": std}


def params_dict(*models: Any) -> dict[str, Any]:
    """JSON-able dump of params models (for fingerprints and metrics files)."""
    return {type(m).__name__: m.model_dump(mode="json") for m in models}


def code_files() -> list[Path]:
    """The repository's modules this process has imported: the code part of a training fingerprint."""
    files = {Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
    return sorted(f for f in files if f.suffix == ".py" and f.is_relative_to(ROOT)
                  and f.relative_to(ROOT).parts[0] in ("deepclust", "stages"))


@dataclass
class ModelInputs:
    """What a model consumes, per split: uint8 images (N, H, W, C), or float feature rows (N, D)."""

    train: torch.Tensor
    test: torch.Tensor
    images: bool

    def eval_transform(self, job: Job) -> Callable[..., torch.Tensor]:
        """Images: normalise; feature rows: L2-normalise (mining is by cosine, so the heads see the same)."""
        if self.images:
            return EvalTransform(*normalisation(job.data.card, job.dataset))
        return FeatureTransform()


def model_inputs(job: Job, identity_backbone: bool, features: Path | None = None) -> ModelInputs:
    """The inputs of a network with the given backbone.

    A convolutional backbone reads the prepared images. An identity backbone reads feature rows: the
    upstream embed stage's (`--features`, when no network is upstream: scan-on-features), else the
    prepared feature table itself (a `features` data set, whose pretext stage writes the identity).
    """
    data = job.data
    if not identity_backbone:
        if data.train.images is None:
            raise DeepclustError(f"data set {job.args.dataset!r} is a feature table: this stage needs a model "
                                 "trained on it (use scan-on-features, or a pipeline whose pretext runs on it)")
        return ModelInputs(torch.from_numpy(data.train.images), torch.from_numpy(data.test.images), True)
    if features is not None:
        with np.load(require_file(features, "features (run the embed stage)")) as f:
            return ModelInputs(torch.from_numpy(f["train_backbone"]), torch.from_numpy(f["test_backbone"]), False)
    if data.train.features is None:
        raise DeepclustError(f"an identity backbone needs feature rows, and data set {job.args.dataset!r} has "
                             "images: give the stage --features (an embed stage upstream)")
    return ModelInputs(torch.from_numpy(data.train.features), torch.from_numpy(data.test.features), False)


def is_identity(backbone: torch.nn.Module) -> bool:
    """True for the backbone of a feature table (the input is the representation)."""
    return getattr(backbone, "arch", {}).get("name") == "identity"


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


__all__ = ["Job", "ModelInputs", "entry", "parser", "start"]
