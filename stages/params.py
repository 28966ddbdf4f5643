"""Validated params: one frozen model per stage, one per data set; unknown keys and wrong types are errors.

Each field's description says what it does, its reference value and how to tune it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deepclust.errors import DeepclustError


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DigitsSource(Frozen):
    kind: Literal["digits"]
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Held-out fraction (digits has no official split).")
    seed: int = Field(0, description="Seed of the stratified split.")


class TorchvisionSource(Frozen):
    kind: Literal["torchvision"]
    name: Literal["cifar10", "cifar20", "stl10", "mnist"]
    download: bool = Field(True, description="Download into the raw-data folder when missing.")


class FileSource(Frozen):
    kind: Literal["parquet", "folder", "features"]
    train: str = Field(description="Training file or folder, relative to the repository root.")
    test: str | None = Field(None, description="Test file or folder; None evaluates on the training split.")


Source = Annotated[DigitsSource | TorchvisionSource | FileSource, Field(discriminator="kind")]


class DatasetParams(Frozen):
    source: Source
    num_classes: int = Field(ge=2, description="Number of classes; the default number of clusters.")
    mean: list[float] | None = Field(None, description="Per-channel normalisation mean; None: computed at prepare.")
    std: list[float] | None = Field(None, description="Per-channel normalisation std; None: computed at prepare.")


class AugmentParams(Frozen):
    crop_scale: tuple[float, float] = Field((0.2, 1.0), description="RandomResizedCrop area range (SCAN: 0.2-1).")
    hflip_prob: float = Field(0.5, ge=0, le=1, description="Horizontal flip probability; 0 for digits.")
    jitter_prob: float = Field(0.8, ge=0, le=1, description="Colour jitter probability (SimCLR: 0.8).")
    brightness: float = Field(0.4, ge=0, description="Colour jitter brightness (SCAN: 0.4).")
    contrast: float = Field(0.4, ge=0, description="Colour jitter contrast (SCAN: 0.4).")
    saturation: float = Field(0.4, ge=0, description="Colour jitter saturation (SCAN: 0.4).")
    hue: float = Field(0.1, ge=0, le=0.5, description="Colour jitter hue (SCAN: 0.1).")
    grayscale_prob: float = Field(0.2, ge=0, le=1, description="Random grayscale probability (SCAN: 0.2).")


class PretextParams(Frozen):
    backbone: str = Field(description="resnet18 | resnet34 | resnet18_stl | small_cnn.")
    width: int = Field(32, ge=1, description="small_cnn width (ignored by the ResNets).")
    epochs: int = Field(ge=1, description="SimCLR epochs (SCAN: 500). More epochs, better neighbours.")
    batch_size: int = Field(ge=2, description="Images per batch (SCAN: 512, i.e. 1024 views).")
    lr: float = Field(gt=0, description="SGD learning rate (SCAN: 0.4 at batch 512).")
    min_lr_fraction: float = Field(0.001, ge=0, le=1, description="Final lr / lr of the cosine (SCAN: 0.1^3).")
    schedule_per_step: bool = Field(False, description="Cosine per step; SCAN updates it once per epoch.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (0.9).")
    weight_decay: float = Field(1e-4, ge=0, description="Weight decay on all parameters (SCAN: 1e-4).")
    temperature: float = Field(0.1, gt=0, description="NT-Xent temperature (SCAN: 0.1).")
    symmetric: bool = Field(False, description="Two-sided NT-Xent; SCAN's code anchors on the first view only.")
    hidden_dim: int = Field(512, ge=1, description="Projection head hidden size (512).")
    output_dim: int = Field(128, ge=1, description="Projection head output size (128).")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    augment: AugmentParams = AugmentParams()
    seed: int = 0


class EmbedParams(Frozen):
    batch_size: int = Field(512, ge=1, description="Images per forward pass.")


class MineParams(Frozen):
    num_neighbors: int = Field(20, ge=1, description="Neighbours kept per sample (SCAN: 20).")
    features: Literal["head", "backbone", "pixels"] = Field(
        "head", description="SCAN mines the 128-d head output; backbone features were better on small CPU budgets; "
        "pixels (raw, L2-normalised) is a baseline, and a fallback where pixel distance is meaningful (MNIST).")
    accuracy_at: list[int] = Field([1, 5, 20, 50], description="K values at which neighbour accuracy is logged.")


class StrongAugmentParams(Frozen):
    num_ops: int = Field(4, ge=0, description="Random ops per image (SCAN: 4 of 14).")
    cutout_max: int = Field(16, ge=1, description="Max Cutout side in pixels (CIFAR 16, STL 32).")
    hflip_prob: float = Field(0.5, ge=0, le=1, description="Horizontal flip probability; 0 for digits.")


class ScanParams(Frozen):
    epochs: int = Field(ge=1, description="SCAN epochs (CIFAR-10: 50; CIFAR-100-20, STL-10: 100).")
    batch_size: int = Field(ge=2, description="Anchors per batch (128; CIFAR-100-20: 512).")
    lr: float = Field(1e-4, gt=0, description="Adam learning rate, constant (1e-4).")
    weight_decay: float = Field(1e-4, ge=0, description="Adam weight decay (1e-4).")
    entropy_weight: float = Field(5.0, ge=0, description="Entropy weight (5.0); lower it for imbalanced data.")
    num_heads: int = Field(1, ge=1, description="Heads trained at once; the lowest unlabelled loss is kept.")
    num_clusters: int | None = Field(None, ge=2, description="Clusters; None uses datasets.<ds>.num_classes.")
    update_head_only: bool = Field(False, description="Freeze the backbone (ImageNet recipe).")
    selection_neighbors: int = Field(5, ge=1, description="Neighbours in the selection loss (reference: 5).")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    augment: StrongAugmentParams = StrongAugmentParams()
    seed: int = 0


class SelflabelParams(Frozen):
    epochs: int = Field(ge=0, description="Self-labelling epochs (200; STL-10 100); 0 skips the step.")
    batch_size: int = Field(ge=2, description="Images per batch (1000).")
    lr: float = Field(1e-4, gt=0, description="Adam learning rate, constant (1e-4).")
    weight_decay: float = Field(1e-4, ge=0, description="Adam weight decay (1e-4).")
    threshold: float = Field(0.99, gt=0, lt=1, description="Confidence for a pseudo-label (0.99).")
    class_balanced: bool = Field(True, description="Inverse-frequency weights among confident samples.")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    augment: StrongAugmentParams = StrongAugmentParams()
    seed: int = 0


class EvaluateParams(Frozen):
    batch_size: int = Field(512, ge=1, description="Images per forward pass.")
    grid_per_cluster: int = Field(8, ge=1, description="Sample images per cluster in clusters.png.")
    kmeans_baselines: bool = Field(True, description="Also report k-means on raw pixels and on pretext features.")
    seed: int = 0


STAGE_PARAMS: dict[str, type[Frozen]] = {
    "pretext": PretextParams, "embed": EmbedParams, "mine": MineParams, "scan": ScanParams,
    "selflabel": SelflabelParams, "evaluate": EvaluateParams,
}


def _validate(model: type[Frozen], raw: Any, where: str, path: Path) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join([where, *(str(p) for p in err["loc"])])
        got = f", got {err['input']!r}" if err["type"] != "missing" else ""
        raise DeepclustError(f"{path}: {key}: {err['msg']}{got}") from None


def load_params(stage: str | None, dataset: str, path: str | Path = "params.yaml") -> tuple[DatasetParams, Any]:
    """Reads `datasets.<dataset>` and `<stage>.<dataset>` from params.yaml and validates both.

    Raises:
        DeepclustError: One line naming the file and dotted key at fault.
    """
    p = Path(path)
    if not p.exists():
        raise DeepclustError(f"params file {p} not found")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DeepclustError(f"{p}: not valid YAML: {str(exc).splitlines()[0]}") from None
    datasets = raw.get("datasets") or {}
    if dataset not in datasets:
        raise DeepclustError(f"unknown data set {dataset!r}; {p} defines {sorted(datasets)}")
    ds = _validate(DatasetParams, datasets[dataset], f"datasets.{dataset}", p)
    if stage is None or stage not in STAGE_PARAMS:
        return ds, None
    section = raw.get(stage) or {}
    if dataset not in section:
        raise DeepclustError(f"{p}: {stage}.{dataset} is missing (stage {stage!r} has no settings for it)")
    return ds, _validate(STAGE_PARAMS[stage], section[dataset], f"{stage}.{dataset}", p)
