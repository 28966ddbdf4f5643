"""Flow overrides (dotted params.yaml keys): checked, written into a run workspace's params.yaml, read back."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

PARAMS_FILE = "params.yaml"


def _check_key(params: Any, key: str) -> None:
    node = params
    for depth, part in enumerate(key.split(".")):
        if not isinstance(node, Mapping) or part not in node:
            parent = ".".join(key.split(".")[:depth]) or "<top level>"
            has = ", ".join(map(str, node)) if isinstance(node, Mapping) else "no keys"
            raise ValueError(
                f"unknown params key '{key}': '{part}' not under {parent} in {PARAMS_FILE} (has: {has})"
            )
        node = node[part]


def _load(root: str) -> Any:
    import yaml

    return yaml.safe_load((Path(root) / PARAMS_FILE).read_text()) or {}


def check_overrides(root: str, overrides: Mapping[str, Any]) -> None:
    """Raises ValueError naming the first key of OVERRIDES that ROOT's params.yaml does not have."""
    params = _load(root)
    for key in overrides:
        _check_key(params, key)


def read_params(root: str, keys: list[str]) -> dict[str, Any]:
    """The value of each dotted KEY in ROOT's params.yaml (the keys a plan's stages declare)."""
    params = _load(root)
    values: dict[str, Any] = {}
    for key in keys:
        node = params
        for part in key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        values[key] = node
    return values


def apply_overrides(root: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Sets each dotted KEY (which must already exist) to its value; returns the values they replaced."""
    # DVC's own round-trip YAML writer (ruamel), so comments and key order survive.
    from dvc.utils.serialize import modify_yaml

    path = Path(root) / PARAMS_FILE
    replaced: dict[str, Any] = {}
    with modify_yaml(str(path)) as params:
        for key in overrides:  # validate all before touching anything
            _check_key(params, key)
        for key, value in overrides.items():
            *parents, leaf = key.split(".")
            node = params
            for part in parents:
                node = node[part]
            replaced[key] = node[leaf]
            node[leaf] = value
    return replaced
