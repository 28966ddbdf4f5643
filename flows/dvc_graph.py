"""Reads DVC's stage graph: which pipelines exist, and the ordered stages of one pipeline on one data set."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import yaml

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
    params: tuple[str, ...] = ()  # dotted params.yaml keys the stage declares


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

    def upstream_of(self, address: str) -> Plan:
        """The plan cut after ADDRESS: that stage and the stages it needs, upstream first."""
        keep = {address}
        for stage in reversed(self.stages):  # downstream-first order: one pass closes the set
            if stage.address in keep:
                keep.update(stage.upstream)
        return Plan(self.pipeline, self.dataset, tuple(s for s in self.stages if s.address in keep))

    def split_first(self, kind: str) -> tuple[Plan, Plan]:
        """(the stages of KIND, the rest): KIND's stages have no upstream in the plan (prepare)."""
        first = tuple(s for s in self.stages if s.meta.get("kind") == kind)
        rest = tuple(s for s in self.stages if s not in first)
        return Plan(self.pipeline, self.dataset, first), Plan(self.pipeline, self.dataset, rest)

    @property
    def params(self) -> list[str]:
        """Every params.yaml key the plan's stages declare, once, in plan order."""
        return list(dict.fromkeys(key for stage in self.stages for key in stage.params))

    def find(self, stage: str) -> StageInfo:
        """A plan stage by address, full name (`scan@digits`), bare name (`scan`) or kind (`pretext`)."""
        for info in self.stages:
            if stage in (info.address, info.name, info.name.split("@", 1)[0], info.meta.get("kind")):
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


def _dataset(stage: Any) -> str:
    meta = stage.meta if isinstance(stage.meta, dict) else {}
    return str(meta.get("dataset") or (stage.name.split("@", 1)[1] if "@" in stage.name else ""))


def _ends(stage: Any) -> list[str]:
    """The pipelines that end at STAGE: `meta: {pipelines: [...]}` (generated) or `meta: {pipeline: ...}`."""
    meta = stage.meta if isinstance(stage.meta, dict) else {}
    names = meta.get("pipelines", [meta["pipeline"]] if "pipeline" in meta else [])
    return [str(n) for n in names]


def reference_seed(root: str) -> int | None:
    """The first of params.yaml's `seeds` (the one deployments run), or None when it declares none."""
    path = Path(root) / "params.yaml"
    seeds = (yaml.safe_load(path.read_text()) or {}).get("seeds") if path.exists() else None
    return int(seeds[0]) if seeds else None


def list_pipelines(root: str) -> list[tuple[str, str]]:
    """(pipeline, data set) for each terminal stage, i.e. each stage whose `meta` names the pipelines ending there."""
    return sorted({(name, _dataset(stage)) for stage in _graph(root).nodes for name in _ends(stage)})


def plan_pipeline(root: str, pipeline: str, dataset: str, seed: int | None = None) -> Plan:
    """The terminal stage of PIPELINE on DATASET (at SEED, default the reference seed) plus its upstream stages,
    in topological order."""
    graph = _graph(root)
    seed = reference_seed(root) if seed is None else seed
    terminals = [
        stage
        for stage in graph.nodes
        if pipeline in _ends(stage) and _dataset(stage) == dataset
        and (seed is None or "seed" not in (stage.meta or {}) or int(stage.meta["seed"]) == seed)
    ]
    if len(terminals) != 1:
        known = ", ".join(f"{p}/{d}" for p, d in list_pipelines(root)) or "none"
        what = "is ambiguous" if terminals else "not found"
        where = f" at seed {seed}" if seed is not None else ""
        raise ValueError(f"pipeline '{pipeline}' on data set '{dataset}'{where} {what} in {root}; known: {known}")
    sub = graph.subgraph(nx.descendants(graph, terminals[0]) | {terminals[0]})
    # Edges point downstream -> upstream, so the reversed topological order runs upstream first.
    ordered = list(reversed(list(nx.topological_sort(sub))))
    return Plan(pipeline, dataset, tuple(_info(stage, sub, root) for stage in ordered))


def _info(stage: Any, graph: nx.DiGraph, root: str) -> StageInfo:
    # Generated stages write `<out>/metrics.json` as a plain uncached out (only the main job's are DVC metrics).
    metrics = tuple(os.path.relpath(out.fs_path, root) for out in stage.outs
                    if out.metric or os.path.basename(out.fs_path) == "metrics.json")
    params = tuple(key for dep in stage.deps if hasattr(dep, "params") and os.path.basename(dep.def_path)
                   == "params.yaml" for key in dep.params)
    return StageInfo(
        address=stage_address(stage, root),
        name=stage.name,
        upstream=tuple(sorted(stage_address(up, root) for up in graph.successors(stage))),
        meta=dict(stage.meta or {}),
        metrics=metrics,
        params=params,
    )
