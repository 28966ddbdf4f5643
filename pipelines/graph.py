"""Pipelines as data, and the runs asked for: params.yaml's `pipelines`, `main`, `bench` and `runs` expanded into
the stage instances DVC runs.

A pipeline is a sequence of stage kinds, optionally with per-stage params that override `<stage>.<preset>`:

    pipelines:
      scan: [prepare, pretext, embed, mine, scan, selflabel, evaluate]
      kmeans: [prepare, pretext, embed, kmeans, evaluate]
      scan-on-features: {stages: [prepare, embed, mine, scan, selflabel, evaluate], scan: {head: mlp}}

An instance is named after its path, the kinds from the first stage after `prepare` up to it:
`pretext-embed-mine-scan` is SCAN on the SimCLR backbone, `embed-kmeans` k-means on the raw input. A stage that
a pipeline overrides is that pipeline's own and carries its name (`embed-mine-scan_scan-on-features`), and so does
everything after it. Two pipelines share every instance up to where their paths part (`kmeans` reuses `scan`'s
pretext and embed), so shared stages run once, and a name depends on nothing but the path: declaring, reordering
or deleting another pipeline never renames a stage or moves its output folder.

The graph holds only the runs asked for: `main` (what a bare `dvc repro` runs), `bench` (the benchmark tables) and
`runs` (the runs a user declared, or started with `python -m pipelines run` or a deployment, which add
themselves), each a data set x pipelines x seeds. Declaring a pipeline costs nothing until a run uses it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stages.kinds import KINDS, Kind, all_kinds

NAME = re.compile(r"^[a-z][a-z0-9-]*$")


class DeclarationError(ValueError):
    """The declarations in params.yaml (pipelines, main, bench, runs, seeds) are invalid; the message says where."""


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
    """One stage instance (a DVC stage per data set and seed that runs it).

    Attributes:
        name: DVC stage name and output folder: its path (`pretext-embed-mine-scan`), or `prepare`.
        kind: The stage kind it runs.
        variant: The pipeline whose `pipelines.<variant>.<kind>` overrides its params, or None.
        wires: Inputs, resolved to upstream instances.
        upstream: Every instance before it on its path, in order (prepare first).
        terminal_of: The declared pipelines that end here.
    """

    name: str
    kind: str
    variant: str | None
    wires: tuple[Wire, ...]
    upstream: tuple[str, ...]
    terminal_of: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Bench:
    """One benchmark table: these pipelines x these seeds on one data set (params.yaml `bench.<ds>`)."""

    dataset: str
    pipelines: tuple[str, ...]
    seeds: tuple[int, ...]
    published: str | None = None  # key of deepclust/bench/published.csv


@dataclass(frozen=True)
class Run:
    """Pipelines x seeds on one data set, asked for by `main`, a `bench` entry or a `runs` entry."""

    dataset: str
    pipelines: tuple[str, ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class Graph:
    """Every instance of every declared pipeline (upstream first), the declarations, and the runs asked for."""

    instances: tuple[Instance, ...]
    pipelines: tuple[Pipeline, ...]
    seeds: tuple[int, ...]
    main: Run
    benches: tuple[Bench, ...] = ()
    runs: tuple[Run, ...] = ()
    nproc_per_node: Mapping[str, int] = field(default_factory=dict)  # training stage kind -> processes (> 1)
    params: Mapping[str, Any] = field(default_factory=dict)  # the loaded params.yaml

    def instance(self, name: str) -> Instance:
        found = next((i for i in self.instances if i.name == name), None)
        if found is None:
            raise DeclarationError(f"unknown stage {name!r}")
        return found

    def pipeline(self, name: str) -> Pipeline:
        found = next((p for p in self.pipelines if p.name == name), None)
        if found is None:
            known = ", ".join(p.name for p in self.pipelines)
            raise DeclarationError(f"unknown pipeline '{name}'; declared: {known}")
        return found

    def terminal(self, pipeline: str) -> Instance:
        """The instance a pipeline ends with."""
        self.pipeline(pipeline)
        return next(i for i in self.instances if pipeline in i.terminal_of)

    def chain(self, pipeline: str) -> list[Instance]:
        """The instances a pipeline runs, prepare first."""
        end = self.terminal(pipeline)
        return [*(self.instance(n) for n in end.upstream), end]

    def asked(self, extra: Iterable[Run] = ()) -> dict[tuple[str, int], list[str]]:
        """(data set, seed) -> the pipelines asked for there (main, benches, runs, EXTRA), in declaration order."""
        return gather_runs((self.main, *self.bench_runs(), *self.runs, *extra))

    def live(self) -> dict[tuple[str, int], list[str]]:
        """What the checked-in graph holds: the main job and `runs` (benchmarks are written while they run)."""
        return gather_runs((self.main, *self.runs))

    def bench_runs(self) -> tuple[Run, ...]:
        return tuple(Run(b.dataset, b.pipelines, b.seeds) for b in self.benches)

    def instances_for(self, pipelines: Iterable[str]) -> list[Instance]:
        """The instances the PIPELINES run, each once, upstream first."""
        names = {i.name for p in pipelines for i in self.chain(p)}
        return [i for i in self.instances if i.name in names]


def gather_runs(runs: Iterable[Run]) -> dict[tuple[str, int], list[str]]:
    out: dict[tuple[str, int], list[str]] = {}
    for run in runs:
        for seed in run.seeds:
            chosen = out.setdefault((run.dataset, seed), [])
            chosen += [p for p in run.pipelines if p not in chosen]
    return out


def parse_pipelines(raw: Any) -> list[Pipeline]:
    """Reads the `pipelines` mapping: name -> [kinds] or {stages: [kinds], <kind>: {param: value}}."""
    if not isinstance(raw, Mapping) or not raw:
        raise DeclarationError("params.yaml: `pipelines` must map pipeline names to lists of stage kinds")
    all_kinds()  # loads every declaration
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
    by_path: dict[tuple[str, ...], Instance] = {}
    ends: dict[str, str] = {}
    for pipe in pipelines:
        if pipe.stages[0] != "prepare" or "prepare" in pipe.stages[1:]:
            raise DeclarationError(f"params.yaml: pipelines.{pipe.name}: must start with prepare (and only once)")
        path: tuple[str, ...] = ()
        chain: list[Instance] = []
        for position, kind in enumerate(pipe.stages):
            variant = pipe.name if kind in pipe.overrides else None
            path += () if kind == "prepare" else (kind if variant is None else f"{kind}_{variant}",)
            if path not in by_path:
                name = "-".join(path) or "prepare"
                twin = next((p for p, i in by_path.items() if i.name == name), None)
                if twin is not None:
                    raise DeclarationError(f"params.yaml: pipelines.{pipe.name}: its stage {name!r} has the name of "
                                           "another stage path; rename the pipeline")
                by_path[path] = Instance(name, kind, variant, _wire(KINDS[kind], chain, pipe.name, position),
                                         tuple(i.name for i in chain))
            chain.append(by_path[path])
        if chain[-1].name in ends.values():
            same = next(p for p, n in ends.items() if n == chain[-1].name)
            raise DeclarationError(f"params.yaml: pipelines.{pipe.name} is the same as pipelines.{same}")
        ends[pipe.name] = chain[-1].name
        chain[-1].terminal_of.append(pipe.name)
    return list(by_path.values())


def _seeds(raw: Any, where: str) -> tuple[int, ...]:
    ok = isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in raw)
    if not ok or len(set(raw)) != len(raw):
        raise DeclarationError(f"params.yaml: {where} must be a list of distinct integers >= 0, got {raw!r}")
    return tuple(raw)


def _pipelines(raw: Any, pipes: Sequence[Pipeline], where: str) -> tuple[str, ...]:
    """`all` (every declared pipeline that ends in evaluate) or a list of declared pipelines."""
    scored = [p.name for p in pipes if p.stages[-1] == "evaluate"]
    if raw == "all":
        return tuple(scored)
    names = [p.name for p in pipes]
    if not isinstance(raw, list) or not raw or any(p not in names for p in raw):
        raise DeclarationError(f"params.yaml: {where}: `all` or a list of declared pipelines ({', '.join(names)}), "
                               f"got {raw!r}")
    return tuple(raw)


def _dataset(name: Any, datasets: Mapping[str, Any], where: str) -> str:
    if name not in datasets:
        raise DeclarationError(f"params.yaml: {where}: unknown data set {name!r}; `datasets` has {sorted(datasets)}")
    return str(name)


def parse_nproc(raw: Any) -> dict[str, int]:
    """`nproc_per_node`: training stage kind -> processes per node (1 when absent); only counts > 1 are kept."""
    raw = {} if raw is None else raw
    trains = sorted(k for k, kind in KINDS.items() if kind.trains)
    if not isinstance(raw, dict) or any(k not in trains or isinstance(v, bool) or not isinstance(v, int) or v < 1
                                        for k, v in raw.items()):
        raise DeclarationError(f"params.yaml: nproc_per_node maps training stage kinds ({', '.join(trains)}) to "
                               f"integers >= 1, got {raw!r}")
    return {k: v for k, v in raw.items() if v > 1}


def parse_benches(raw: Any, pipes: Sequence[Pipeline], seeds: Sequence[int],
                  datasets: Mapping[str, Any]) -> tuple[Bench, ...]:
    """`bench`: data set -> {pipelines: [...] (default `all`), exclude: [...], seeds: [...] (default `seeds`),
    published: key}."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise DeclarationError("params.yaml: bench must map data sets to {pipelines, seeds, published}")
    out = []
    for dataset, spec in raw.items():
        where = f"bench.{dataset}"
        spec = spec or {}
        _dataset(dataset, datasets, where)
        unknown = set(spec) - {"pipelines", "exclude", "seeds", "published"} if isinstance(spec, Mapping) else {"?"}
        if unknown:
            raise DeclarationError(f"params.yaml: {where}: expected {{pipelines, exclude, seeds, published}}, "
                                   f"got {sorted(unknown)}")
        chosen = _pipelines(spec.get("pipelines", "all"), pipes, f"{where}.pipelines")
        excluded = spec.get("exclude", [])
        if not isinstance(excluded, list) or any(p not in chosen for p in excluded):
            raise DeclarationError(f"params.yaml: {where}.exclude: a list of its pipelines, got {excluded!r}")
        chosen = tuple(p for p in chosen if p not in excluded)
        if any(graph_end != "evaluate" for graph_end in (next(p for p in pipes if p.name == c).stages[-1]
                                                          for c in chosen)):
            raise DeclarationError(f"params.yaml: {where}.pipelines: a benchmark scores pipelines that end in evaluate")
        out.append(Bench(str(dataset), chosen, _seeds(spec.get("seeds", list(seeds)), f"{where}.seeds"),
                         spec.get("published")))
    return tuple(out)


