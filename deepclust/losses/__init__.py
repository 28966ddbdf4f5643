"""Loss functions: one module per loss, each implementing one equation of its paper.

Each is imported on first use (`from deepclust.losses import SCANLoss` loads losses/scan_loss.py only), so a stage's
code dependencies name only the losses it uses (pipelines/imports.py reads `_LAZY`).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ClusterContrastiveLoss": "deepclust.losses.cc_loss",
    "balance_loss": "deepclust.losses.cc_loss",
    "DCDCLoss": "deepclust.losses.dcdc_loss",
    "DECLoss": "deepclust.losses.dec_loss",
    "target_distribution": "deepclust.losses.dec_loss",
    "IDFDLoss": "deepclust.losses.idfd_loss",
    "feature_decorrelation": "deepclust.losses.idfd_loss",
    "instance_discrimination": "deepclust.losses.idfd_loss",
    "IICLoss": "deepclust.losses.iic_loss",
    "joint_distribution": "deepclust.losses.iic_loss",
    "NTXentLoss": "deepclust.losses.ntx_ent_loss",
    "ProtoNCELoss": "deepclust.losses.proto_nce_loss",
    "SCANLoss": "deepclust.losses.scan_loss",
    "SCANLossComponents": "deepclust.losses.scan_loss",
    "consistency_loss": "deepclust.losses.scan_loss",
    "entropy": "deepclust.losses.scan_loss",
    "SelfLabelLoss": "deepclust.losses.selflabel_loss",
    "confident_mask": "deepclust.losses.selflabel_loss",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
