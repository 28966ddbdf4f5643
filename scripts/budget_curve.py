"""Scores a training stage's budget curve: test-split ACC of the head the stage would keep, after each epoch that
trained it, against the training minutes spent (stages/curve.py writes `run/curve.npz`; labels enter only here).

    python scripts/budget_curve.py data/mnist-parquet/seed0/iic [data/mnist-parquet/seed1/iic ...]
        [--prepared data/mnist-parquet/prepared] [--minutes 5 10 20 40] [--json out.json]

Prints, per stage folder, ACC at every recorded epoch and the ACC reached within each budget in minutes (the last
epoch finished by then), so a table can say whether the budget or the recipe limits a method.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepclust.bench.curves import score_curve, within  # noqa: E402
from deepclust.data import load_prepared  # noqa: E402
from stages.curve import CURVE_FILE  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stages", nargs="+", type=Path, help="stage output folders (data/<ds>/seed<k>/<stage>)")
    ap.add_argument("--prepared", type=Path, help="the data set's prepared folder (default: ../../prepared)")
    ap.add_argument("--minutes", type=float, nargs="+", default=[5, 10, 20, 40])
    ap.add_argument("--json", type=Path, help="also write the curves here")
    args = ap.parse_args()
    out = []
    for stage in args.stages:
        prepared = args.prepared or stage.parent.parent / "prepared"
        test = load_prepared(prepared).test
        if test.labels is None:
            raise SystemExit(f"error: {prepared} has no test labels to score a curve with")
        curve = score_curve(stage / "run" / CURVE_FILE, test.labels)
        if not curve:
            raise SystemExit(f"error: {stage / 'run' / CURVE_FILE} not found: the stage ran before budget curves "
                             "were written, or is not one that writes them (iic, cc, dcdc, scan)")
        budgets = {f"{m:g} min": within(curve, m) for m in args.minutes}
        out.append({"stage": str(stage), "curve": curve, "within": budgets})
        print(f"{stage}: " + " ".join(f"{e}:{a:.3f}({m:.1f}m)" for e, m, a in curve))
        print("  within " + ", ".join(f"{k}: {'-' if v is None else f'{v:.3f}'}" for k, v in budgets.items()))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
