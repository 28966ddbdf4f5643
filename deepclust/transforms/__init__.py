"""Batched uint8 -> normalised float image transforms that run on the training device (CPU or GPU).

Every transform is called as `transform(images, generator)` with `images` of shape (B, H, W, C) uint8 and
a `torch.Generator` on the same device; the same generator state gives the same output.
"""

from deepclust.transforms.eval_transform import EvalTransform
from deepclust.transforms.feature_transform import FeatureTransform
from deepclust.transforms.pair_transform import PairTransform
from deepclust.transforms.scan_transform import SCANStrongTransform
from deepclust.transforms.simclr_transform import SimCLRTransform, SimCLRViewTransform

TRANSFORMS: dict[str, type] = {
    "simclr": SimCLRTransform,
    "scan_strong": SCANStrongTransform,
    "eval": EvalTransform,
    "features": FeatureTransform,
}

__all__ = [
    "TRANSFORMS", "EvalTransform", "FeatureTransform", "PairTransform", "SCANStrongTransform", "SimCLRTransform",
    "SimCLRViewTransform",
]
