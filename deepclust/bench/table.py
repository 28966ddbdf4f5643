"""Benchmark tables: per pipeline, the mean, spread and worst seed of ACC / NMI / ARI, its cost, and where it ran.

A `Run` is one pipeline at one seed (its evaluate metrics and the cost of each of its stages); `summarise`
turns runs into one row per pipeline; `markdown` and `plot` present that table beside published numbers
(`published.csv`, one row per number with its source and protocol). Nothing here runs a pipeline.
"""

from __future__ import annotations

import csv
import math
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepclust.bench.curves import within

METRICS = ("acc", "nmi", "ari")
PUBLISHED = Path(__file__).with_name("published.csv")


@dataclass(frozen=True)
class Run:
    """One pipeline at one seed.

    Attributes:
        pipeline: The pipeline's name.
        seed: The seed of every stage of the run.
        scores: ACC / NMI / ARI of the pipeline's final predictions on the scored split.
        stage_seconds: Wall seconds of each stage instance of the run (shared stages included).
        peak_rss_mb: The largest peak resident memory of its stages.
        threads: Torch thread counts its stages ran with.
        devices: Devices its stages ran on.
        selection: How its checkpoint / clusters were chosen (from the stages' metrics).
        split: The scored split.
        curve: Its last training stage's budget curve, (epoch, training minutes, ACC) per epoch that trained the
            kept head; empty when that stage keeps none.
        curve_stage: The stage the curve is of.
    """

    pipeline: str
    seed: int
    scores: Mapping[str, float]
    stage_seconds: Mapping[str, float] = field(default_factory=dict)
    peak_rss_mb: float = float("nan")
    threads: tuple[int, ...] = ()
    devices: tuple[str, ...] = ()
    selection: str = ""
    split: str = "test"
    curve: tuple[tuple[int, float, float], ...] = ()
    curve_stage: str = ""


BUDGET_MINUTES = (5, 10, 20, 40)  # the budget-curve points


