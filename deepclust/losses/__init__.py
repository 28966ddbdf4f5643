"""Loss functions: one module per loss, each implementing one equation of its paper."""

from deepclust.losses.ntx_ent_loss import NTXentLoss
from deepclust.losses.scan_loss import SCANLoss, SCANLossComponents, consistency_loss, entropy
from deepclust.losses.selflabel_loss import SelfLabelLoss, confident_mask

__all__ = [
    "NTXentLoss",
    "SCANLoss",
    "SCANLossComponents",
    "SelfLabelLoss",
    "confident_mask",
    "consistency_loss",
    "entropy",
]
