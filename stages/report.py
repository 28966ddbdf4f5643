"""report: the metrics table of several pipelines on one data set, from their evaluate metrics.json files."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deepclust.errors import DeepclustError
from deepclust.io import require_file, write_atomic
from stages.cli import entry, pair


def table_rows(pipelines: dict[str, dict[str, Any]]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(pipeline, stage, metrics or None) rows: every scored predictions file of every pipeline, in order."""
    rows: list[tuple[str, str, dict[str, Any] | None]] = []
    for pipeline, results in pipelines.items():
        by_stage = results.get("by_stage") or {results.get("final", pipeline): None}
        rows += [(pipeline, stage, metrics) for stage, metrics in by_stage.items()]
    return rows


def print_table(dataset: str, pipelines: dict[str, dict[str, Any]]) -> str:
    """Prints (and returns) the ACC / NMI / ARI table of evaluate results, one row per predictions file."""
    first = next(iter(pipelines.values()))
    width = max(22, *(len(p) + 2 for p in pipelines))
    lines = [f"\n{dataset}: {first['protocol']}",
             f"{'pipeline':<{width}}{'stage':<14}{'ACC':>8}{'NMI':>8}{'ARI':>8}"]
    for pipeline, stage, m in table_rows(pipelines):
        cells = "".join(f"{m[k]:>8.4f}" for k in ("acc", "nmi", "ari")) if m else f"{'(no labels)':>24}"
        lines.append(f"{pipeline:<{width}}{stage:<14}{cells}")
    text = "\n".join(lines)
    print(text)
    return text



def markdown(dataset: str, pipelines: dict[str, dict]) -> str:
    """The same table as Markdown, with the protocol of each pipeline."""
    lines = [f"# {dataset}", "", "| pipeline | stage | ACC | NMI | ARI | split |", "|---|---|---|---|---|---|"]
    for pipeline, stage, m in table_rows(pipelines):
        cells = " | ".join(f"{m[k]:.4f}" for k in ("acc", "nmi", "ari")) if m else "- | - | -"
        lines.append(f"| {pipeline} | {stage} | {cells} | {pipelines[pipeline]['split']} |")
    protocols = sorted({r["protocol"] for r in pipelines.values()})
    return "\n".join(lines + [""] + [f"Protocol: {p}." for p in protocols]) + "\n"


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Prints the table of each `pipeline=metrics.json`; with --out, also writes it as Markdown."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--metrics", required=True, nargs="+", type=pair, metavar="PIPELINE=PATH")
    ap.add_argument("--out", type=Path, default=None, help="Markdown file to write")
    args = ap.parse_args(argv)
    pipelines = {}
    for name, path in args.metrics:
        try:
            pipelines[name] = json.loads(require_file(path, f"metrics of {name} (run its evaluate stage)").read_text())
        except json.JSONDecodeError as exc:
            raise DeepclustError(f"{path} is not valid JSON ({exc}): re-run its evaluate stage") from None
    print_table(args.dataset, pipelines)
    if args.out is not None:
        write_atomic(args.out, lambda tmp: tmp.write_text(markdown(args.dataset, pipelines)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
