"""Methods: a backbone, heads, a loss and a transform put together, each exposing `training_step`."""

from deepclust.methods.scan import SCAN, HeadSelector, scan_batch_maker, selection_losses
from deepclust.methods.selflabel import SelfLabel
from deepclust.methods.simclr import SimCLR

METHODS = {"simclr": SimCLR, "scan": SCAN, "selflabel": SelfLabel}

__all__ = ["METHODS", "SCAN", "HeadSelector", "SelfLabel", "SimCLR", "scan_batch_maker", "selection_losses"]
