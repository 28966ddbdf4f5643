"""Pipelines as data: params.yaml's `pipelines`, `seeds` and `main` expanded into the DVC stage graph.

`python -m pipelines sync` writes dvc.yaml and pipelines/**/dvc.yaml; `python -m pipelines run <pipeline>
<dataset>` syncs, reproduces one pipeline with DVC and prints its metrics. Nothing here imports torch, the
library or the stages: it reads params.yaml and the stages' source (for their imports).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pipelines.graph import DeclarationError, Graph, build_graph
from pipelines.render import HEADER, render_all

ROOT = Path(__file__).resolve().parent.parent


def load_graph(root: Path = ROOT) -> Graph:
    """Reads ROOT/params.yaml and expands its pipelines."""
    path = Path(root) / "params.yaml"
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DeclarationError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    return build_graph(params)


def _generated(root: Path) -> list[Path]:
    """Generated seed and bench files on disk (they start with HEADER), which a shorter seed list (or no
    `bench`) leaves behind."""
    return [p for p in sorted((Path(root) / "pipelines").glob("*/dvc.yaml")) if p.read_text().startswith(HEADER)]


def stale_files(root: Path = ROOT) -> list[Path]:
    """Files `sync` would write or delete."""
    files = render_all(load_graph(root), Path(root))
    stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    return stale + [p for p in _generated(root) if p not in files]


def sync(root: Path = ROOT) -> list[str]:
    """Writes every generated dvc.yaml that differs; deletes seed files no longer declared. Returns changes."""
    root = Path(root)
    files = render_all(load_graph(root), root)
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
            changes.append(f"removed {path.relative_to(root)} (seed no longer in params.yaml)")
    return changes


__all__ = ["DeclarationError", "Graph", "build_graph", "load_graph", "stale_files", "sync"]
