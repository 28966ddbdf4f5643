"""The one generic flow: run a deepclust pipeline (terminal DVC stage + its upstream) on one data set."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from flows.dvc_graph import Plan, StageInfo, plan_pipeline, resolve_root
from flows.metrics import publish_metrics, read_metrics
from flows.params import read_params
from flows.serve import BENCH, declared
from flows.workspace import RUNS_DIR, open_workspace, save_experiment
from tasks._process import stop_groups_on_sigterm
from tasks.dvc_stage import repro_stage

GPU_TAG = "gpu"  # `prefect concurrency-limit create gpu <N>` then bounds concurrent GPU stages


def _stage_task(stage: StageInfo) -> Any:
    # `meta: {gpus: N}` in dvc.yaml tags the task so a tag concurrency limit can share the GPUs.
    return (
        repro_stage.with_options(tags={GPU_TAG}) if int(stage.meta.get("gpus", 0) or 0) > 0 else repro_stage
    )


def ensure_run(root: str, pipeline: str, dataset: str, seed: int | None) -> None:
    """Adds PIPELINE on DATASET at SEED (default: the reference seed) to params.yaml `runs` when no run asks for it
    yet, and syncs the dvc.yaml files (pipelines/declare.py; one writer at a time)."""
    from pathlib import Path

    from pipelines import load_graph
    from pipelines.declare import ensure_asked

    graph = load_graph(Path(root))
    ensure_asked(pipeline, dataset, [graph.seeds[0] if seed is None else seed], Path(root))


def check_fits(root: str, dataset: str) -> None:
    """Raises (one line) when a run asked for on DATASET cannot work on its prepared data."""
    from pathlib import Path

    from pipelines import fit_problems, load_graph

    found = fit_problems(load_graph(Path(root)), Path(root), dataset)
    if found:
        raise ValueError("params.yaml: " + "; ".join(found))


def _bench_stages(root: str, pipeline: str, dataset: str) -> AbstractContextManager[None]:
    """The benchmarks' stage files on disk for a `bench` run of a deepclust project (pipelines/__init__.py)."""
    from pathlib import Path

    from pipelines import materialised, sync

    if pipeline != BENCH or declared(root) is None:
        return nullcontext()
    if RUNS_DIR.as_posix() in Path(root).as_posix():  # a run's own worktree (overrides): saved, then removed
        sync(Path(root), bench=True)
        return nullcontext()
    return materialised(Path(root), tables=(dataset,))


def _forced(plan: Plan, from_stage: str | None) -> set[str]:
    # Force FROM_STAGE and everything downstream: a deterministic stage re-run can rewrite identical
    # outs, and DVC would then (rightly) skip the stages after it.
    return plan.downstream_of(plan.find(from_stage).address) if from_stage else set()


def submit_stages(
    plan: Plan, root: str, forced: set[str], remote: str | None = None
) -> dict[str, PrefectFuture[str]]:
    """One task per stage, each waiting for its upstream stages' tasks."""
    futures: dict[str, PrefectFuture[str]] = {}
    for stage in plan.stages:
        futures[stage.address] = _stage_task(stage).submit(
            stage.address,
            root,
            force=stage.address in forced,
            remote=remote,
            wait_for=[futures[up] for up in stage.upstream if up in futures],
        )
    return futures


@flow(name="deepclust", task_runner=ThreadPoolTaskRunner(max_workers=2))  # type: ignore[arg-type]
def run_pipeline(
    pipeline: str = "scan",
    dataset: str = "digits",
    seed: int | None = None,
    overrides: dict[str, Any] | None = None,
    from_stage: str | None = None,
    to_stage: str | None = None,
    remote: str | None = None,
    root: str | None = None,
) -> dict[str, Any]:
    """Runs PIPELINE on DATASET through DVC; returns its stages ("ran"|"skipped"), metrics and params.

    SEED is any seed (default: the first of params.yaml's `seeds`, the reference seed); each seed's stages are
    separate DVC stages, so runs of different seeds never recompute each other's work. A run no params.yaml
    `runs` entry asks for yet is added there first (pipelines/declare.py). Once the data set is prepared, its
    params are checked against the data (K and neighbours against N, ...) before any other stage starts.

    OVERRIDES are dotted params.yaml keys (`{"scan.digits.entropy_weight": 3.0}`). They never touch the
    checkout's params.yaml: the run goes to its own git worktree (flows/workspace.py), where DVC re-runs
    exactly the stages that read them, and ends as DVC experiment `run-<hash>` (`dvc exp show`). A killed
    run with overrides continues in that worktree when started again with the same overrides.

    FROM_STAGE (`scan`, `pretext` or a full address) forces that stage and everything downstream of it;
    TO_STAGE stops after that stage. REMOTE names a DVC remote: each stage pulls its outs from it first (a
    stage another machine ran is then skipped) and pushes them after.
    """
    repo = resolve_root(root)
    logger = get_run_logger()
    workdir, experiment = open_workspace(repo, overrides) if overrides else (repo, None)
    if experiment:
        logger.info("overrides %s run in %s (DVC experiment %s)", overrides, workdir, experiment)
    if declared(workdir) is not None and pipeline != BENCH:  # deepclust: a run not yet asked for declares itself
        ensure_run(workdir, pipeline, dataset, seed)
    with _bench_stages(workdir, pipeline, dataset):  # its stages are written for the run (pipelines/bench/...)
        plan = plan_pipeline(workdir, pipeline, dataset, seed)
        plan = plan.upstream_of(plan.find(to_stage).address) if to_stage else plan
        with stop_groups_on_sigterm():  # a cancelled run (SIGTERM) stops its stages at once
            first, rest = plan.split_first("prepare")
            stages = {address: future.result() for address, future in submit_stages(
                first, workdir, _forced(plan, from_stage), remote).items()}
            if declared(workdir) is not None:
                check_fits(workdir, dataset)
            futures = submit_stages(rest, workdir, _forced(plan, from_stage), remote)
            stages.update({address: future.result() for address, future in futures.items()})
    metrics = read_metrics(workdir, plan)
    params = read_params(workdir, plan.params)
    if experiment:
        save_experiment(workdir, experiment, [stage.address for stage in plan.stages])
    publish_metrics(plan, metrics, params)
    return {"stages": stages, "metrics": metrics, "params": params, "experiment": experiment}
