"""The settings every stage kind builds on: the frozen base that declares a kind, the data sets' facts, the
augmentations and the optimiser settings several kinds share. Each kind's own settings model, which declares the
kind (its inputs, outputs, the data facts it reads, how it selects), is in stages/kinds/<kind>.py; how a stage's
settings are put together from params.yaml: stages/resolve.py. Unknown keys and wrong types are errors; each
field's description says what it does, its reference value and how to tune it.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stages.kinds import KINDS, Kind


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageParams(Frozen):
    """The settings of one stage kind. A subclass that passes `kind=Kind(...)` declares that kind (registered in
    `stages.kinds.KINDS` with this model); its subclasses without `kind=` are shared bases."""

    KIND: ClassVar[Kind | None] = None

    def __init_subclass__(cls, kind: Kind | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            if kind.name in KINDS:
                raise ValueError(f"stage kind {kind.name!r} is declared twice ({KINDS[kind.name].params.__name__}, "
                                 f"{cls.__name__})")
            cls.KIND = Kind(**{**kind.__dict__, "params": cls})
            KINDS[kind.name] = cls.KIND

    def problems(self, n_train: int) -> list[str]:
        """What cannot work on a training split of N_TRAIN samples (`key: reason`), checked before any training.
        (A batch larger than the data is not one: batches are clamped to the samples an epoch draws.)"""
        found = []
        k = getattr(self, "num_clusters", None)
        for value in (k if isinstance(k, list) else [k]):
            if isinstance(value, int) and value >= n_train:
                found.append(f"num_clusters: {value} clusters need more than the {n_train} training samples")
        return found


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


class AutoK(Frozen):
    auto: tuple[int, int] = Field(description="The range of K the estimate may choose, e.g. [2, 50].")

    @model_validator(mode="after")
    def _a_range(self) -> AutoK:
        if not 2 <= self.auto[0] < self.auto[1]:
            raise ValueError(f"auto: expected [low, high] with 2 <= low < high, got {list(self.auto)}")
        return self


AUTO_K_RANGE = (2, 50)  # `num_classes: auto` without a range


class DatasetParams(Frozen):
    preset: str = Field(description="Name of the `<stage>.<preset>` blocks this data set uses (its own name for "
                        "the built-in ones; e.g. cifar10-parquet for your own 32x32 photos on a CPU).")
    source: Source
    num_classes: Annotated[int, Field(ge=2)] | Literal["auto"] | AutoK = Field(
        description="Number of clusters to find (the number of classes when labelled); `auto` (or `{auto: [2, 50]}`) "
        "estimates it from the features without labels: an `estimate_k` stage runs before the first stage that "
        "needs K, and those stages read its choice (stages/kinds/estimate_k.py says how).")
    mean: list[float] | None = Field(None, description="Per-channel normalisation mean; None: computed at prepare.")
    std: list[float] | None = Field(None, description="Per-channel normalisation std; None: computed at prepare.")
    overrides: dict[str, dict[str, Any]] = Field(
        {}, description="Per-stage settings that replace the preset's for this data set, e.g. {scan: {epochs: 10}}.")

    @property
    def k_range(self) -> tuple[int, int] | None:
        """The range an estimate of K chooses from, or None when K is given."""
        if self.num_classes == "auto":
            return AUTO_K_RANGE
        return self.num_classes.auto if isinstance(self.num_classes, AutoK) else None


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


class StrongAugmentParams(Frozen):
    num_ops: int = Field(4, ge=0, description="Random ops per image (SCAN: 4 of 14).")
    cutout_max: int = Field(16, ge=1, description="Max Cutout side in pixels (CIFAR 16, STL 32).")
    hflip_prob: float = Field(0.5, ge=0, le=1, description="Horizontal flip probability; 0 for digits.")


class _Optimised(StageParams):
    epochs: int = Field(ge=1, description="Training epochs.")
    batch_size: int = Field(ge=2, description="Samples per batch (256).")
    lr: float = Field(gt=0, description="Base learning rate.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (0.9).")
    weight_decay: float = Field(0.0, ge=0, description="Weight decay.")


class PairClusteringParams(_Optimised):
    """What CC, DCDC and IIC share: a backbone trained with clustering heads on two views of each image."""

    backbone: str = Field(description="resnet18 | resnet34 | resnet18_stl | small_cnn | small_cnn_s2.")
    width: int = Field(32, ge=1, description="small_cnn(_s2) width (ignored by the ResNets).")
    sobel: bool = Field(False, description="Frozen grayscale + Sobel input filter (IIC, DCDC on colour images).")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    optimizer: Literal["sgd", "adam"] = Field("adam", description="Adam in CC (3e-4), DCDC (1e-3), IIC (1e-4).")
    schedule: Literal["constant", "cosine"] = Field(
        "constant", description="Learning rate over the run: constant (the references) or cosine to 0 by the last "
        "epoch (settles the kept head where a constant rate leaves it jumping between epochs).")
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
    augment: AugmentParams = Field(description="The views' augmentation, stated by every preset (AugmentParams).")
    restart_epoch: int | None = Field(
        None, ge=1, description="After this epoch, if every sub-head of the K head is collapsed (cluster_usage), "
        "training starts over from a new initialisation (and a trial ends); None: never (a preset whose heads sit "
        "collapsed for many epochs before they move, such as IIC on digits, must not set it).")
    restarts: int = Field(2, ge=0, description="The most times `restart_epoch` starts training over.")
    trials: int = Field(
        1, ge=1, description="Initialisations that each train `trial_epochs` epochs; the one with the lowest own "
        "loss (collapsed last) continues to `epochs`, the others are dropped. No labels. Where a method lands in a "
        "good or a merged-classes mode by its initialisation (IIC, CC on MNIST), this buys the good one.")
    trial_epochs: int | None = Field(None, ge=1, description="Epochs of each trial (with `trials` > 1).")

    @model_validator(mode="after")
    def _k_head_is_trained(self) -> PairClusteringParams:
        # Each cycle is `overcluster_epochs` passes on the overclustering head, then `cluster_epochs` on the K head.
        if self.overcluster is not None and self.epochs <= self.overcluster_epochs:
            raise ValueError(f"epochs={self.epochs} never trains the K head (each cycle is {self.overcluster_epochs} "
                             f"overclustering + {self.cluster_epochs} K-head epochs)")
        return self

    @model_validator(mode="after")
    def _trials_end_before_the_run(self) -> PairClusteringParams:
        if self.trials > 1 and not (self.trial_epochs and self.trial_epochs < self.epochs):
            raise ValueError(f"trials={self.trials} needs trial_epochs below epochs={self.epochs} "
                             f"(got {self.trial_epochs})")
        return self
