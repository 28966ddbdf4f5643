"""report: print the metrics table of a finished pipeline (what `evaluate` printed, from its metrics.json)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from deepclust.io import require_file
from stages.common import entry
from stages.evaluate import print_table


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Reads an evaluate metrics.json and prints the ACC / NMI / ARI table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--metrics", required=True, type=Path)
    args = ap.parse_args(argv)
    print_table(args.dataset, json.loads(require_file(args.metrics, "metrics (run the pipeline)").read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
