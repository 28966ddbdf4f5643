"""iic: Invariant Information Clustering: mutual information of paired views' assignments, overclustering head."""

from __future__ import annotations

from collections.abc import Sequence

from deepclust.losses import IICLoss
from stages.common import entry, parser, start
from stages.kinds.iic import IICParams
from stages.pair_training import train_pair_clustering


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains head A (overclustering) then head B; keeps the sub-head/epoch with the lowest IIC loss (not ACC)."""
    job = start(IICParams, parser(__doc__, "data", "run-dir", "out"), argv)
    return train_pair_clustering(job, IICLoss(job.params.lamb, gather_distributed=True))


if __name__ == "__main__":
    raise SystemExit(main())
