"""prepare: decode a data source once into uint8 arrays (or feature rows) + labels + sample ids, and a card."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

from deepclust.data import dataset_stats, load_source, save_prepared
from deepclust.io import write_json
from stages.cli import entry, parser
from stages.resolve import dataset_params, read_params, resolve


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Reads datasets.<ds>, loads the source, writes train/test arrays and card.json atomically."""
    args = parser(__doc__, "out", "raw-dir").parse_args(argv)
    raw = read_params(args.params)
    ds = dataset_params(raw, args.dataset, args.params)
    t0 = time.perf_counter()
    options = ds.source.model_dump(exclude={"kind"})
    # File sources name paths relative to the repository root; torchvision downloads into --raw-dir.
    root = args.raw_dir if ds.source.kind == "torchvision" else Path.cwd()
    data = load_source(ds.source.kind, root, **options)
    # No timing in the card: it is a DVC output, and a re-run must write the same bytes or every
    # downstream stage of every seed would count as changed.
    card = dict(data.card, dataset=args.dataset)
    if data.train.images is not None:
        mean, std = dataset_stats(data.train.images)
        card.update(mean=[round(float(m), 4) for m in mean], std=[round(float(s), 4) for s in std])
    save_prepared(dataclasses.replace(data, card=card), args.out)
    write_json(args.out / "params.json", resolve(raw, "prepare", args.dataset, path=args.params).record())
    seconds = round(time.perf_counter() - t0, 2)
    rows = data.train.images if data.train.images is not None else data.train.features
    assert rows is not None  # a split holds images or features
    skipped = card.get("skipped") or []
    note = f"; skipped {len(skipped)} unreadable (listed in card.json)" if skipped else ""
    print(f"[prepare] {args.dataset}: train {len(data.train)}, test {len(data.test)}"
          f"{' (= train: no test split)' if card.get('test_is_train') else ''}, shape {tuple(rows.shape[1:])}, "
          f"{seconds} s -> {args.out}{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
