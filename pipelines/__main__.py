"""`python -m pipelines {sync,check,list,run}`: keep the dvc.yaml files current, list or run a pipeline.

    python -m pipelines sync                       # regenerate dvc.yaml files from params.yaml
    python -m pipelines check                      # exit 1 when a generated file is stale
    python -m pipelines list [--dataset digits]    # pipelines, their stages, and the DVC address of each
    python -m pipelines run scan mnist-parquet [--seed 1]   # sync, `dvc repro` that pipeline, print metrics
    python -m pipelines bench digits               # params.yaml `bench.digits`: every run it needs, then the table
    python -m pipelines bench digits --pipelines scan --seeds 0 1 2 3 4 --out reports/scan-5-seeds
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

from pipelines import ROOT, DeclarationError, load_graph, stale_files, sync
from pipelines.graph import Graph
from pipelines.render import bench_argv, instance_dir


def stage_file(graph: Graph, seed: int) -> str:
    """The dvc.yaml that holds SEED's stages."""
    return "pipelines/dvc.yaml" if seed == graph.seeds[0] else f"pipelines/seed{seed}/dvc.yaml"


def address(graph: Graph, name: str, dataset: str, seed: int) -> str:
    """`dvc repro` address of instance NAME on DATASET at SEED (prepare lives in pipelines/dvc.yaml)."""
    where = "pipelines/dvc.yaml" if graph.instance(name).kind == "prepare" else stage_file(graph, seed)
    return f"{where}:{name}@{dataset}"


def _list(graph: Graph, dataset: str) -> None:
    print(f"seeds: {', '.join(map(str, graph.seeds))} (reference: {graph.seeds[0]}); "
          f"main job: {', '.join(graph.main_pipelines)} on {graph.main_dataset}")
    for pipe in graph.pipelines:
        terminal = graph.terminal(pipe.name)
        chain = [*terminal.upstream, terminal.name]
        print(f"\n{pipe.name}: {' -> '.join(chain)}")
        print(f"  dvc repro {address(graph, terminal.name, dataset, graph.seeds[0])}")


def _run(graph: Graph, pipeline: str, dataset: str, seed: int | None, force: bool, report: bool = True) -> int:
    seed = graph.seeds[0] if seed is None else seed
    if seed not in graph.seeds:
        print(f"error: seed {seed} is not in params.yaml seeds {list(graph.seeds)}", file=sys.stderr)
        return 2
    datasets = yaml.safe_load((ROOT / "params.yaml").read_text()).get("datasets") or {}
    if dataset not in datasets:
        print(f"error: unknown data set {dataset!r}; params.yaml defines {sorted(datasets)}", file=sys.stderr)
        return 2
    terminal = graph.terminal(pipeline)
    cmd = [sys.executable, "-m", "dvc", "repro", *(["-f"] if force else []),
           address(graph, terminal.name, dataset, seed)]
    print("$ " + " ".join(cmd[2:]), flush=True)
    code = subprocess.call(cmd, cwd=ROOT)
    if code == 0 and report and terminal.kind == "evaluate":
        metrics = f"{instance_dir(dataset, seed, terminal.name)}/metrics.json"
        code = subprocess.call([sys.executable, "-m", "stages.report", "--dataset", dataset,
                                "--metrics", f"{pipeline}={metrics}"], cwd=ROOT)
    return code


def _bench(graph: Graph, dataset: str, pipelines: list[str] | None, seeds: list[int] | None, out: str | None,
           force: bool) -> int:
    """`bench.<ds>` of params.yaml through its DVC stage; other pipelines/seeds: each run through DVC, then
    the table into OUT (the tracked reports/bench-<ds>.* stay as DVC wrote them)."""
    bench = next((b for b in graph.benches if b.dataset == dataset), None)
    if pipelines is None and seeds is None and out is None:
        if bench is None:
            print(f"error: params.yaml has no bench.{dataset}; add one, or pass --pipelines/--seeds/--out",
                  file=sys.stderr)
            return 2
        cmd = [sys.executable, "-m", "dvc", "repro", *(["-f"] if force else []),
               f"pipelines/bench/dvc.yaml:bench-{dataset}"]
        print("$ " + " ".join(cmd[2:]), flush=True)
        code = subprocess.call(cmd, cwd=ROOT)
        if code == 0:
            print((ROOT / f"reports/bench-{dataset}.md").read_text().split("\n## Cost")[0])
        return code
    chosen = pipelines or (list(bench.pipelines) if bench else [p.name for p in graph.pipelines
                                                                 if p.stages[-1] == "evaluate"])
    seed_list = seeds or (list(bench.seeds) if bench else list(graph.seeds))
    for seed in seed_list:
        for pipeline in chosen:
            code = _run(graph, pipeline, dataset, seed, force, report=False)
            if code:
                return code
    argv = bench_argv(graph, dataset, chosen, seed_list, bench.published if bench else None,
                      out or f"reports/adhoc-{dataset}")
    return subprocess.call([sys.executable, *" ".join(argv).split()[1:]], cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    ap = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command")
    sub.add_parser("sync", help="regenerate the dvc.yaml files (the default command)")
    sub.add_parser("check", help="exit 1 when a generated dvc.yaml is stale")
    ls = sub.add_parser("list", help="pipelines, their stage instances and DVC addresses")
    ls.add_argument("--dataset", default=None, help="data set for the addresses (default: the main one)")
    run = sub.add_parser("run", help="sync, then `dvc repro` one pipeline on one data set and print its metrics")
    run.add_argument("pipeline")
    run.add_argument("dataset")
    run.add_argument("--seed", type=int, default=None, help="one of params.yaml `seeds` (default: the first)")
    run.add_argument("-f", "--force", action="store_true", help="re-run every stage of the pipeline")
    bench = sub.add_parser("bench", help="sync, run every pipeline x seed of a benchmark (resuming), write its table")
    bench.add_argument("dataset")
    bench.add_argument("--pipelines", nargs="+", default=None, help="instead of params.yaml bench.<ds>.pipelines")
    bench.add_argument("--seeds", nargs="+", type=int, default=None, help="instead of bench.<ds>.seeds")
    bench.add_argument("--out", default=None, help="folder for an ad-hoc table (default reports/adhoc-<ds>)")
    bench.add_argument("-f", "--force", action="store_true", help="re-run every stage (not only missing ones)")
    args = ap.parse_args(argv)
    try:
        graph = load_graph(ROOT)
        if args.command == "check":
            stale = stale_files(ROOT)
            for path in stale:
                print(f"stale: {Path(path).relative_to(ROOT)}; run `python -m pipelines sync`")
            return 1 if stale else 0
        for change in sync(ROOT):
            print(f"[pipelines] {change}")
        if args.command == "list":
            _list(graph, args.dataset or graph.main_dataset)
        elif args.command == "run":
            return _run(graph, args.pipeline, args.dataset, args.seed, args.force)
        elif args.command == "bench":
            return _bench(graph, args.dataset, args.pipelines, args.seeds, args.out, args.force)
    except DeclarationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
