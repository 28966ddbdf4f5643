"""Pipelines as data: the `pipelines` declaration of params.yaml expanded into shared stage instances.

A pipeline is a sequence of stage kinds, optionally with per-stage params that override `<stage>.<preset>`:

    pipelines:
      scan: [prepare, pretext, embed, mine, scan, selflabel, evaluate]
      kmeans: [prepare, pretext, embed, kmeans, evaluate]
      scan-on-features: {stages: [prepare, embed, mine, scan, selflabel, evaluate], scan: {head: mlp}}

Two pipelines share a stage instance when everything up to and including it is the same (kinds and
overrides): `kmeans` above reuses `scan`'s prepare, pretext and embed, so they run once. The pipelines form
a prefix tree; each node is one DVC stage per data set and seed. An instance is named after the first
pipeline (in declaration order) that reaches it: `<kind>-<pipeline>`, or just `<kind>` when the pipeline is
named after it, or `prepare` (one per data set). Append new pipelines at the end: names, and so paths and
`dvc.lock` entries, of the existing ones then stay as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.kinds import KINDS, Kind

NAME = re.compile(r"^[a-z][a-z0-9-]*$")


class DeclarationError(ValueError):
    """The pipelines declaration (or seeds / main) in params.yaml is invalid; the message says where."""


@dataclass(frozen=True)
class Pipeline:
    """One declared pipeline: its stage kinds in order and per-stage params overrides."""

    name: str
    stages: tuple[str, ...]
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Wire:
    """One argv input of an instance: the flag and the instances whose artifact it reads."""

    flag: str
    artifact: str
    sources: tuple[str, ...]  # instance names; several only for `many` inputs
    many: bool = False


@dataclass
class Instance:
    """One stage instance of the graph (a DVC `foreach` group over data sets, per seed).

    Attributes:
        name: DVC stage group name and output folder (`pretext-scan`, `scan`, `evaluate-kmeans`).
        kind: The stage kind it runs.
        owner: The first pipeline that reaches it; its overrides (if any) apply.
        wires: Inputs, resolved to upstream instances.
        override: True when `pipelines.<owner>.<kind>` overrides its params.
        upstream: Every instance before it in the owner's pipeline, in order.
        terminal_of: The pipelines that end here.
        used_by: Every pipeline that runs it.
    """

    name: str
    kind: str
    owner: str
    wires: tuple[Wire, ...]
    override: bool
    upstream: tuple[str, ...]
    terminal_of: list[str] = field(default_factory=list)
    used_by: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Bench:
    """One benchmark table: these pipelines x these seeds on one data set (params.yaml `bench.<ds>`)."""

    dataset: str
    pipelines: tuple[str, ...]
    seeds: tuple[int, ...]
    published: str | None = None  # key of deepclust/bench/published.csv


@dataclass(frozen=True)
class Graph:
    """Every instance (upstream first), the pipelines, the seeds, the main job and the benchmarks."""

    instances: tuple[Instance, ...]
    pipelines: tuple[Pipeline, ...]
    seeds: tuple[int, ...]
    main_dataset: str
    main_pipelines: tuple[str, ...]
    benches: tuple[Bench, ...] = ()
    nproc_per_node: Mapping[str, int] = field(default_factory=dict)  # training stage kind -> processes (> 1)

    def instance(self, name: str) -> Instance:
        return next(i for i in self.instances if i.name == name)

    def terminal(self, pipeline: str) -> Instance:
        """The instance a pipeline ends with."""
        for inst in self.instances:
            if pipeline in inst.terminal_of:
                return inst
        known = ", ".join(p.name for p in self.pipelines)
        raise DeclarationError(f"unknown pipeline '{pipeline}'; declared: {known}")


def parse_pipelines(raw: Any) -> list[Pipeline]:
    """Reads the `pipelines` mapping: name -> [kinds] or {stages: [kinds], <kind>: {param: value}}."""
    if not isinstance(raw, Mapping) or not raw:
        raise DeclarationError("params.yaml: `pipelines` must map pipeline names to lists of stage kinds")
    out = []
    for name, spec in raw.items():
        where = f"pipelines.{name}"
        if not isinstance(name, str) or not NAME.match(name):
            raise DeclarationError(f"params.yaml: {where}: names are lowercase letters, digits and dashes")
        spec = {"stages": spec} if isinstance(spec, list) else spec
        if not isinstance(spec, Mapping) or not isinstance(spec.get("stages"), list) or not spec["stages"]:
            raise DeclarationError(f"params.yaml: {where}: expected a list of stage kinds or {{stages: [...]}}")
        stages = tuple(spec["stages"])
        unknown = [s for s in stages if s not in KINDS]
        if unknown:
            raise DeclarationError(f"params.yaml: {where}: unknown stage kind(s) {unknown}; known: {sorted(KINDS)}")
        overrides = {k: v for k, v in spec.items() if k != "stages"}
        for kind, values in overrides.items():
            if kind not in stages or not isinstance(values, Mapping):
                raise DeclarationError(
                    f"params.yaml: {where}.{kind}: overrides must be a mapping for a stage of the pipeline "
                    f"({', '.join(stages)})")
        out.append(Pipeline(name, stages, overrides))
    return out


def _name(kind: str, owner: str) -> str:
    return kind if kind in ("prepare", owner) else f"{kind}-{owner}"


def _wire(kind: Kind, chain: list[Instance], pipeline: str, position: int) -> tuple[Wire, ...]:
    """Connects each input to the nearest upstream producer (every producer for `many` inputs)."""
    def producers(artifact: str) -> list[Instance]:
        return [i for i in chain if artifact in KINDS[i.kind].outputs]

    wires = []
    for inp in kind.inputs:
        if inp.unless and producers(inp.unless):
            continue
        found = producers(inp.artifact)
        if not found:
            if inp.required:
                before = ", ".join(i.kind for i in chain) or "nothing"
                raise DeclarationError(
                    f"params.yaml: pipelines.{pipeline}: stage {position + 1} ({kind.name}) needs {inp.artifact}, "
                    f"which no stage before it produces ({before})")
            continue
        chosen = found if inp.many else found[-1:]
        wires.append(Wire(inp.flag, inp.artifact, tuple(i.name for i in chosen), inp.many))
    return tuple(wires)


def expand(pipelines: Sequence[Pipeline]) -> list[Instance]:
    """The prefix tree of the pipelines as instances, upstream first; each pipeline's terminal marked."""
    by_key: dict[tuple, Instance] = {}
    names: set[str] = set()
    ends: dict[str, str] = {}
    for pipe in pipelines:
        if pipe.stages[0] != "prepare" or "prepare" in pipe.stages[1:]:
            raise DeclarationError(f"params.yaml: pipelines.{pipe.name}: must start with prepare (and only once)")
        key: tuple = ()
        chain: list[Instance] = []
        for position, kind in enumerate(pipe.stages):
            override = pipe.overrides.get(kind)
            key += ((kind, json.dumps(override, sort_keys=True) if override else None),)
            if key not in by_key:
                name = _name(kind, pipe.name)
                while name in names:  # the same kind twice in one pipeline
                    name += "-2"
                names.add(name)
                by_key[key] = Instance(name, kind, pipe.name, _wire(KINDS[kind], chain, pipe.name, position),
                                       override is not None, tuple(i.name for i in chain))
            chain.append(by_key[key])
            chain[-1].used_by.append(pipe.name)
        if chain[-1].name in ends.values():
            twin = next(p for p, n in ends.items() if n == chain[-1].name)
            raise DeclarationError(f"params.yaml: pipelines.{pipe.name} is the same as pipelines.{twin}")
        ends[pipe.name] = chain[-1].name
        chain[-1].terminal_of.append(pipe.name)
    return list(by_key.values())


