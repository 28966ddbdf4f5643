"""Pipelines as data: params.yaml's `pipelines` and the runs asked for (`main`, `bench`, `runs`) compiled into the
DVC stage graph.

`python -m pipelines sync` writes dvc.yaml and pipelines/**/dvc.yaml; `python -m pipelines run <pipeline>
<dataset>` declares that run (when it is new), syncs, reproduces it with DVC and prints its metrics. Nothing here
imports torch or the library: it reads params.yaml, the stage kinds' declarations and the stages' source (for
their imports).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import yaml

from deepclust.errors import DeepclustError
from pipelines.graph import DeclarationError, Graph, Instance, Run, build_graph
from pipelines.imports import forget
from pipelines.render import BENCH_DIR, HEADER, render_all, render_bench_files
from stages.resolve import Resolved, problems, read_params, resolve

ROOT = Path(__file__).resolve().parent.parent


def load_graph(root: Path = ROOT) -> Graph:
    """Reads ROOT/params.yaml and expands its pipelines and runs."""
    try:
        params = read_params(Path(root) / "params.yaml")
    except DeepclustError as exc:  # missing file, bad YAML
        raise DeclarationError(str(exc)) from None
    return build_graph(params)


def _generated(root: Path) -> list[Path]:
    """Generated dvc.yaml files on disk (they start with HEADER): a run no longer asked for leaves its file."""
    return [p for p in sorted((Path(root) / "pipelines").rglob("dvc.yaml")) if p.read_text().startswith(HEADER)]


def fit_problems(graph: Graph, root: Path, dataset: str | None = None,
                 pipelines: list[str] | None = None) -> list[str]:
    """What cannot work on the data of the runs asked for (K or neighbours against N, ...), for every data set
    already prepared (its card gives N), or only DATASET (and only PIPELINES on it)."""
    found = []
    for ds in ([dataset] if dataset else dict.fromkeys(d for d, _ in graph.asked())):
        card = Path(root) / "data" / ds / "prepared" / "card.json"
        n_train = int(json.loads(card.read_text())["splits"]["train"]["n"]) if card.exists() else None
        chosen = pipelines or [p for (d, _), ps in graph.asked().items() if d == ds for p in ps]
        for inst in graph.instances_for(chosen):
            resolved = resolve(graph.params, inst.kind, ds, inst.variant)
            found += pixel_scale_on_features(inst, resolved)
            found += problems(resolved, n_train) if n_train is not None else []
    return list(dict.fromkeys(found))


def pixel_scale_on_features(inst: Instance, resolved: Resolved) -> list[str]:
    """A pixel scale (`input_scale`, DEC-keras's x / 255) set on a stage that reads feature rows (`--features`)
    cannot apply: the stage would stop on it only after its upstream's long work, so it is said at sync."""
    if getattr(resolved.settings, "input_scale", None) is None or not any(w.flag == "--features" for w in inst.wires):
        return []
    layer = resolved.layers.get("input_scale", resolved.kind)
    return [f"{inst.kind} on {resolved.dataset}: input_scale (from {layer}) is a pixel scale, but {inst.name} reads "
            f"feature rows; set pipelines.<pipeline>.{inst.kind}.input_scale: null"]


def _rendered(root: Path) -> tuple[Graph, dict[Path, str]]:
    forget()
    try:
        graph = load_graph(root)
        files = render_all(graph, Path(root))
        found = fit_problems(graph, Path(root))
    except DeepclustError as exc:  # an invalid preset of a run asked for: one line, before any run
        raise DeclarationError(str(exc)) from None
    if found:
        raise DeclarationError("params.yaml: " + "; ".join(found))
    return graph, files


HOLDERS = Path(".dvc") / "tmp" / "benches"  # a file per running benchmark: <pid>-<id>.json, its tables and runs


def _holders(root: Path) -> tuple[bool, list[Run], list[str]]:
    """(whether a benchmark is running now, the runs and the tables they need); a holder whose process is gone is
    dropped."""
    alive, runs, tables = False, [], []  # type: tuple[bool, list[Run], list[str]]
    for path in sorted((Path(root) / HOLDERS).glob("*.json")):
        try:
            os.kill(int(path.name.split("-")[0]), 0)
        except ProcessLookupError:  # killed without cleaning up
            path.unlink(missing_ok=True)
            continue
        except PermissionError:  # alive, another user's
            pass
        held = json.loads(path.read_text())
        alive, tables = True, tables + held["tables"]
        runs += [Run(r["dataset"], tuple(r["pipelines"]), tuple(r["seeds"])) for r in held["runs"]]
    return alive, runs, tables


def _wanted(root: Path, bench: bool) -> tuple[dict[Path, str], dict[Path, str]]:
    """(the files that should be on disk, and every stage file with the benchmarks' whether or not they should)."""
    graph, files = _rendered(root)
    running, runs, tables = _holders(root)
    every = {**files, **render_bench_files(graph, Path(root), (*graph.bench_runs(), *runs))}
    if bench:
        return every, every
    if running:  # only what the running benchmarks need: every stage loaded slows each `dvc` command
        return {**files, **render_bench_files(graph, Path(root), tuple(runs), tuple(tables))}, every
    return files, every


def stale_files(root: Path = ROOT) -> list[Path]:
    """Files `sync` would write or delete (a benchmark's files, left by one that is not running, are stale)."""
    files, _ = _wanted(Path(root), bench=False)
    stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    return stale + [p for p in _generated(root) if p not in files]


@contextmanager
def declarations_lock(root: Path = ROOT) -> Iterator[None]:
    """One writer of params.yaml's `runs` and the generated files at a time (CLI runs, deployments)."""
    path = Path(root) / ".dvc" / "tmp" / "pipelines.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)  # atomic: DVC never reads half a file


def sync(root: Path = ROOT, bench: bool = False) -> list[str]:
    """Writes every generated dvc.yaml that differs; deletes those no run asks for any more, and the benchmarks'
    unless one is running (or BENCH: write them too, for `dvc` commands by hand). Returns the changes."""
    root = Path(root)
    files, every = _wanted(root, bench)
    changes = []
    for path, text in files.items():
        if path.exists() and path.read_text() == text:
            continue
        _write(path, text)
        changes.append(f"wrote {path.relative_to(root)}")
    changes += move_lock_entries(root, every)
    for path in _generated(root):
        if path not in files:
            path.unlink()
            why = "written while a benchmark runs; its dvc.lock stays" if path in every else "no run asks for it"
            changes.append(f"removed {path.relative_to(root)} ({why})")
    return changes


@contextmanager
def materialised(root: Path = ROOT, tables: tuple[str, ...] = (), extra: tuple[Run, ...] = ()) -> Iterator[None]:
    """The stage files of the benchmark TABLES (data sets of `bench` entries) and of EXTRA runs (an ad-hoc table)
    on disk while the block runs; removed after, unless another benchmark still needs them. Their dvc.lock files
    stay: a later benchmark resumes from them."""
    root = Path(root)
    graph = load_graph(root)
    runs = [*(r for r in graph.bench_runs() if r.dataset in tables), *extra]
    holder = root / HOLDERS / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
    with declarations_lock(root):
        holder.parent.mkdir(parents=True, exist_ok=True)
        holder.write_text(json.dumps({"tables": list(tables), "runs": [asdict(r) for r in runs]}))
        for change in sync(root):
            print(f"[pipelines] {change}", flush=True)
    try:
        yield
    finally:
        with declarations_lock(root):
            holder.unlink(missing_ok=True)
            sync(root)


def _counterpart(root: Path, path: Path) -> Path | None:
    """The benchmarks' stage file of the same data set and seed as a checked-in one, and the other way round."""
    rel = path.relative_to(root).as_posix()
    if rel == f"{BENCH_DIR}/dvc.yaml" or not rel.startswith("pipelines/"):
        return None
    inner = rel.removeprefix(f"{BENCH_DIR}/") if rel.startswith(f"{BENCH_DIR}/") else None
    return root / (f"pipelines/{inner}" if inner else f"{BENCH_DIR}/{rel.removeprefix('pipelines/')}")


STAGE = re.compile(r"^  ([a-z0-9_-]+):    #", re.MULTILINE)  # a stage's first line, as render.py writes it


def _lock(path: Path) -> dict:
    data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if path.exists() else None
    return data or {"schema": "2.0", "stages": {}}


def move_lock_entries(root: Path, files: dict[Path, str]) -> list[str]:
    """Moves DVC's record of a stage (its dvc.lock entry) to the lock file beside the dvc.yaml that now holds the
    stage, when a run moved it between the checked-in graph and the benchmarks' (a run declared after a benchmark
    ran it, or the other way round): without it DVC would see a stage that never ran, and re-run it."""
    changes = []
    for path, text in files.items():
        other = _counterpart(root, path)
        if other is None or not other.with_name("dvc.lock").exists():
            continue
        here, there = path.with_name("dvc.lock"), other.with_name("dvc.lock")
        names, stay = set(STAGE.findall(text)), set(STAGE.findall(files.get(other, "")))
        mine, theirs = _lock(here), _lock(there)
        moved = [n for n in theirs["stages"] if n in names and n not in mine["stages"] and n not in stay]
        if not moved:
            continue
        for name in moved:
            mine["stages"][name] = theirs["stages"].pop(name)
        _write(here, yaml.safe_dump(mine, sort_keys=False, width=120))  # first the new home, then the old one
        if theirs["stages"]:
            _write(there, yaml.safe_dump(theirs, sort_keys=False, width=120))
        else:
            there.unlink()
        changes.append(f"moved {len(moved)} dvc.lock entries from {there.relative_to(root)} to "
                       f"{here.relative_to(root)} ({', '.join(moved)})")
    return changes


__all__ = ["DeclarationError", "Graph", "build_graph", "declarations_lock", "fit_problems", "load_graph",
           "materialised", "stale_files", "sync"]
