"""Methods: a backbone, heads, a loss and a transform put together, each exposing `training_step`."""

from deepclust.methods.idfd import IDFD
from deepclust.methods.pair_clustering import PairClustering
from deepclust.methods.scan import SCAN, HeadSelector, scan_batch_maker, selection_losses
from deepclust.methods.selflabel import SelfLabel, adapted_threshold, keep_self_labelled
from deepclust.methods.simclr import SimCLR

METHODS = {"simclr": SimCLR, "scan": SCAN, "selflabel": SelfLabel}

__all__ = [
    "IDFD", "METHODS", "SCAN", "HeadSelector", "PairClustering", "SelfLabel", "SimCLR", "adapted_threshold",
    "keep_self_labelled", "scan_batch_maker", "selection_losses",
]
