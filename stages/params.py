"""Validated params: one frozen model per stage, one per data set; unknown keys and wrong types are errors.

Each field's description says what it does, its reference value and how to tune it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


class _FileSource(Frozen):
    train: str = Field(description="Training file or folder, relative to the repository root.")
    test: str | None = Field(None, description="Test file or folder; None: the training split is also scored.")


class ParquetSource(_FileSource):
    kind: Literal["parquet"]
    image_size: int | None = Field(None, ge=1, description="Resize every image to this square size; None keeps it.")
    skip_unreadable: bool = Field(
        False, description="Skip images that cannot be decoded (each one listed in the data set card) instead of "
        "stopping at the first; off by default so a damaged file is noticed.")


class FolderSource(ParquetSource):
    kind: Literal["folder"]  # type: ignore[assignment]


class FeaturesSource(_FileSource):
    kind: Literal["features"]
    train_labels: str | None = Field(None, description="Integer labels (.npy) of a .npy feature table, optional.")
    test_labels: str | None = Field(None, description="Integer labels (.npy) of the test table, optional.")
    label_column: str | None = Field(None, description="Label column of a Parquet/CSV table (default: `label`).")


Source = Annotated[DigitsSource | TorchvisionSource | ParquetSource | FolderSource | FeaturesSource,
                   Field(discriminator="kind")]


class DatasetParams(Frozen):
    preset: str = Field(description="Name of the `<stage>.<preset>` blocks this data set uses (its own name for "
                        "the built-in ones; e.g. cifar10-parquet for your own 32x32 photos on a CPU).")
    source: Source
    num_classes: int = Field(ge=2, description="Number of clusters to find (the number of classes when labelled).")
    mean: list[float] | None = Field(None, description="Per-channel normalisation mean; None: computed at prepare.")
    std: list[float] | None = Field(None, description="Per-channel normalisation std; None: computed at prepare.")
    overrides: dict[str, dict[str, Any]] = Field(
        {}, description="Per-stage settings that replace the preset's for this data set, e.g. {scan: {epochs: 10}}.")


class AugmentParams(Frozen):
    crop_scale: tuple[float, float] = Field((0.2, 1.0), description="RandomResizedCrop area range (SCAN: 0.2-1).")
    hflip_prob: float = Field(0.5, ge=0, le=1, description="Horizontal flip probability; 0 for digits.")
    jitter_prob: float = Field(0.8, ge=0, le=1, description="Colour jitter probability (SimCLR: 0.8).")
    brightness: float = Field(0.4, ge=0, description="Colour jitter brightness (SCAN: 0.4).")
    contrast: float = Field(0.4, ge=0, description="Colour jitter contrast (SCAN: 0.4).")
    saturation: float = Field(0.4, ge=0, description="Colour jitter saturation (SCAN: 0.4).")
    hue: float = Field(0.1, ge=0, le=0.5, description="Colour jitter hue (SCAN: 0.1).")
    grayscale_prob: float = Field(0.2, ge=0, le=1, description="Random grayscale probability (SCAN: 0.2).")
    rotation: float = Field(0.0, ge=0, le=180, description="Max random rotation in degrees (IIC on MNIST: 25).")
    hue_space: Literal["hsv", "yiq"] = Field("hsv", description="hsv: torchvision's HSV hue (the reference); yiq: "
                                             "a turn of the YIQ chroma plane, one colour matrix (DALI's hue), faster "
                                             "on CPU (docs/speed.md).")


class PretextParams(Frozen):
    backbone: str = Field(description="resnet18 | resnet34 | resnet18_stl | small_cnn | small_cnn_s2.")
    width: int = Field(32, ge=1, description="small_cnn(_s2) width (ignored by the ResNets).")
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


class EmbedParams(Frozen):
    batch_size: int = Field(512, ge=1, description="Images per forward pass.")


class MineParams(Frozen):
    num_neighbors: int = Field(20, ge=1, description="Neighbours kept per sample (SCAN: 20).")
    features: Literal["head", "backbone"] = Field(
        "head", description="SCAN mines the 128-d head output; backbone features were better on small CPU budgets. "
        "Without a network upstream (scan-on-features) both mean the input itself.")
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
    head: Literal["linear", "mlp"] = Field(
        "linear", description="Clustering head: SCAN's linear layer, or an MLP (hidden_dim, BN, ReLU) for a frozen "
        "representation such as a feature table (scan-on-features).")
    hidden_dim: int = Field(512, ge=1, description="Hidden size of the MLP head.")
    update_head_only: bool = Field(False, description="Freeze the backbone (ImageNet recipe).")
    selection_neighbors: int = Field(5, ge=1, description="Neighbours in the selection loss (reference: 5).")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    augment: StrongAugmentParams = StrongAugmentParams()


class SelflabelParams(Frozen):
    epochs: int = Field(ge=0, description="Self-labelling epochs (200; STL-10 100); 0 skips the step.")
    batch_size: int = Field(ge=2, description="Images per batch (1000).")
    lr: float = Field(1e-4, gt=0, description="Adam learning rate, constant (1e-4).")
    weight_decay: float = Field(1e-4, ge=0, description="Adam weight decay (1e-4).")
    threshold: float = Field(0.99, gt=0, lt=1, description="Confidence for a pseudo-label (0.99).")
    min_confident: float = Field(
        0.1, ge=0, lt=1, description="When fewer training samples than this fraction pass `threshold` at the start, "
        "the threshold drops to the confidence this fraction reaches (said in the log and metrics); 0 never adapts.")
    guard: bool = Field(True, description="Keep the upstream clustering when self-labelling makes it worse by "
                        "SCAN's unlabelled loss on the neighbours (or collapses it), and say so.")
    class_balanced: bool = Field(True, description="Inverse-frequency weights among confident samples.")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    augment: StrongAugmentParams = StrongAugmentParams()


class KmeansParams(Frozen):
    features: Literal["backbone", "head"] = Field(
        "backbone", description="Which features of the upstream embed stage to cluster (the input itself when "
        "there is no network upstream).")
    num_clusters: int | None = Field(None, ge=2, description="K; None uses datasets.<ds>.num_classes.")
    l2_normalize: bool = Field(False, description="L2-normalise the features first (after PCA when both are set).")
    pca_dim: int | None = Field(None, ge=1, description="PCA to this many dimensions first (DeepCluster: 256).")
    whiten: bool = Field(False, description="Whiten the PCA output (DeepCluster: yes).")
    spherical: bool = Field(False, description="Spherical k-means: unit-norm centroids, cosine assignment.")
    niter: int = Field(50, ge=1, description="Lloyd iterations per run.")
    nredo: int = Field(3, ge=1, description="Runs from different seeds; the lowest inertia is kept.")
    empty_cluster: Literal["split", "farthest", "keep"] = Field(
        "split", description="An empty cluster takes half of a large one (faiss's rule), the farthest point, or "
        "keeps its centroid.")


class BaselineParams(Frozen):
    method: Literal["spectral", "agglomerative", "nmf"] = Field(
        "spectral", description="Spectral clustering on a kNN graph, agglomerative with Ward linkage, or NMF "
        "(cluster = largest coefficient; needs non-negative features such as pixels).")
    features: Literal["backbone", "head"] = Field(
        "backbone", description="Which features of the upstream embed stage to cluster (the input itself when "
        "there is no network upstream).")
    num_clusters: int | None = Field(None, ge=2, description="K; None uses datasets.<ds>.num_classes.")
    max_samples: int = Field(
        10000, ge=2, description="Spectral and agglomerative fit on at most this many training rows (a seeded "
        "subset; their cost grows as N^2); the other rows take the majority cluster of their 10 nearest fitted "
        "rows. NMF fits on all of them.")
    n_neighbors: int = Field(10, ge=1, description="Neighbours per row of spectral's affinity graph (10).")
    nmf_max_iter: int = Field(400, ge=1, description="Most NMF iterations (400); raise it if NMF warns that it "
                              "did not converge.")


class _Optimised(Frozen):
    epochs: int = Field(ge=1, description="Training epochs.")
    batch_size: int = Field(ge=2, description="Samples per batch (256).")
    lr: float = Field(gt=0, description="Base learning rate.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (0.9).")
    weight_decay: float = Field(0.0, ge=0, description="Weight decay.")


class AEPretrainParams(_Optimised):
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    hidden_dims: list[int] = Field([500, 500, 2000, 10], min_length=1,
                                   description="Encoder sizes; the last is the embedding (DEC: 500-500-2000-10).")
    optimizer: Literal["sgd", "adam"] = Field(
        "adam", description="sgd (DEC-keras: lr 1, momentum 0.9, 300 epochs) or adam (lr 1e-3, fewer epochs).")
    schedule: Literal["constant", "cosine"] = Field("cosine", description="Learning-rate schedule over the run.")
    corruption: float = Field(0.0, ge=0, lt=1, description="Denoising: input coordinates zeroed (DEC's SAE: 0.2).")


class DecParams(Frozen):
    num_clusters: int | None = Field(None, ge=2, description="K; None uses datasets.<ds>.num_classes.")
    alpha: float = Field(1.0, gt=0, description="Student-t degrees of freedom (1).")
    reconstruction: bool = Field(False, description="IDEC: keep training the decoder, loss L_r + gamma KL.")
    gamma: float = Field(0.1, gt=0, description="IDEC's weight of the KL term (0.1).")
    optimizer: Literal["sgd", "adam"] = Field("sgd", description="DEC: SGD lr 0.01 momentum 0.9; IDEC: Adam 1e-3.")
    lr: float = Field(0.01, gt=0, description="Learning rate (DEC 0.01 SGD; IDEC 0.001 Adam).")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (0.9).")
    batch_size: int = Field(256, ge=2, description="Samples per batch (256).")
    update_interval: int = Field(140, ge=1, description="Batches between refreshes of the target P (MNIST: 140).")
    tol: float = Field(0.001, ge=0, lt=1, description="Stop when fewer labels than this fraction change (0.1%).")
    max_iterations: int = Field(20000, ge=1, description="Upper bound on batches (DEC-keras maxiter 2e4).")
    kmeans_nredo: int = Field(20, ge=1, description="k-means restarts of the centroid initialisation (20).")


class DeepClusterParams(_Optimised):
    backbone: str = Field(description="resnet18 | resnet34 | resnet18_stl | small_cnn | small_cnn_s2.")
    width: int = Field(32, ge=1, description="small_cnn(_s2) width (ignored by the ResNets).")
    sobel: bool = Field(False, description="Frozen grayscale + Sobel input filter (the reference's --sobel).")
    num_clusters: int = Field(ge=2, description="k of the per-epoch k-means (ImageNet 10000; CIFAR ~100-300).")
    pca_dim: int = Field(256, ge=1, description="PCA (whitened) size before k-means, capped at the feature size.")
    kmeans_niter: int = Field(20, ge=1, description="Lloyd iterations per epoch (20).")
    reassign: float = Field(1.0, gt=0, description="Samples per epoch as a multiple of N, drawn label-uniformly.")
    augment: AugmentParams = AugmentParams(jitter_prob=0.0, grayscale_prob=0.0)


class PclParams(_Optimised):
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    backbone: str = Field(description="resnet18 | resnet34 | resnet18_stl | small_cnn | small_cnn_s2.")
    width: int = Field(32, ge=1, description="small_cnn(_s2) width (ignored by the ResNets).")
    min_lr_fraction: float = Field(0.0, ge=0, le=1, description="Final lr / lr of the cosine schedule.")
    temperature: float = Field(0.2, gt=0, description="InfoNCE tau and the mean concentration phi (0.2).")
    encoder_momentum: float = Field(0.99, ge=0, lt=1, description="Key encoder EMA (ImageNet 0.999, CIFAR 0.99).")
    queue_size: int = Field(4096, ge=1, description="Negatives in the queue (16384; CIFAR 4096).")
    warmup_epochs: int = Field(20, ge=0, description="InfoNCE-only epochs before the first E-step (20).")
    num_clusters: list[int] = Field(min_length=1, description="Granularities K_m (CIFAR: 100, 250, 500).")
    hidden_dim: int = Field(512, ge=1, description="Projection MLP hidden size.")
    output_dim: int = Field(128, ge=1, description="Embedding size (128).")
    kmeans_niter: int = Field(20, ge=1, description="Lloyd iterations per granularity (20).")
    kmeans_nredo: int = Field(1, ge=1, description="k-means restarts per granularity (reference 5; 1-5 suffice).")
    alpha: float = Field(10.0, gt=0, description="Concentration smoothing alpha (10).")
    augment: AugmentParams = AugmentParams()


class PairClusteringParams(_Optimised):
    """What CC, DCDC and IIC share: a backbone trained with clustering heads on two views of each image."""

    backbone: str = Field(description="resnet18 | resnet34 | resnet18_stl | small_cnn | small_cnn_s2.")
    width: int = Field(32, ge=1, description="small_cnn(_s2) width (ignored by the ResNets).")
    sobel: bool = Field(False, description="Frozen grayscale + Sobel input filter (IIC, DCDC on colour images).")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    optimizer: Literal["sgd", "adam"] = Field("adam", description="Adam in CC (3e-4), DCDC (1e-3), IIC (1e-4).")
    num_clusters: int | None = Field(None, ge=2, description="K of the predicting head; None: the data set's classes.")
    overcluster: int | None = Field(
        None, ge=2, description="K of the auxiliary overclustering head (IIC: 70 CIFAR-10, 50 MNIST; DCDC: 70); None: "
        "no such head.")
    overcluster_epochs: int = Field(1, ge=1, description="Passes on the overclustering head per cycle (1).")
    cluster_epochs: int = Field(1, ge=1, description="Passes on the K head per cycle (IIC: head_B_epochs 2; DCDC 1).")
    num_heads: int = Field(1, ge=1, description="Sub-heads per head (IIC: 5); the one with the lowest loss is kept.")
    hidden_dim: int | None = Field(None, ge=1, description="Hidden size of MLP sub-heads (CC: 512); None: linear.")
    repeats: int = Field(1, ge=1, description="Views per image and batch (DCDC data_nrepeat 3; IIC 3-5).")
    selection_samples: int = Field(
        10000, ge=1, description="Training samples scored after each K-head epoch (collapse guard) for the selection.")
    original: AugmentParams | None = Field(
        None, description="The first ('original') view's augmentation (DCDC, IIC: a crop); None: like `augment`.")
    augment: AugmentParams = AugmentParams()


class CCParams(PairClusteringParams):
    instance_temperature: float = Field(0.5, gt=0, description="Instance NT-Xent temperature tau_I (0.5).")
    cluster_temperature: float = Field(1.0, gt=0, description="Cluster NT-Xent temperature tau_C (1.0).")
    balance_weight: float = Field(1.0, ge=0, description="Weight of log K - H(p) per view (1; raise on collapse).")


class DCDCParams(PairClusteringParams):
    temperature: float = Field(0.5, gt=0, description="Temperature of both contrasts (dc_lamda 0.5).")
    balance_weight: float = Field(1.0, ge=0, description="Weight of log K - H(p) (1).")


class IICParams(PairClusteringParams):
    lamb: float = Field(1.0, gt=0, description="Marginal weight lambda (1: mutual information; >1: more balanced).")


class IDFDParams(_Optimised):
    backbone: str = Field(description="resnet18 | resnet34 | resnet18_stl | small_cnn | small_cnn_s2.")
    width: int = Field(32, ge=1, description="small_cnn(_s2) width (ignored by the ResNets).")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    temperature: float = Field(1.0, gt=0, description="Instance discrimination tau (IDFD's code: 1.0).")
    decorrelation_temperature: float = Field(2.0, gt=0, description="Feature decorrelation tau2 (2.0).")
    alpha: float = Field(1.0, ge=0, description="Weight of feature decorrelation (1.0).")
    bank_momentum: float = Field(0.5, ge=0, lt=1, description="Memory bank update momentum (0.5).")
    output_dim: int = Field(128, ge=1, description="Embedding size d (128).")
    lr_milestones: list[int] = Field([], description="Epochs at which the lr drops x0.1 (600, 950, 1300, 1650).")
    augment: AugmentParams = AugmentParams(hflip_prob=0.0)


class EvaluateParams(Frozen):
    grid_per_cluster: int = Field(8, ge=1, description="Sample images per cluster in clusters.png.")


STAGE_PARAMS: dict[str, type[Frozen]] = {
    "pretext": PretextParams, "embed": EmbedParams, "mine": MineParams, "scan": ScanParams,
    "selflabel": SelflabelParams, "kmeans": KmeansParams, "baseline": BaselineParams, "evaluate": EvaluateParams,
    "ae_pretrain": AEPretrainParams, "dec": DecParams, "deepcluster": DeepClusterParams, "pcl": PclParams,
    "cc": CCParams, "dcdc": DCDCParams, "iic": IICParams, "idfd": IDFDParams,
}


def _validate(model: type[Frozen], raw: Any, where: str, path: Path, merged_from: Sequence[str] = ()) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join([where, *(str(p) for p in err["loc"])])
        got = f", got {err['input']!r}" if err["type"] != "missing" else ""
        also = f" (merged with {', '.join(merged_from)})" if merged_from else ""
        raise DeepclustError(f"{path}: {key}: {err['msg']}{got}{also}") from None


def merged(base: Mapping[str, Any], *overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """BASE with each override applied in turn; nested mappings merge key by key, other values replace."""
    out = dict(base)
    for override in overrides:
        for key, value in (override or {}).items():
            out[key] = merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) \
                else value
    return out


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise DeepclustError(f"params file {path} not found")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DeepclustError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None


def load_params(stage: str | None, dataset: str, path: str | Path = "params.yaml",
                pipeline: str | None = None) -> tuple[DatasetParams, Any]:
    """Reads `datasets.<dataset>` and the stage's settings from params.yaml and validates both.

    The stage's settings are `<stage>.<preset>` (the data set's preset), updated by the data set's
    `overrides.<stage>` and then by the pipeline's `pipelines.<pipeline>.<stage>`, in that order.

    Raises:
        DeepclustError: One line naming the file and dotted key at fault.
    """
    p = Path(path)
    raw = _read(p)
    datasets = raw.get("datasets") or {}
    if dataset not in datasets:
        raise DeepclustError(f"unknown data set {dataset!r}; {p} defines {sorted(datasets)}")
    ds = _validate(DatasetParams, datasets[dataset], f"datasets.{dataset}", p)
    if stage is None or stage not in STAGE_PARAMS:
        return ds, None
    section = raw.get(stage) or {}
    if ds.preset not in section:
        raise DeepclustError(f"{p}: {stage}.{ds.preset} is missing (data set {dataset!r} uses preset "
                             f"{ds.preset!r}; {stage} has {sorted(section)})")
    where = f"{stage}.{ds.preset}"
    pipe_override = None
    if pipeline is not None:
        spec = (raw.get("pipelines") or {}).get(pipeline)
        if spec is None:
            raise DeepclustError(f"{p}: unknown pipeline {pipeline!r} (not under `pipelines`)")
        pipe_override = spec.get(stage) if isinstance(spec, Mapping) else None
    extra = [f"datasets.{dataset}.overrides.{stage}"] * (stage in ds.overrides)
    extra += [f"pipelines.{pipeline}.{stage}"] * (pipe_override is not None)
    settings = merged(section[ds.preset] or {}, ds.overrides.get(stage), pipe_override)
    return ds, _validate(STAGE_PARAMS[stage], settings, where, p, extra)
