"""prepare: decode a data source once into uint8 arrays + labels (train/test) and a data set card."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from collections.abc import Sequence

from deepclust.data import dataset_stats, load_source, save_prepared
from stages.common import entry, parser
from stages.params import load_params


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Reads datasets.<ds>, loads the source, writes train/test arrays and card.json atomically."""
    ap = parser(__doc__, "out", "raw-dir")
    args = ap.parse_args(argv)
    ds, _ = load_params(None, args.dataset, args.params)
    t0 = time.perf_counter()
    options = ds.source.model_dump(exclude={"kind"})
    # File sources name paths relative to the repository root; torchvision downloads into --raw-dir.
    root = args.raw_dir if ds.source.kind == "torchvision" else Path.cwd()
    data = load_source(ds.source.kind, root, **options)
    card = dict(data.card, dataset=args.dataset, seconds=round(time.perf_counter() - t0, 2))
    if data.train.images is not None:
        mean, std = dataset_stats(data.train.images)
        card.update(mean=[round(float(m), 4) for m in mean], std=[round(float(s), 4) for s in std])
    save_prepared(dataclasses.replace(data, card=card), args.out)
    shape = data.train.images.shape[1:] if data.train.images is not None else data.train.features.shape[1:]
    print(f"[prepare] {args.dataset}: train {len(data.train)}, test {len(data.test)}, "
          f"shape {tuple(shape)}, {card['seconds']} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