def parse_runs(raw: Any, pipes: Sequence[Pipeline], seeds: Sequence[int], datasets: Mapping[str, Any]
               ) -> tuple[Run, ...]:
    """`runs`: a list of {dataset, pipelines: [...] or all, seeds: [...] (default: the first of `seeds`)}."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise DeclarationError("params.yaml: runs must be a list of {dataset, pipelines, seeds}")
    out = []
    for i, spec in enumerate(raw):
        where = f"runs[{i}]"
        if not isinstance(spec, Mapping) or set(spec) - {"dataset", "pipelines", "seeds"} or "dataset" not in spec:
            raise DeclarationError(f"params.yaml: {where}: expected {{dataset, pipelines, seeds}}, got {spec!r}")
        out.append(Run(_dataset(spec["dataset"], datasets, f"{where}.dataset"),
                       _pipelines(spec.get("pipelines"), pipes, f"{where}.pipelines"),
                       _seeds(spec.get("seeds", list(seeds[:1])), f"{where}.seeds")))
    return tuple(out)


def build_graph(params: Mapping[str, Any]) -> Graph:
    """Validates the declarations of a loaded params.yaml (`pipelines`, `seeds`, `main`, `bench`, `runs`,
    `nproc_per_node`) and expands the pipelines."""
    pipes = parse_pipelines(params.get("pipelines"))
    instances = expand(pipes)
    seeds = _seeds(params.get("seeds", [0]), "seeds")
    datasets = params.get("datasets") or {}
    main = params.get("main") or {}
    if not isinstance(main, Mapping) or set(main) - {"dataset", "pipelines"}:
        raise DeclarationError(f"params.yaml: main must be {{dataset, pipelines}}, got {main!r}")
    main_run = Run(_dataset(main.get("dataset"), datasets, "main.dataset"),
                   _pipelines(main.get("pipelines"), pipes, "main.pipelines"), seeds[:1])
    benches = parse_benches(params.get("bench"), pipes, seeds, datasets)
    runs = parse_runs(params.get("runs"), pipes, seeds, datasets)
    return Graph(tuple(instances), tuple(pipes), seeds, main_run, benches, runs,
                 parse_nproc(params.get("nproc_per_node")), params)


def run_key(pipeline: str, dataset: str, seed: int) -> str:
    """Stable text of one run, for messages and the `runs` entries the CLI adds."""
    return json.dumps({"dataset": dataset, "pipelines": [pipeline], "seeds": [seed]})
