"""What the stages share: params + data + runtime set-up, model inputs, features; argv lives in stages/cli.py."""

from __future__ import annotations

import argparse
import dataclasses
import json
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
from stages.params import StageParams
from stages.resolve import Resolved, keys_digest, load, problems

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Job:
    """A stage run: its argv, resolved params, prepared data and seeded runtime."""

    stage: str
    args: argparse.Namespace
    resolved: Resolved
    data: PreparedData
    runtime: Runtime

    @property
    def params(self) -> Any:
        """The stage's validated settings (preset + overrides, K filled in)."""
        return self.resolved.settings

    @property
    def facts(self) -> dict[str, Any]:
        """The data facts the stage reads (`num_classes`, `mean`, `std`) that the data set states."""
        return self.resolved.facts

    @property
    def name(self) -> str:
        """`<stage> <dataset>`, for progress bars and log lines."""
        return f"{self.stage} {self.args.dataset}"

    def params_record(self) -> dict[str, Any]:
        """What the run used (params.json; the params part of a training fingerprint): settings, facts, seed."""
        return self.resolved.record(self.args.seed)


def start(model: type[StageParams], ap: argparse.ArgumentParser, argv: Sequence[str] | None) -> Job:
    """Parses argv, resolves the settings of MODEL's kind (preset + overrides), loads the prepared data and checks
    the settings against it (before any training), seeds everything; under torchrun, joins the process group
    (every rank runs the whole stage; only rank 0 writes its outputs)."""
    args = ap.parse_args(argv)
    assert model.KIND is not None, f"{model.__name__} declares no stage kind"
    stage = model.KIND.name
    resolved = with_estimated_k(load(stage, args.dataset, args.params, args.pipeline), args.k)
    if args.keys is not None and args.keys != keys_digest(resolved.keys):
        raise DeepclustError(f"{args.params}: the keys {stage} reads on {args.dataset} ({', '.join(resolved.keys)}) "
                             "are not the ones its dvc.yaml lists: run `python -m pipelines sync`")
    data = load_prepared(args.data)
    found = problems(resolved, len(data.train))
    if found:
        raise DeepclustError(f"{args.params}: {found[0]}")
    runtime = Runtime.auto(args.seed)
    init_process_group(runtime)
    runtime.seed_everything()
    return Job(stage, args, resolved, data, runtime)


def with_estimated_k(resolved: Resolved, k_file: Path | None) -> Resolved:
    """RESOLVED with K taken from `estimate_k`'s k.json when the data set's K is `auto` (its settings leave
    `num_clusters` unset); the estimate enters params.json and the training fingerprint like any setting."""
    if resolved.settings.model_dump().get("num_clusters", 0) is not None:  # a kind without K, or K given
        return resolved
    if k_file is None:
        raise DeepclustError(f"{resolved.kind} on {resolved.dataset}: K is `auto` but no --k (estimate_k's k.json) "
                             "was given; run it through its dvc.yaml (`python -m pipelines run ...`)")
    k = int(json.loads(require_file(k_file, "estimated K (run the estimate_k stage)").read_text())["k"])
    settings = resolved.settings.model_copy(update={"num_clusters": k})
    return dataclasses.replace(resolved, settings=settings, facts={**resolved.facts, "num_classes": k})


def normalisation(card: dict[str, Any], facts: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Mean/std from the data set's facts when the reference prescribes them, else the values prepare measured."""
    mean = facts.get("mean") or card.get("mean")
    std = facts.get("std") or card.get("std")
    if mean is None or std is None:
        raise DeepclustError("prepared data card has no mean/std: re-run the prepare stage")
    return list(mean), list(std)


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
