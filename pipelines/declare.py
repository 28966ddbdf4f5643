"""A run not yet asked for declares itself: `python -m pipelines run` and a deployment add it to params.yaml's
`runs` (editing the text, so every comment and line of the file stays as the user wrote it) and sync."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from deepclust.errors import DeepclustError
from pipelines import ROOT, declarations_lock, load_graph, sync
from pipelines.graph import DeclarationError, Graph, build_graph
from pipelines.render import render_all

RUNS = re.compile(r"^runs:[ \t]*(\[\s*\])?[ \t]*(#.*)?$")


def run_line(dataset: str, pipelines: list[str], seeds: list[int]) -> str:
    """One `runs` item in flow style."""
    return f"  - {{dataset: {dataset}, pipelines: [{', '.join(pipelines)}], seeds: [{', '.join(map(str, seeds))}]}}"


def with_run(text: str, dataset: str, pipelines: list[str], seeds: list[int], path: Path) -> str:
    """TEXT (a params file) with `{dataset, pipelines, seeds}` appended to its top-level `runs` list (created at the
    end of the file when there is none); checks the result parses to the list plus that item."""
    before = (yaml.safe_load(text) or {}).get("runs") or []
    lines = text.splitlines()
    item = run_line(dataset, pipelines, seeds)
    at = next((i for i, line in enumerate(lines) if RUNS.match(line)), None)
    if at is None:
        lines += ["", "# Runs a user asked for (`python -m pipelines run` and deployments add theirs here).", "runs:",
                  item]
    else:
        if RUNS.match(lines[at]).group(1):  # type: ignore[union-attr]  # `at` is a RUNS line; `runs: []`
            lines[at] = "runs:"
        end = at + 1
        while end < len(lines) and (lines[end].startswith((" ", "-", "\t")) or not lines[end].strip()):
            end += 1
        while end > at + 1 and not lines[end - 1].strip():  # keep the blank lines after the block
            end -= 1
        lines.insert(end, item)
    new = "\n".join(lines) + "\n"
    after = (yaml.safe_load(new) or {}).get("runs")
    expected = [*before, {"dataset": dataset, "pipelines": pipelines, "seeds": seeds}]
    if after != expected:
        raise DeclarationError(f"{path}: could not add the run to `runs` (its layout is unusual); add "
                               f"`{item.strip()}` under `runs:` yourself")
    return new


def ensure_asked(pipeline: str, dataset: str, seeds: list[int], root: Path = ROOT) -> Graph:
    """The graph with PIPELINE x SEEDS on DATASET asked for: a run not yet declared is added to params.yaml `runs`
    (one line), and the dvc.yaml files are brought up to date."""
    with declarations_lock(root):
        graph = load_graph(root)
        graph.terminal(pipeline)  # an unknown pipeline: one line, before any edit
        if dataset not in (graph.params.get("datasets") or {}):
            raise DeclarationError(f"unknown data set {dataset!r}; params.yaml defines "
                                   f"{sorted(graph.params.get('datasets') or {})}")
        # Only main and `runs` are in the checked-in graph: a benchmark's runs are written while it runs, so a
        # run that only a benchmark asks for is declared too (else there were no stage file to repro).
        missing = [s for s in seeds if pipeline not in graph.live().get((dataset, s), [])]
        if missing:
            path = Path(root) / "params.yaml"
            text = with_run(path.read_text(), dataset, [pipeline], missing, path)
            try:  # the new run's stages must resolve (valid presets) before params.yaml changes
                render_all(build_graph(yaml.safe_load(text)), Path(root))
            except DeepclustError as exc:
                raise DeclarationError(str(exc)) from None
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text)
            tmp.replace(path)
            print(f"[pipelines] params.yaml runs: added {pipeline} on {dataset}, seeds {missing}", flush=True)
            graph = load_graph(root)
        for change in sync(root):
            print(f"[pipelines] {change}", flush=True)
    return graph


DATASETS = re.compile(r"^datasets:[ \t]*(#.*)?$")


def dataset_block(name: str, folder: str, k: str, preset: str, image_size: int | None) -> list[str]:
    """The params.yaml block of an image folder, as `python -m pipelines cluster` writes it."""
    num_classes = "auto" if k == "auto" else str(int(k))
    size = f", image_size: {image_size}" if image_size else ""
    return [f"  {name}:    # added by `python -m pipelines cluster {folder}`",
            f"    preset: {preset}",
            f"    num_classes: {num_classes}",
            f"    source: {{kind: folder, train: {folder}{size}, skip_unreadable: true}}"]


def with_dataset(text: str, name: str, block: list[str], path: Path) -> str:
    """TEXT (a params file) with BLOCK as the first entry of `datasets`; checks the result parses with it."""
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if DATASETS.match(line)), None)
    if at is None:
        raise DeclarationError(f"{path} has no top-level `datasets:`; add the block yourself: {' '.join(block)}")
    new = "\n".join(lines[: at + 1] + block + lines[at + 1:]) + "\n"
    if name not in ((yaml.safe_load(new) or {}).get("datasets") or {}):
        raise DeclarationError(f"{path}: could not add data set {name!r} (unusual layout); add it yourself")
    return new