def parse_seeds(raw: Any) -> tuple[int, ...]:
    """`seeds`: a non-empty list of distinct non-negative integers; the first is the reference seed."""
    if raw is None:
        return (0,)
    ok = isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in raw)
    if not ok or len(set(raw)) != len(raw):
        raise DeclarationError(f"params.yaml: seeds must be a list of distinct integers >= 0, got {raw!r}")
    return tuple(raw)


def parse_nproc(raw: Any, kinds: set[str]) -> dict[str, int]:
    """`nproc_per_node`: training stage kind -> processes per node (1 when absent); only counts > 1 are kept."""
    raw = {} if raw is None else raw
    trains = sorted(k for k in kinds if KINDS[k].trains)
    if not isinstance(raw, dict) or any(k not in trains or isinstance(v, bool) or not isinstance(v, int) or v < 1
                                        for k, v in raw.items()):
        raise DeclarationError(f"params.yaml: nproc_per_node maps training stage kinds ({', '.join(trains)}) to "
                               f"integers >= 1, got {raw!r}")
    return {k: v for k, v in raw.items() if v > 1}


def check_presets(params: Mapping[str, Any], kinds: set[str]) -> None:
    """Every data set names a preset with a block in every stage section in use (DVC reads
    `<stage>.${item.preset}` for every data set, so one missing key would break every `dvc` command)."""
    for name, block in (params.get("datasets") or {}).items():
        preset = block.get("preset") if isinstance(block, Mapping) else None
        if not isinstance(preset, str):
            raise DeclarationError(
                f"params.yaml: datasets.{name}.preset is missing: every data set names the preset whose stage "
                "settings it uses (its own name for a built-in one, e.g. `preset: cifar10-parquet` for your images)")
        missing = sorted(k for k in kinds if preset not in (params.get(k) or {}))
        if missing:
            raise DeclarationError(f"params.yaml: data set {name!r} uses preset {preset!r}, which has no block in "
                                   f"{', '.join(f'{k}.{preset}' for k in missing)}")


