"""Data layer: every source is decoded once into uint8 (N, H, W, C) arrays (or float32 features).

Example:
    >>> data = load_source("digits", Path("data"))
    >>> data.train.images.shape
    (1437, 8, 8, 1)
"""

from deepclust.data.predictions import SplitPredictions, read_predictions, write_predictions
from deepclust.data.prepared import PreparedData, Split, load_prepared, save_prepared
from deepclust.data.sources import SOURCES, load_source
from deepclust.data.stats import dataset_stats

__all__ = [
    "SOURCES",
    "PreparedData",
    "Split",
    "SplitPredictions",
    "dataset_stats",
    "load_prepared",
    "load_source",
    "read_predictions",
    "save_prepared",
    "write_predictions",
]