def summarise(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per pipeline (first-seen order): mean, std (ddof 0) and worst seed of each metric, the
    per-seed ACC, mean wall seconds per stage and in all, peak memory, threads and devices."""
    by_pipeline: dict[str, list[Run]] = {}
    for run in runs:
        by_pipeline.setdefault(run.pipeline, []).append(run)
    rows = []
    for pipeline, group in by_pipeline.items():
        group = sorted(group, key=lambda r: r.seed)
        row: dict[str, Any] = {"pipeline": pipeline, "seeds": len(group),
                               "seed_list": " ".join(str(r.seed) for r in group)}
        for metric in METRICS:
            values = np.array([r.scores[metric] for r in group], dtype=np.float64)
            row[f"{metric}_mean"] = round(float(values.mean()), 4)
            row[f"{metric}_std"] = round(float(values.std()), 4)
            row[f"{metric}_worst"] = round(float(values.min()), 4)
        worst = min(group, key=lambda r: (r.scores["acc"], r.seed))
        row["worst_seed"] = worst.seed
        row["acc_per_seed"] = " ".join(f"{r.scores['acc']:.3f}" for r in group)
        stages = list(dict.fromkeys(s for r in group for s in r.stage_seconds))
        per_stage = {s: float(np.mean([r.stage_seconds[s] for r in group if s in r.stage_seconds])) for s in stages}
        row["wall_seconds"] = round(float(np.mean([sum(r.stage_seconds.values()) for r in group])), 1)
        row["stage_seconds"] = " ".join(f"{s}={v:.1f}" for s, v in per_stage.items())
        row["peak_rss_mb"] = round(max(r.peak_rss_mb for r in group), 1)
        row["threads"] = " ".join(str(t) for t in sorted({t for r in group for t in r.threads}))
        row["devices"] = " ".join(sorted({d for r in group for d in r.devices}))
        row["selection"] = group[0].selection
        row["split"] = group[0].split
        rows.append(row)
    return pd.DataFrame(rows)


def environment(root: Path | None = None) -> dict[str, str]:
    """Hardware, library versions and the git commit the table was produced with."""
    import faiss  # noqa: F401  (import errors should surface here, not as a blank version)
    import scipy
    import sklearn
    import torch

    env = {
        "cpu": _cpu_model(),
        "cpu_count": str(os.cpu_count()),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "scipy": scipy.__version__,
        "faiss": getattr(faiss, "__version__", "unknown"),
        "commit": _git_commit(root),
    }
    return env


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit(root: Path | None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        # dvc.lock files change with every run (they record it): only code or params edits mark the table.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude,glob)**/dvc.lock"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        return out + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def published(dataset: str | None, path: Path = PUBLISHED) -> list[dict[str, str]]:
    """The checked-in published numbers for DATASET (a `published` key such as `mnist`, `cifar10`)."""
    if dataset is None:
        return []
    with open(path, newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["dataset"] == dataset]


def _cell(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return "-"
    return f"{float(value):.{digits}f}"


def curves_markdown(runs: Iterable[Run]) -> list[str]:
    """The budget-curve section: per run with a curve, the ACC reached within 5, 10, 20 and 40 minutes of training
    (the last epoch finished by then) and the ACC per recorded epoch."""
    runs = [r for r in runs if r.curve]
    if not runs:
        return []
    lines = ["", "## Budget curves (test ACC of the head the stage would keep, against its training minutes)", "",
             "Is the budget or the recipe the limit? Each training stage records the test split's clusters after "
             "every epoch that trained its kept head (no labels while training); only this table scores them. "
             "A stage that a k-means follows (DeepCluster, PCL, IDFD, DEC's autoencoder) records the clusters of "
             "a k-means with K = the classes on its features (fitted on 10,000 training images) instead.", "",
             "| pipeline | seed | stage | " + " | ".join(f"<= {m} min" for m in BUDGET_MINUTES)
             + " | epoch: ACC (minutes) |", "|---|---|---|" + "---|" * len(BUDGET_MINUTES) + "---|"]
    for r in sorted(runs, key=lambda r: (r.pipeline, r.seed)):
        cells = [_cell(within(r.curve, m)) for m in BUDGET_MINUTES]
        points = " ".join(f"{e}: {acc:.3f} ({minutes:.1f})" for e, minutes, acc in r.curve)
        lines.append(f"| {r.pipeline} | {r.seed} | {r.curve_stage} | {' | '.join(cells)} | {points} |")
    return lines


def markdown(dataset: str, table: pd.DataFrame, env: Mapping[str, str], protocol: str,
             reference: Sequence[Mapping[str, str]] = (), unpinned: Sequence[str] = (),
             runs: Iterable[Run] = ()) -> str:
    """The bench table as Markdown: results (deterministic for a machine and thread count), costs, the
    published numbers, the environment and the protocol."""
    lines = [f"# Benchmark: {dataset}", "",
             f"Seeds per pipeline: {', '.join(sorted(set(table['seed_list'])))}. Cells: mean ± std over seeds; "
             "worst = the lowest ACC of any seed.", "",
             "| pipeline | ACC | NMI | ARI | ACC worst (seed) | ACC per seed |", "|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        cells = " | ".join(f"{_cell(r[f'{m}_mean'])} ± {_cell(r[f'{m}_std'])}" for m in METRICS)
        worst = f"{_cell(r['acc_worst'])} ({r['worst_seed']})"
        lines.append(f"| {r['pipeline']} | {cells} | {worst} | {r['acc_per_seed']} |")
    lines += ["", "## Cost (changes from run to run; not part of the reproducibility check)", "",
              "| pipeline | wall s per seed | peak RSS MB | threads | devices | seconds per stage (mean over seeds) |",
              "|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['pipeline']} | {r['wall_seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['threads']} | "
                     f"{r['devices']} | {r['stage_seconds']} |")
    lines += curves_markdown(runs)
    if reference:
        lines += ["", "## Published numbers (not re-run here)", "",
                  "| method | our pipeline | ACC | NMI | ARI | protocol | source |", "|---|---|---|---|---|---|---|"]
        for ref in reference:
            lines.append(f"| {ref['method']} | {ref['pipeline'] or '-'} | {_cell(ref['acc'])} | {_cell(ref['nmi'])} | "
                         f"{_cell(ref['ari'])} | {ref['protocol']} | {ref['source']} |")
    lines += ["", "## Protocol", "", protocol, ""]
    selections = {r["pipeline"]: r["selection"] for _, r in table.iterrows() if r["selection"]}
    if selections:
        lines += ["Checkpoint / cluster choice per pipeline (no labels used):", ""]
        lines += [f"- {p}: {s}" for p, s in selections.items()] + [""]
    lines += ["## Environment", ""] + [f"- {k}: {v}" for k, v in env.items()]
    if unpinned:
        lines += ["", "Not pinned: " + "; ".join(unpinned) + "."]
    return "\n".join(lines) + "\n"


def plot(dataset: str, table: pd.DataFrame, path: Path, reference: Sequence[Mapping[str, str]] = ()) -> None:
    """A bar chart of mean ACC per pipeline with the std as error bar, the worst seed as a dot and the
    published ACC of the same pipeline as a diamond."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepclust.io import atomic_path

    x = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(table) + 2), 4.0))
    ax.bar(x, table["acc_mean"], yerr=table["acc_std"], capsize=3, color="#4c72b0", label="ACC mean ± std")
    ax.scatter(x, table["acc_worst"], color="#c44e52", zorder=3, s=14, label="worst seed")
    pub = {r["pipeline"]: float(r["acc"]) for r in reference if r.get("pipeline") and r.get("acc")}
    shown = [(i, pub[p]) for i, p in enumerate(table["pipeline"]) if p in pub]
    if shown:
        ax.scatter([i for i, _ in shown], [v for _, v in shown], marker="D", color="#55a868", zorder=3, s=20,
                   label="published")
    ax.set_xticks(x, table["pipeline"], rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("ACC")
    ax.set_title(f"{dataset}: {int(table['seeds'].max())} seeds per pipeline")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
