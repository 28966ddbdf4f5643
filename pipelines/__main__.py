"""`python -m pipelines {sync,check,list,run,bench,show}`: keep the dvc.yaml files current, list, run or inspect.

    python -m pipelines sync [--bench]             # regenerate dvc.yaml files from params.yaml (and the benchmarks')
    python -m pipelines check                      # exit 1 when a generated file is stale
    python -m pipelines list                       # pipelines, their stages, and the runs asked for
    python -m pipelines run scan mnist-parquet [--seed 1]   # declare the run if new, sync, `dvc repro` it, metrics
    python -m pipelines show scan cifar10-parquet [--stage pretext]   # every setting and the layer it came from
    python -m pipelines bench digits               # params.yaml `bench.digits`: every run it needs, then the table
    python -m pipelines bench digits --pipelines scan --seeds 0 1 2 3 4 --out reports/scan-5-seeds
    python -m pipelines cluster path/to/images [--k auto|N] [--pipeline scan] [--preset cifar10-parquet]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from deepclust.errors import DeepclustError
from pipelines import (
    ROOT,
    DeclarationError,
    declarations_lock,
    fit_problems,
    load_graph,
    materialised,
    stale_files,
    sync,
)
from pipelines.declare import dataset_block, ensure_asked, with_dataset
from pipelines.graph import Graph, Run
from pipelines.render import BENCH_DIR, bench_argv, instance_dir, located
from stages.resolve import resolve

RUNTIME_ENV = ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "DEEPCLUST_COMPILE", "DEEPCLUST_CHANNELS_LAST",
               "DEEPCLUST_AMP", "DEEPCLUST_MALLOC_TUNING")  # not params: they change speed and floating-point
                                                            # arithmetic (summation order; bf16), not the method


def _dvc(*args: str) -> int:
    cmd = [sys.executable, "-m", "dvc", *args]
    print("$ dvc " + " ".join(args), flush=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.call(cmd, cwd=ROOT, env=env)  # the stages' `python` is this interpreter's


def _list(graph: Graph) -> None:
    print(f"main job: {', '.join(graph.main.pipelines)} on {graph.main.dataset}, seed {graph.main.seeds[0]} "
          f"(a bare `dvc repro`); default seeds: {', '.join(map(str, graph.seeds))}")
    for pipe in graph.pipelines:
        chain = [i.name for i in graph.chain(pipe.name)]
        print(f"\n{pipe.name}: {' -> '.join(chain)}")
    print("\nruns in the checked-in graph, main and `runs` (data set, seed: pipelines):")
    for (ds, seed), pipelines in graph.live().items():
        print(f"  {ds}, seed {seed}: {', '.join(pipelines)}")
    print("\nbenchmarks (their stages are written while `python -m pipelines bench <data set>` runs):")
    for bench in graph.benches:
        print(f"  {bench.dataset}, seeds {' '.join(map(str, bench.seeds))}: {', '.join(bench.pipelines)}")
    print("\n`python -m pipelines run <pipeline> <data set> [--seed S]` runs any other one (and declares it).")


def _repro(graph: Graph, pipeline: str, dataset: str, seed: int, force: bool, remote: str | None = None) -> int:
    """`dvc repro` of PIPELINE on DATASET at SEED: its prepare, then the checks against the data, then the rest.
    With a DVC REMOTE, its outputs are pulled first (a run another machine or session finished is then up to
    date; what the remote lacks is no error) and pushed after."""
    terminal = located(graph, dataset, seed, graph.terminal(pipeline).name)
    code = _dvc("pull", "--remote", remote, "--allow-missing", "--with-deps", terminal) if remote else 0
    code = code or _dvc("repro", located(graph, dataset, seed, "prepare"))
    found = fit_problems(graph, ROOT, dataset, [pipeline]) if code == 0 else []
    if found:  # before any training: K, neighbours, ... against the prepared data
        raise DeclarationError("params.yaml: " + "; ".join(found))
    code = code or _dvc("repro", *(["-f"] if force else []), terminal)
    return code or (_dvc("push", "--remote", remote, "--with-deps", terminal) if remote else 0)


def _run(pipeline: str, dataset: str, seed: int | None, force: bool, report: bool = True) -> int:
    graph = load_graph(ROOT)
    seed = graph.seeds[0] if seed is None else seed
    graph = ensure_asked(pipeline, dataset, [seed])
    terminal = graph.terminal(pipeline)
    code = _repro(graph, pipeline, dataset, seed, force)
    if code == 0 and report and terminal.kind == "evaluate":
        metrics = f"{instance_dir(dataset, seed, terminal.name)}/metrics.json"
        code = subprocess.call([sys.executable, "-m", "stages.report", "--dataset", dataset,
                                "--metrics", f"{pipeline}={metrics}"], cwd=ROOT)
    return code


def _table_only(graph: Graph, dataset: str) -> int:
    """The table of `bench.<ds>` from the runs that finished (the others listed), without running anything."""
    bench = next((b for b in graph.benches if b.dataset == dataset), None)
    if bench is None:
        raise DeclarationError(f"params.yaml has no bench.{dataset}")
    argv = bench_argv(graph, dataset, bench.pipelines, bench.seeds, bench.published, "reports")
    return subprocess.call([sys.executable, *" ".join(argv).split()[1:], "--allow-missing"], cwd=ROOT)


def _bench(dataset: str, pipelines: list[str] | None, seeds: list[int] | None, out: str | None, force: bool,
           remote: str | None = None) -> int:
    """`bench.<ds>` of params.yaml: each run through DVC, then its table stage; other pipelines/seeds (an ad-hoc
    table): each run, then the table into OUT (the tracked reports/bench-<ds>.* stay as DVC wrote them). Either
    way the stages are written for the duration (pipelines/bench/...) and their dvc.lock kept: a killed benchmark
    resumes, and with a DVC REMOTE each finished run is pushed (another clone's benchmark pulls it)."""
    graph = load_graph(ROOT)
    bench = next((b for b in graph.benches if b.dataset == dataset), None)
    table = pipelines is None and seeds is None and out is None
    if table and bench is None:
        raise DeclarationError(f"params.yaml has no bench.{dataset}; add one, or pass --pipelines/--seeds/--out")
    if dataset not in (graph.params.get("datasets") or {}):
        raise DeclarationError(f"unknown data set {dataset!r}; params.yaml defines "
                               f"{sorted(graph.params.get('datasets') or {})}")
    scored = [p.name for p in graph.pipelines if p.stages[-1] == "evaluate"]
    chosen = pipelines or list(bench.pipelines if bench else scored)
    seed_list = seeds or list(bench.seeds if bench else graph.seeds)
    for pipeline in chosen:
        graph.terminal(pipeline)  # an unknown pipeline: one line, before anything runs
    extra = () if table else (Run(dataset, tuple(chosen), tuple(seed_list)),)
    with materialised(ROOT, tables=(dataset,) if table else (), extra=extra):
        for seed in seed_list:
            for pipeline in chosen:
                code = _repro(graph, pipeline, dataset, seed, force, remote)
                if code:
                    return code
        if table:
            code = _dvc("repro", f"{BENCH_DIR}/dvc.yaml:bench-{dataset}")
            if code == 0:
                print((ROOT / f"reports/bench-{dataset}.md").read_text().split("\n## Cost")[0])
            return code
    argv = bench_argv(graph, dataset, chosen, seed_list, bench.published if bench else None,
                      out or f"reports/adhoc-{dataset}")
    return subprocess.call([sys.executable, *" ".join(argv).split()[1:]], cwd=ROOT)


def _cluster(folder: str, k: str, pipeline: str, preset: str, name: str | None, image_size: int | None,
             seed: int | None) -> int:
    """Registers FOLDER as a data set (one block in params.yaml, kept for the user to read and edit), runs PIPELINE
    on it and prints where its report is."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise DeclarationError(f"{folder} is not a folder of images")
    rel = os.path.relpath(path.resolve(), ROOT)
    name = name or re.sub(r"[^a-z0-9-]+", "-", path.resolve().name.lower()).strip("-") or "images"
    if k != "auto" and (not k.isdigit() or int(k) < 2):
        raise DeclarationError(f"--k must be `auto` or a number >= 2, got {k!r}")
    params = ROOT / "params.yaml"
    with declarations_lock(ROOT):
        graph = load_graph(ROOT)
        graph.pipeline(pipeline)
        datasets = graph.params.get("datasets") or {}
        if preset not in (graph.params.get("pretext") or {}) and preset not in datasets:
            raise DeclarationError(f"unknown preset {preset!r}; the presets are the built-in data sets' names "
                                   f"({', '.join(sorted(graph.params.get('pretext') or {}))})")
        block = dataset_block(name, rel, k, preset, image_size)
        if name in datasets:
            source = (datasets[name] or {}).get("source") or {}
            if source.get("train") != rel:
                raise DeclarationError(f"data set {name!r} exists with another source ({source.get('train')}); "
                                       "pass --name")
            print(f"[pipelines] data set {name!r} is in params.yaml already: using it as it is", flush=True)
        else:
            params.write_text(with_dataset(params.read_text(), name, block, params))
            print("[pipelines] params.yaml datasets: added\n" + "\n".join(block), flush=True)
    code = _run(pipeline, name, seed, force=False)
    terminal = load_graph(ROOT).terminal(pipeline)
    report = ROOT / instance_dir(name, load_graph(ROOT).seeds[0] if seed is None else seed, terminal.name) / \
        "report.html"
    if code == 0:
        print(f"[pipelines] report: {report}" if report.exists() else "[pipelines] done (no report.html written)")
    return code


def _show(pipeline: str, dataset: str, stage: str | None, as_json: bool) -> int:
    graph = load_graph(ROOT)
    chain = [i for i in graph.chain(pipeline)]
    if stage is not None:
        chain = [i for i in chain if stage in (i.name, i.kind)]
        if not chain:
            names = ", ".join(f"{i.kind} ({i.name})" for i in graph.chain(pipeline))
            raise DeclarationError(f"pipeline {pipeline} has no stage {stage!r}; its stages: {names}")
    seed = graph.seeds[0]
    shown: list[dict[str, Any]] = []
    for inst in chain:
        resolved = resolve(graph.params, inst.kind, dataset, inst.variant)
        values = resolved.values()
        shown.append({"stage": inst.name, "kind": inst.kind, "address": located(graph, dataset, seed, inst.name),
                      "keys": list(resolved.keys),
                      "values": {k: {"value": v, "from": resolved.layers.get(k, "?")} for k, v in values.items()}})
    env = {name: os.environ[name] for name in RUNTIME_ENV if name in os.environ}
    if as_json:
        print(json.dumps({"pipeline": pipeline, "dataset": dataset, "stages": shown, "environment": env}, indent=1))
        return 0
    for item in shown:
        print(f"\n{item['kind']} ({item['address']}): reads params.yaml {', '.join(item['keys']) or 'nothing'}")
        width = max((len(k) for k in item["values"]), default=0)
        for key, cell in item["values"].items():
            value = json.dumps(cell["value"])
            print(f"  {key:<{width}}  {value:<24}  {cell['from']}")
    listed = ", ".join(f"{k}={v}" for k, v in env.items()) or "none set"
    print(f"\nruntime (environment, not params): {listed}; these change speed and floating-point summation order, "
          "not the settings (stages record theirs in params.json and metrics.json)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    ap = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command")
    sync_cmd = sub.add_parser("sync", help="regenerate the dvc.yaml files (the default command)")
    sync_cmd.add_argument("--bench", action="store_true", help="write the benchmarks' stage files too, for `dvc` "
                          "commands by hand (`dvc pull`, `dvc repro pipelines/bench/...`); a plain sync removes them")
    sub.add_parser("check", help="exit 1 when a generated dvc.yaml is stale")
    sub.add_parser("list", help="pipelines, their stage instances and the runs asked for")
    run = sub.add_parser("run", help="declare the run if new, sync, `dvc repro` it and print its metrics")
    run.add_argument("pipeline")
    run.add_argument("dataset")
    run.add_argument("--seed", type=int, default=None, help="any seed >= 0 (default: the first of params.yaml seeds)")
    run.add_argument("-f", "--force", action="store_true", help="re-run every stage of the pipeline")
    show = sub.add_parser("show", help="every setting of a pipeline's stages on a data set and the layer it came from")
    show.add_argument("pipeline")
    show.add_argument("dataset")
    show.add_argument("--stage", default=None, help="one stage: its kind (pretext) or its name")
    show.add_argument("--json", action="store_true", help="machine-readable")
    bench = sub.add_parser("bench", help="run every pipeline x seed of a benchmark (resuming), write its table")
    bench.add_argument("dataset")
    bench.add_argument("--pipelines", nargs="+", default=None, help="instead of params.yaml bench.<ds>.pipelines")
    bench.add_argument("--seeds", nargs="+", type=int, default=None, help="instead of bench.<ds>.seeds")
    bench.add_argument("--out", default=None, help="folder for an ad-hoc table (default reports/adhoc-<ds>)")
    bench.add_argument("-f", "--force", action="store_true", help="re-run every stage (not only missing ones)")
    bench.add_argument("--remote", default=None, help="a DVC remote: pull each run's outputs before it (a run "
                       "finished elsewhere is skipped) and push them after (e.g. a folder outside the work tree)")
    bench.add_argument("--table-only", action="store_true", help="write bench.<ds>'s table from the runs that "
                       "finished (listing the others), running nothing: a table built across sessions")
    cluster = sub.add_parser("cluster", help="register a folder of images as a data set, run a pipeline, print the "
                             "report's path")
    cluster.add_argument("folder")
    cluster.add_argument("--k", default="auto", help="clusters: `auto` (estimated without labels, default) or N")
    cluster.add_argument("--pipeline", default="scan", help="the pipeline to run (default scan)")
    cluster.add_argument("--preset", default="cifar10-parquet",
                         help="whose stage settings to use: a built-in data set's name (default cifar10-parquet: "
                         "32x32 images, a CPU budget; cifar10 for the GPU reference)")
    cluster.add_argument("--name", default=None, help="data set name (default: the folder's name)")
    cluster.add_argument("--image-size", type=int, default=32, help="resize every image to this square size (32)")
    cluster.add_argument("--seed", type=int, default=None)
    args = ap.parse_args(argv)
    try:
        if args.command == "check":
            stale = stale_files(ROOT)
            for path in stale:
                print(f"stale: {Path(path).relative_to(ROOT)}; run `python -m pipelines sync`")
            return 1 if stale else 0
        if args.command == "run":
            return _run(args.pipeline, args.dataset, args.seed, args.force)
        if args.command == "bench":
            if args.table_only:
                return _table_only(load_graph(ROOT), args.dataset)
            return _bench(args.dataset, args.pipelines, args.seeds, args.out, args.force, args.remote)
        if args.command == "show":
            return _show(args.pipeline, args.dataset, args.stage, args.json)
        if args.command == "cluster":
            return _cluster(args.folder, args.k, args.pipeline, args.preset, args.name, args.image_size, args.seed)
        for change in sync(ROOT, bench=getattr(args, "bench", False)):
            print(f"[pipelines] {change}")
        if args.command == "list":
            _list(load_graph(ROOT))
    except (DeclarationError, DeepclustError) as exc:  # bad declarations or params: one line, nothing ran
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