def parse_benches(raw: Any, pipes: Sequence[Pipeline], seeds: Sequence[int],
                  datasets: Mapping[str, Any]) -> tuple[Bench, ...]:
    """`bench`: data set -> {pipelines: [...] (default: every declared pipeline that ends in evaluate),
    seeds: [...] (default: all of `seeds`), published: key}."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise DeclarationError("params.yaml: bench must map data sets to {pipelines, seeds, published}")
    scored = [p.name for p in pipes if p.stages[-1] == "evaluate"]
    out = []
    for dataset, spec in raw.items():
        where = f"params.yaml: bench.{dataset}"
        spec = spec or {}
        if dataset not in datasets:
            raise DeclarationError(f"{where}: unknown data set; `datasets` has {sorted(datasets)}")
        unknown = set(spec) - {"pipelines", "seeds", "published"}
        if not isinstance(spec, Mapping) or unknown:
            raise DeclarationError(f"{where}: expected {{pipelines, seeds, published}}, got {sorted(unknown)}")
        chosen = spec.get("pipelines", "all")
        chosen = scored if chosen == "all" else chosen
        if not isinstance(chosen, list) or not chosen or any(p not in scored for p in chosen):
            raise DeclarationError(f"{where}.pipelines: `all` or a list of declared pipelines that end in evaluate "
                                   f"({', '.join(scored)}), got {chosen!r}")
        bench_seeds = spec.get("seeds", list(seeds))
        if not isinstance(bench_seeds, list) or not bench_seeds or any(s not in seeds for s in bench_seeds):
            raise DeclarationError(f"{where}.seeds: a list of params.yaml seeds {list(seeds)}, got {bench_seeds!r}")
        out.append(Bench(str(dataset), tuple(chosen), tuple(bench_seeds), spec.get("published")))
    return tuple(out)


def build_graph(params: Mapping[str, Any]) -> Graph:
    """Validates `pipelines`, `seeds`, `main`, `bench` and the data sets' presets of a loaded params.yaml and
    expands the pipelines."""
    pipes = parse_pipelines(params.get("pipelines"))
    instances = expand(pipes)
    check_presets(params, {i.kind for i in instances} - {"prepare"})
    seeds = parse_seeds(params.get("seeds"))
    main = params.get("main") or {}
    dataset, chosen = main.get("dataset"), main.get("pipelines")
    datasets = params.get("datasets") or {}
    if dataset not in datasets:
        raise DeclarationError(f"params.yaml: main.dataset must name a data set of `datasets`, got {dataset!r}")
    names = [p.name for p in pipes]
    if not isinstance(chosen, list) or not chosen or any(p not in names for p in chosen):
        raise DeclarationError(f"params.yaml: main.pipelines must list declared pipelines ({names}), got {chosen!r}")
    benches = parse_benches(params.get("bench"), pipes, seeds, datasets)
    nproc = parse_nproc(params.get("nproc_per_node"), {i.kind for i in instances})
    return Graph(tuple(instances), tuple(pipes), seeds, str(dataset), tuple(chosen), benches, nproc)
