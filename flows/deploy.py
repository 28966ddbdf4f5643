"""Registers the `deepclust/<pipeline>-<dataset>` deployments on a Prefect work pool (workers run them).

prefect work-pool create gpu-pool --type process
python -m flows.deploy --pool gpu-pool --only scan-cifar10     # from the checkout the workers will use
prefect worker start --pool gpu-pool                           # on the GPU machine
prefect deployment run deepclust/scan-cifar10 --watch
See docs/scale-out.md (Docker and Kubernetes pools, a DVC remote between machines).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from flows.dvc_graph import resolve_root
from flows.serve import _sync, deployment_specs

ENTRYPOINT = "flows/pipeline.py:run_pipeline"


def main(argv: list[str] | None = None) -> int:
    """`python -m flows.deploy --pool POOL [--only NAME ...] [--source DIR|GIT_URL] [--job-variables JSON]`."""
    parser = argparse.ArgumentParser(prog="python -m flows.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--pool", required=True, help="work pool name (`prefect work-pool create NAME --type ...`)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="deploy only this deployment (`scan-cifar10`); repeat for several; default: all")
    parser.add_argument("--root", help="DVC repository (default: $DEEPCLUST_ROOT, else this checkout)")
    parser.add_argument("--source", help="where workers get the code: a directory that exists at the same "
                        "path on the worker, or a git URL the worker clones (default: the root)")
    parser.add_argument("--job-variables", type=json.loads, default={}, metavar="JSON",
                        help='overrides of the pool\'s job template, e.g. \'{"env": {"CUDA_VISIBLE_DEVICES": "0"}}\'')
    parser.add_argument("--image", help="container image, for docker or kubernetes pools")
    args = parser.parse_args(argv)
    root = resolve_root(args.root)
    _sync(root)
    specs = deployment_specs(root)
    unknown = sorted(set(args.only) - set(specs))
    if unknown:
        print(f"error: unknown deployment(s) {', '.join(unknown)}; known: {', '.join(specs)}", file=sys.stderr)
        return 1
    from prefect import deploy

    from flows.pipeline import run_pipeline

    for spec in specs.values():
        if args.root:  # pin an explicit root; otherwise a run uses its source's checkout (or $DEEPCLUST_ROOT)
            spec["parameters"]["root"] = root
    flow: Any = run_pipeline.from_source(source=args.source or root, entrypoint=ENTRYPOINT)
    deployments = [
        flow.to_deployment(name=name, job_variables=args.job_variables, **spec)
        for name, spec in specs.items() if not args.only or name in args.only
    ]
    deploy(*deployments, work_pool_name=args.pool, image=args.image, build=False, push=False,
           print_next_steps_message=False)
    print("\n".join(f"deepclust/{d.name} -> work pool {args.pool}" for d in deployments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
