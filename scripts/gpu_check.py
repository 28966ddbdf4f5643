"""Runs pipelines stage by stage with the exact commands dvc.yaml holds, without DVC or Prefect, and reports
wall time per stage plus the final metrics: the GPU check for a machine with torch but no dvc, prefect or faiss.

    python scripts/gpu_check.py --pipelines scan kmeans --dataset cifar10-gpu \
        --parquet-dir .gpu_data --preset cifar10 --epochs pretext=20 scan=5 selflabel=1 --out /tmp/gpu

With --parquet-dir, a data set named --dataset is added (to a copy of params.yaml) from the `<--source>-train`
and `-test` Parquet files in that folder (cifar10 or mnist), using --preset's stage settings with the given
epochs and `--set stage.key=value` overrides. Outputs go to
`<out>/data/...` as `data/...` would under DVC; `<out>/gpu_check.json` holds the timings and metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.graph import build_graph  # noqa: E402
from pipelines.render import instance_dir, stage_argv  # noqa: E402

NORMALISATION = {"cifar10": {"mean": [0.4914, 0.4822, 0.4465], "std": [0.2023, 0.1994, 0.2010]},
                 "mnist": {}}  # mnist: prepare measures mean and std


def params_with_dataset(args: argparse.Namespace) -> dict:
    """params.yaml, plus the --parquet-dir data set with its epochs overridden."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if args.parquet_dir:
        folder = Path(args.parquet_dir).resolve()
        overrides: dict = {k: {"epochs": int(v)} for k, v in (e.split("=") for e in args.epochs)}
        for setting in args.set:
            key, value = setting.split("=", 1)
            stage, name = key.split(".", 1)
            overrides.setdefault(stage, {})[name] = yaml.safe_load(value)
        params["datasets"][args.dataset] = {
            "preset": args.preset, "num_classes": 10, **NORMALISATION[args.source], "overrides": overrides,
            "source": {"kind": "parquet", "train": str(folder / f"{args.source}-train.parquet"),
                       "test": str(folder / f"{args.source}-test.parquet")}}
    return params


def run_stage(cmd: list[str], data: Path, params: Path, log, torchrun: int = 0) -> tuple[int, float]:
    """Runs one stage command with `data/` mapped to DATA; streams its output to LOG and stdout.

    TORCHRUN > 0 launches it as `python -m torch.distributed.run --standalone --nproc-per-node=TORCHRUN`.
    """
    # `data/...` and `name=data/...`: the first `data/` of such an argument is the data root
    argv = [a.replace("data/", f"{data}/", 1) if a.startswith("data/") or "=data/" in a else a for a in cmd]
    while argv[1] != "-m":  # `python -m stages.x ...` or `torchrun --standalone ... -m stages.x ...`
        argv.pop(1)
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={torchrun}"] if torchrun else []
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *launcher, *argv[1:], "--params", str(params)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None  # stdout=PIPE
    for line in proc.stdout:
        if "\r" not in line:  # progress bars go to the log only
            print(line, end="", flush=True)
        log.write(line)
    return proc.wait(), time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipelines", nargs="+", default=["scan", "kmeans"])
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--parquet-dir", default=None)
    ap.add_argument("--preset", default="cifar10")
    ap.add_argument("--source", choices=sorted(NORMALISATION), default="cifar10", help="Parquet files to add")
    ap.add_argument("--epochs", nargs="*", default=[], help="stage=epochs overrides of the added data set")
    ap.add_argument("--set", nargs="*", default=[], help="stage.key=value overrides of the added data set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--until", help="stop after this stage instance (e.g. mine-scan)")
    ap.add_argument("--torchrun", type=int, default=0, help="launch training stages under torchrun, N processes")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    params = params_with_dataset(args)
    params_path = args.out / "params.yaml"
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    graph = build_graph(params)
    wanted = graph.instances_for(args.pipelines)
    report: dict = {"dataset": args.dataset, "pipelines": args.pipelines, "stages": {}}
    try:
        import torch

        report["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except Exception as exc:  # noqa: BLE001 - the report says what failed
        report["device"] = f"unknown ({exc})"
    with open(args.out / "stages.log", "w") as log:
        for inst in wanted:
            cmd = " ".join(stage_argv(inst, graph, args.dataset, args.seed)).split()
            print(f"\n=== {inst.name}: {' '.join(cmd)}", flush=True)
            code, seconds = run_stage(cmd, args.out / "data", params_path, log, args.torchrun)
            folder = args.out / instance_dir(args.dataset, None if inst.kind == "prepare" else args.seed, inst.name)
            metrics_file = folder / "metrics.json"
            metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() and code == 0 else {}
            report["stages"][inst.name] = {"exit": code, "seconds": round(seconds, 1), "metrics": metrics}
            print(f"=== {inst.name}: exit {code}, {seconds:.1f} s", flush=True)
            (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
            if code != 0:
                print(f"stopping: {inst.name} failed", flush=True)
                return code
            if inst.name == args.until:
                break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
