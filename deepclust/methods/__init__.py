"""Methods: a backbone, heads, a loss and a transform put together, each exposing `training_step`.

Each is imported on first use (`from deepclust.methods import SCAN` loads methods/scan.py and what it needs, not
the other methods), so a stage's code dependencies name only the methods it runs (pipelines/imports.py reads
`_LAZY`).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "AutoEncoderPretraining": "deepclust.methods.autoencoder",
    "DEC": "deepclust.methods.dec",
    "DeepCluster": "deepclust.methods.deepcluster",
    "HeadSelector": "deepclust.methods.head_selection",
    "IDFD": "deepclust.methods.idfd",
    "PairClustering": "deepclust.methods.pair_clustering",
    "PCL": "deepclust.methods.pcl",
    "SCAN": "deepclust.methods.scan",
    "scan_batch_maker": "deepclust.methods.scan",
    "selection_losses": "deepclust.methods.head_selection",
    "SelfLabel": "deepclust.methods.selflabel",
    "adapted_threshold": "deepclust.methods.selflabel",
    "keep_self_labelled": "deepclust.methods.selflabel",
    "SimCLR": "deepclust.methods.simclr",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
