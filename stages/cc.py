"""cc: Contrastive Clustering: instance NT-Xent (tau 0.5) + cluster-column NT-Xent (tau 1.0) + balance."""

from __future__ import annotations

from collections.abc import Sequence

from deepclust.losses import ClusterContrastiveLoss
from stages.common import entry, parser, start
from stages.kinds.cc import CCParams
from stages.pair_training import train_pair_clustering


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains CC's instance and cluster heads on two views; keeps the sub-head/epoch with the lowest own loss."""
    job = start(CCParams, parser(__doc__, "data", "run-dir", "out"), argv)
    p = job.params
    return train_pair_clustering(job, ClusterContrastiveLoss(p.cluster_temperature, p.balance_weight,
                                                            gather_distributed=True),
                                 instance_temperature=p.instance_temperature)


if __name__ == "__main__":
    raise SystemExit(main())
