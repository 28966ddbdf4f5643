"""The collapse guard: does a clustering use the clusters it was asked for, or did it fall into a few?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClusterUsage:
    """How a hard assignment uses its K clusters.

    Attributes:
        num_clusters: K asked for.
        non_empty: Clusters holding at least one sample.
        largest_share: Fraction of the samples in the largest cluster.
        collapsed: Fewer non-empty clusters than asked, or the largest one holds more than `max_share`.
    """

    num_clusters: int
    non_empty: int
    largest_share: float
    collapsed: bool

    def describe(self) -> str:
        """One line for a log: `collapsed: 3 of 10 clusters non-empty, the largest holds 81.2%`."""
        state = "collapsed" if self.collapsed else "ok"
        return (f"{state}: {self.non_empty} of {self.num_clusters} clusters non-empty, "
                f"the largest holds {100 * self.largest_share:.1f}%")

    def as_metrics(self) -> dict[str, float | int | bool]:
        return {"non_empty_clusters": self.non_empty, "largest_cluster_share": round(self.largest_share, 4),
                "collapsed": self.collapsed}


def cluster_usage(assignments: np.ndarray, num_clusters: int, max_share: float = 0.5) -> ClusterUsage:
    """Counts the non-empty clusters and the largest cluster's share of `assignments` (N,) in [0, K).

    The default `max_share` of 0.5 flags "one cluster holds most samples"; no labels are involved, so a head
    or epoch selection may use it.
    """
    counts = np.bincount(np.asarray(assignments, dtype=np.int64), minlength=num_clusters)
    total = max(int(counts.sum()), 1)
    non_empty = int((counts > 0).sum())
    share = float(counts.max()) / total
    return ClusterUsage(num_clusters, non_empty, share, non_empty < num_clusters or share > max_share)
