"""The one generic flow: run a deepclust pipeline (terminal DVC stage + its upstream) on one data set."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from flows.dvc_graph import Plan, StageInfo, plan_pipeline, resolve_root
from flows.metrics import publish_metrics, read_metrics
from flows.params import apply_overrides
from tasks.dvc_stage import repro_stage

GPU_TAG = "gpu"  # `prefect concurrency-limit create gpu <N>` then bounds concurrent GPU stages


def _stage_task(stage: StageInfo) -> Any:
    # `meta: {gpus: N}` in dvc.yaml tags the task so a tag concurrency limit can share the GPUs.
    return (
        repro_stage.with_options(tags={GPU_TAG}) if int(stage.meta.get("gpus", 0) or 0) > 0 else repro_stage
    )


def _forced(plan: Plan, from_stage: str | None) -> set[str]:
    # Force FROM_STAGE and everything downstream: a deterministic stage re-run can rewrite identical
    # outs, and DVC would then (rightly) skip the stages after it.
    return plan.downstream_of(plan.find(from_stage).address) if from_stage else set()


def submit_stages(plan: Plan, root: str, forced: set[str]) -> dict[str, PrefectFuture[str]]:
    """One task per stage, each waiting for its upstream stages' tasks."""
    futures: dict[str, PrefectFuture[str]] = {}
    for stage in plan.stages:
        futures[stage.address] = _stage_task(stage).submit(
            stage.address,
            root,
            force=stage.address in forced,
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
    root: str | None = None,
) -> dict[str, Any]:
    """Runs PIPELINE on DATASET through DVC; returns {"stages": {address: "ran"|"skipped"}, "metrics": ...}.

    SEED is one of params.yaml's `seeds` (default: the first, the reference seed); each seed's stages are
    separate DVC stages, so runs of different seeds never recompute each other's work.

    OVERRIDES are dotted params.yaml keys (`{"scan.digits.entropy_weight": 3.0}`) written before any stage
    runs, so DVC re-runs exactly the stages that read them. FROM_STAGE (`scan` or a full address) forces
    that stage and everything downstream of it.
    """
    repo = resolve_root(root)
    logger = get_run_logger()
    if overrides:
        replaced = apply_overrides(repo, overrides)
        logger.info("params.yaml overrides %s (were %s)", overrides, replaced)
    plan = plan_pipeline(repo, pipeline, dataset, seed)
    futures = submit_stages(plan, repo, _forced(plan, from_stage))
    stages = {address: future.result() for address, future in futures.items()}
    metrics = read_metrics(repo, plan)
    publish_metrics(plan, metrics)
    return {"stages": stages, "metrics": metrics}
