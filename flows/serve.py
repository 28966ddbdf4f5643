"""Serves one deployment `deepclust/<pipeline>-<dataset>` per declared pipeline x data set, from one process.

A deployment's run declares itself in params.yaml `runs` when it is new (pipelines/declare.py), so the DVC graph
holds only what was run or asked for while every pipeline x data set stays one command away. A plain DVC project
(no `pipelines` in its params.yaml) gets one deployment per terminal stage of its graph instead.

prefect server start                      # once, from the repository root (prefect.toml sets the API url)
python -m flows.serve                     # or: python -m flows.serve --list
prefect deployment run deepclust/scan-digits --watch
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from flows.dvc_graph import list_pipelines, resolve_root

# Per-deployment deviations, merged into `run_pipeline.to_deployment(...)` keyword arguments.
# Example: {"scan-cifar10": {"tags": ["gpu"], "concurrency_limit": 1}}. Keys that name no deployment warn.
OVERRIDES: dict[str, dict[str, Any]] = {}


def deployment_name(pipeline: str, dataset: str) -> str:
    """`<pipeline>-<dataset>`; the CLI address is `deepclust/<that>`."""
    return f"{pipeline}-{dataset}" if dataset else pipeline


BENCH = "bench"  # the pseudo-pipeline of a benchmark table (`bench-<ds>`: its DVC stage runs every run it lists)


def declared(root: str) -> list[tuple[str, str]] | None:
    """(pipeline, data set) for every declared pipeline x data set of a deepclust project, and (bench, data set)
    for every benchmark table; None for another DVC project."""
    import yaml

    path = Path(root) / "params.yaml"
    params = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
    if "pipelines" not in params:
        return None
    return [(p, d) for p in params["pipelines"] for d in params.get("datasets") or {}] + \
        [(BENCH, d) for d in params.get("bench") or {}]


def deployment_specs(root: str) -> dict[str, dict[str, Any]]:
    """Deployment name -> `to_deployment` keyword arguments, for every (pipeline, data set)."""
    pairs = declared(root)
    specs = {
        deployment_name(pipeline, dataset): {
            "parameters": {"pipeline": pipeline, "dataset": dataset},
            "tags": [pipeline, dataset] if dataset else [pipeline],
        }
        for pipeline, dataset in (pairs if pairs is not None else list_pipelines(root))
    }
    for name, extra in OVERRIDES.items():
        if name in specs:
            specs[name] = {**specs[name], **extra}
        else:
            print(
                f"warning: OVERRIDES names unknown deployment '{name}'; known: {', '.join(specs)}",
                file=sys.stderr,
            )
    return specs


def _sync(root: str) -> None:
    """Brings a deepclust project's generated dvc.yaml files up to date with its params.yaml."""
    from pipelines import sync

    if declared(root) is not None:
        for change in sync(Path(root)):
            print(f"[pipelines] {change}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """`python -m flows.serve [--list] [--root DIR]`."""
    parser = argparse.ArgumentParser(prog="python -m flows.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the deployment names and exit")
    parser.add_argument("--root", help="DVC repository (default: $DEEPCLUST_ROOT, else this checkout)")
    args = parser.parse_args(argv)
    root = resolve_root(args.root)
    _sync(root)
    from dvc.exceptions import DvcException

    try:
        specs = deployment_specs(root)
    except DvcException as exc:  # not a DVC repo, broken dvc.yaml: one line, not a traceback
        print(f"error: cannot read the DVC stage graph of {root}: {exc}", file=sys.stderr)
        return 1
    if args.list:
        print("\n".join(f"deepclust/{name}" for name in specs))
        return 0
    if not specs:
        print(f"error: no stage in {root}/dvc.yaml carries `meta: {{pipeline: ...}}`", file=sys.stderr)
        return 1
    from prefect import serve  # deferred so `--list` stays fast and needs no API

    from flows.pipeline import run_pipeline

    for spec in specs.values():
        if args.root:  # pin an explicit root; otherwise runs inherit $DEEPCLUST_ROOT from this process
            spec["parameters"]["root"] = root
    deployments = [run_pipeline.to_deployment(name=name, **spec) for name, spec in specs.items()]
    serve(*deployments)  # type: ignore[arg-type]  # to_deployment is sync-compatible: sync call, sync result
    return 0


if __name__ == "__main__":
    sys.exit(main())
