"""Loss functions: one module per loss, each implementing one equation of its paper."""

from deepclust.losses.cc_loss import ClusterContrastiveLoss, balance_loss
from deepclust.losses.dcdc_loss import DCDCLoss
from deepclust.losses.idfd_loss import IDFDLoss, feature_decorrelation, instance_discrimination
from deepclust.losses.iic_loss import IICLoss, joint_distribution
from deepclust.losses.ntx_ent_loss import NTXentLoss
from deepclust.losses.scan_loss import SCANLoss, SCANLossComponents, consistency_loss, entropy
from deepclust.losses.selflabel_loss import SelfLabelLoss, confident_mask

__all__ = [
    "ClusterContrastiveLoss",
    "DCDCLoss",
    "IDFDLoss",
    "IICLoss",
    "balance_loss",
    "feature_decorrelation",
    "instance_discrimination",
    "joint_distribution",
    "NTXentLoss",
    "SCANLoss",
    "SCANLossComponents",
    "SelfLabelLoss",
    "confident_mask",
    "consistency_loss",
    "entropy",
]
