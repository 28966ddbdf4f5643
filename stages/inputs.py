"""What a stage's network consumes: images (with their normalisation) or feature rows, per split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from deepclust.errors import DeepclustError
from deepclust.io import require_file
from deepclust.transforms import EvalTransform, FeatureTransform
from stages.common import Job, normalisation


@dataclass
class ModelInputs:
    """What a model consumes, per split: uint8 images (N, H, W, C), or float feature rows (N, D)."""

    train: torch.Tensor
    test: torch.Tensor
    images: bool
    input_scale: float | None = None

    def eval_transform(self, job: Job) -> Callable[..., torch.Tensor]:
        """Images: normalise (or, with `input_scale`, pixel values times it: DEC-keras's x / 255); feature rows:
        L2-normalise (mining is by cosine, so the heads see the same)."""
        if self.images:
            mean, std = normalisation(job.data.card, job.facts)
            if self.input_scale is not None:  # EvalTransform divides [0, 1] values by std: 255 s x / 255 = s x
                return EvalTransform([0.0] * len(mean), [1.0 / (255.0 * self.input_scale)] * len(mean))
            return EvalTransform(mean, std)
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


def network_inputs(job: Job, backbone: torch.nn.Module, features: Path | None = None) -> ModelInputs:
    """The inputs of any backbone: a convolutional one reads the images; a flat one (`mlp`, `identity`) reads
    the upstream features when given, else the prepared data (images, which it flattens, or the table), at the
    pixel scale its `arch` records (`input_scale`, DEC's autoencoder) when it has one."""
    arch = getattr(backbone, "arch", {})
    if arch.get("name") not in ("mlp", "identity"):
        return model_inputs(job, False)
    if features is not None or job.data.train.images is None:
        if arch.get("input_scale") is not None:
            raise DeepclustError("input_scale is a pixel scale: it applies to images, not to feature rows (drop "
                                 "ae_pretrain's input_scale for this data set or pipeline)")
        return model_inputs(job, True, features)
    inputs = model_inputs(job, False)
    inputs.input_scale = arch.get("input_scale")
    return inputs


def training_images(job: Job) -> torch.Tensor:
    """The images a representation learner trains on: the training split, plus the unlabeled one when present
    (STL-10's 100k), as uint8 (N, H, W, C)."""
    data = job.data
    if data.train.images is None:
        raise DeepclustError(f"data set {job.args.dataset!r} is a feature table: {job.stage} trains a convolutional "
                             "network on images (cluster a table with kmeans, scan-on-features or dec)")
    parts = [data.train.images] + ([data.unlabeled.images] if data.unlabeled is not None else [])
    return torch.from_numpy(np.concatenate([part for part in parts if part is not None]))


def is_identity(backbone: torch.nn.Module) -> bool:
    """True for the backbone of a feature table (the input is the representation)."""
    return getattr(backbone, "arch", {}).get("name") == "identity"
