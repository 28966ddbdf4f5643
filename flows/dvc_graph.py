"""Reads DVC's stage graph: which pipelines exist, and the ordered stages of one pipeline on one data set."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

PROJECT_FILE = "dvc.yaml"


def resolve_root(root: str | None = None) -> str:
    """ROOT, else $DEEPCLUST_ROOT, else the repository that contains this file."""
    return str(
        Path(root or os.environ.get("DEEPCLUST_ROOT") or Path(__file__).resolve().parents[1]).resolve()
    )


@dataclass(frozen=True)
class StageInfo:
    """One runnable DVC stage as the flow needs it (plain data, safe to pass to tasks)."""

    address: str  # what `dvc repro -s` takes, relative to the root: `b@toy`, `pipelines/dvc.yaml:b@x`
    name: str
    upstream: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()  # metrics files, relative to the root


@dataclass(frozen=True)
class Plan:
    """The stages of PIPELINE on DATASET, upstream first."""

    pipeline: str
    dataset: str
    stages: tuple[StageInfo, ...]

    @property
    def terminal(self) -> StageInfo:
        return self.stages[-1]

    def downstream_of(self, address: str) -> set[str]:
        """ADDRESS and every stage of the plan that depends on it, directly or not."""
        found = {address}
        for stage in self.stages:  # upstream-first order: one pass closes the set
            if found.intersection(stage.upstream):
                found.add(stage.address)
        return found

    def find(self, stage: str) -> StageInfo:
        """A plan stage by address, full name (`scan@digits`) or bare name (`scan`)."""
        for info in self.stages:
            if stage in (info.address, info.name, info.name.split("@", 1)[0]):
                return info
        names = ", ".join(info.name for info in self.stages)
        raise ValueError(f"unknown stage '{stage}' for {self.pipeline}/{self.dataset}; stages: {names}")


def stage_address(stage: Any, root: str) -> str:
    # Stage.addressing is relative to the *current* directory; tasks run `dvc` in ROOT, so rebuild it.
    rel = os.path.relpath(stage.path, root)
    return stage.name if rel == PROJECT_FILE else f"{rel}:{stage.name}"


def _graph(root: str) -> nx.DiGraph:
    """DVC's stage graph (edge: stage -> its upstream stage), restricted to stages with a command."""
    from dvc.repo import (
        Repo,
    )  # deferred: importing dvc costs ~0.4 s and `--list` style callers may not need it

    with Repo(root) as repo:
        graph = repo.index.graph
    runnable = [stage for stage in graph.nodes if getattr(stage, "cmd", None)]  # drop `dvc add` data stages
    return graph.subgraph(runnable)


def _dataset(stage_name: str) -> str:
    return stage_name.split("@", 1)[1] if "@" in stage_name else ""


def list_pipelines(root: str) -> list[tuple[str, str]]:
    """(pipeline, data set) for each terminal stage, i.e. each stage whose `meta` names a pipeline."""
    found = {
        (str(stage.meta["pipeline"]), _dataset(stage.name))
        for stage in _graph(root).nodes
        if isinstance(stage.meta, dict) and "pipeline" in stage.meta
    }
    return sorted(found)


def plan_pipeline(root: str, pipeline: str, dataset: str) -> Plan:
    """The terminal stage of PIPELINE on DATASET plus all its upstream stages, in topological order."""
    graph = _graph(root)
    terminals = [
        stage
        for stage in graph.nodes
        if isinstance(stage.meta, dict)
        and stage.meta.get("pipeline") == pipeline
        and _dataset(stage.name) == dataset
    ]
    if len(terminals) != 1:
        known = ", ".join(f"{p}/{d}" for p, d in list_pipelines(root)) or "none"
        what = "is ambiguous" if terminals else "not found"
        raise ValueError(f"pipeline '{pipeline}' on data set '{dataset}' {what} in {root}; known: {known}")
    sub = graph.subgraph(nx.descendants(graph, terminals[0]) | {terminals[0]})
    # Edges point downstream -> upstream, so the reversed topological order runs upstream first.
    ordered = list(reversed(list(nx.topological_sort(sub))))
    return Plan(pipeline, dataset, tuple(_info(stage, sub, root) for stage in ordered))


def _info(stage: Any, graph: nx.DiGraph, root: str) -> StageInfo:
    metrics = tuple(os.path.relpath(out.fs_path, root) for out in stage.outs if out.metric)
    return StageInfo(
        address=stage_address(stage, root),
        name=stage.name,
        upstream=tuple(sorted(stage_address(up, root) for up in graph.successors(stage))),
        meta=dict(stage.meta or {}),
        metrics=metrics,
    )
