"""dcdc: Doubly Contrastive Deep Clustering: sample-wise and class-wise contrast of soft assignments + balance."""

from __future__ import annotations

from collections.abc import Sequence

from deepclust.losses import DCDCLoss
from stages.common import entry, parser, start
from stages.kinds.dcdc import DCDCParams
from stages.pair_training import train_pair_clustering


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Trains the overclustering and K heads in turn; keeps the sub-head/epoch with the lowest DCDC loss."""
    job = start(DCDCParams, parser(__doc__, "data", "run-dir", "out"), argv)
    return train_pair_clustering(job, DCDCLoss(job.params.temperature, job.params.balance_weight,
                                                     gather_distributed=True))


if __name__ == "__main__":
    raise SystemExit(main())
