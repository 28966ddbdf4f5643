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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deepclust.errors import DeepclustError
from pipelines.graph import DeclarationError, Graph, build_graph
from pipelines.imports import forget
from pipelines.render import HEADER, render_all
from stages.resolve import problems, read_params, resolve

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
    for ds in dict.fromkeys(d for d, _ in graph.asked()):
        card = Path(root) / "data" / ds / "prepared" / "card.json"
        if (dataset is not None and ds != dataset) or not card.exists():
            continue
        n_train = int(json.loads(card.read_text())["splits"]["train"]["n"])
        chosen = pipelines or [p for (d, _), ps in graph.asked().items() if d == ds for p in ps]
        for inst in graph.instances_for(chosen):
            found += problems(resolve(graph.params, inst.kind, ds, inst.variant), n_train)
    return list(dict.fromkeys(found))


def _rendered(root: Path) -> dict[Path, str]:
    forget()
    try:
        graph = load_graph(root)
        files = render_all(graph, Path(root))
        found = fit_problems(graph, Path(root))
    except DeepclustError as exc:  # an invalid preset of a run asked for: one line, before any run
        raise DeclarationError(str(exc)) from None
    if found:
        raise DeclarationError("params.yaml: " + "; ".join(found))
    return files


def stale_files(root: Path = ROOT) -> list[Path]:
    """Files `sync` would write or delete."""
    files = _rendered(root)
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


def sync(root: Path = ROOT) -> list[str]:
    """Writes every generated dvc.yaml that differs; deletes those no run asks for any more. Returns changes."""
    root = Path(root)
    files = _rendered(root)
    changes = []
    for path, text in files.items():
        if path.exists() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)  # atomic: DVC never reads half a file
        changes.append(f"wrote {path.relative_to(root)}")
    for path in _generated(root):
        if path not in files:
            path.unlink()
            changes.append(f"removed {path.relative_to(root)} (no run asks for it)")
    return changes


__all__ = ["DeclarationError", "Graph", "build_graph", "declarations_lock", "fit_problems", "load_graph",
           "stale_files", "sync"]
