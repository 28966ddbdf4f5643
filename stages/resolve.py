"""A stage's settings, put together from params.yaml layer by layer, with where each value came from.

Layers, lowest first (a later one replaces what an earlier one set; nested mappings merge key by key):

    default                           the field's default (stages/params.py)
    <kind>.<preset>                   the preset block the data set names (`datasets.<ds>.preset`)
    datasets.<ds>.overrides.<kind>    this data set's change to it
    pipelines.<pipeline>.<kind>       one pipeline's change (its instance of the stage is that pipeline's own)
    datasets.<ds>.num_classes         K, for a kind whose `num_clusters` is not set by any layer above

A stage reads exactly `keys` of params.yaml (its dvc.yaml `params`), writes `record()` as params.json beside its
outputs, and its training fingerprint hashes the same record: a change anywhere else never re-runs it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from deepclust.errors import DeepclustError
from stages.kinds import kind_of
from stages.params import DatasetParams, Frozen, StageParams

DEFAULT = "default (stages/params.py)"


@dataclass(frozen=True)
class Resolved:
    """One stage kind's effective settings on one data set (for one pipeline, when it overrides the kind).

    Attributes:
        kind: The stage kind.
        dataset: The data set.
        preset: The preset it uses.
        pipeline: The pipeline whose `pipelines.<p>.<kind>` applies, or None.
        settings: The validated settings.
        facts: The data facts the kind reads that the data set states (`num_classes`, `mean`, `std`, `source`).
        keys: The params.yaml keys read: its dvc.yaml `params`.
        layers: Each setting (dotted) and fact (`datasets.<ds>.<fact>`) -> the layer its value came from.
    """

    kind: str
    dataset: str
    preset: str
    pipeline: str | None
    settings: StageParams
    facts: dict[str, Any] = field(default_factory=dict)
    keys: tuple[str, ...] = ()
    layers: dict[str, str] = field(default_factory=dict)

    def record(self, seed: int | None = None) -> dict[str, Any]:
        """What the stage ran with, JSON-able: params.json, and the training fingerprint's params part."""
        out = {"kind": self.kind, "dataset": self.dataset, "settings": self.settings.model_dump(mode="json"),
               "facts": self.facts}
        return out if seed is None else {**out, "seed": seed}

    def values(self) -> dict[str, Any]:
        """Every setting as `dotted.key -> value`, then the facts as `datasets.<ds>.<fact> -> value`."""
        flat = flatten(self.settings.model_dump(mode="json"))
        flat.update({f"datasets.{self.dataset}.{k}": v for k, v in self.facts.items()})
        return flat


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}` (lists and None are leaves)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def merged(base: Mapping[str, Any], *overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """BASE with each override applied in turn; nested mappings merge key by key, other values replace."""
    out = dict(base)
    for override in overrides:
        for key, value in (override or {}).items():
            out[key] = merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) \
                else value
    return out


def read_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The parsed params file; a missing file or bad YAML is a one-line error."""
    p = Path(path)
    if not p.exists():
        raise DeepclustError(f"params file {p} not found")
    try:
        return yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DeepclustError(f"{p}: not valid YAML: {str(exc).splitlines()[0]}") from None


def validated(model: type[Frozen], raw: Any, where: str, path: str | Path, note: str = "") -> Any:
    """RAW validated as MODEL; the first problem as one line naming the dotted key."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join([where, *(str(p) for p in err["loc"])])
        got = f", got {err['input']!r}" if err["type"] not in ("missing", "value_error") else ""
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise DeepclustError(f"{path}: {key}: {msg}{got}{note}") from None


def dataset_params(raw: Mapping[str, Any], dataset: str, path: str | Path = "params.yaml") -> DatasetParams:
    """`datasets.<dataset>`, validated; an unknown data set lists the known ones."""
    datasets = raw.get("datasets") or {}
    if dataset not in datasets:
        raise DeepclustError(f"unknown data set {dataset!r}; {path} defines {sorted(datasets)}")
    return validated(DatasetParams, datasets[dataset], f"datasets.{dataset}", path)


def resolve(raw: Mapping[str, Any], kind: str, dataset: str, pipeline: str | None = None,
            path: str | Path = "params.yaml") -> Resolved:
    """KIND's settings on DATASET (with PIPELINE's override of the kind, if it has one), from a loaded params.yaml.

    Raises:
        DeepclustError: One line naming the file, the dotted key at fault and the layers merged.
    """
    try:
        declared = kind_of(kind)
    except ValueError as exc:
        raise DeepclustError(str(exc)) from None
    ds = dataset_params(raw, dataset, path)
    model: type[StageParams] = declared.params
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if model.model_fields:
        section = raw.get(kind) or {}
        if ds.preset not in section:
            raise DeepclustError(f"{path}: {kind}.{ds.preset} is missing (data set {dataset!r} uses preset "
                                 f"{ds.preset!r}; {kind} has {sorted(section)})")
        layers.append((f"{kind}.{ds.preset}", section[ds.preset] or {}))
    if kind in ds.overrides:
        layers.append((f"datasets.{dataset}.overrides.{kind}", ds.overrides[kind] or {}))
    if pipeline is not None:
        spec = (raw.get("pipelines") or {}).get(pipeline)
        if spec is None:
            raise DeepclustError(f"{path}: unknown pipeline {pipeline!r} (not under `pipelines`)")
        if isinstance(spec, Mapping) and spec.get(kind) is not None:
            layers.append((f"pipelines.{pipeline}.{kind}", spec[kind]))
    settings = merged({}, *(block for _, block in layers))
    stated = ds.model_dump(mode="json")
    facts = {f: stated[f] for f in declared.facts if f != "num_classes" and stated[f] is not None}
    extra = [name for name, _ in layers[1:]]
    k_default = "num_clusters" in model.model_fields and settings.get("num_clusters") is None
    # A set K does not read the class count, unless the stage makes no clusters itself: its own k is a training
    # setting (DeepCluster's 100), and the class count is its budget curve's k-means K.
    if "num_classes" in declared.facts and ("num_clusters" not in model.model_fields or k_default
                                            or "predictions" not in declared.outputs):
        if k_default:  # a number: K; `auto`: the stage reads the estimate (`--k`) when it starts
            settings["num_clusters"] = ds.num_classes if ds.k_range is None else None
        facts["num_classes"] = stated["num_classes"]
        extra.append(f"datasets.{dataset}.num_classes")
    note = f" (data set {dataset!r}{'; merged with ' + ', '.join(extra) if extra else ''})"
    where = f"{kind}.{ds.preset}" if model.model_fields else f"datasets.{dataset}"
    valid = validated(model, settings, where, path, note)
    origin = {key: DEFAULT for key in flatten(valid.model_dump(mode="json"))}
    for name, block in layers:
        given = flatten(block)
        origin.update({key: name for key in origin if any(key == k or key.startswith(f"{k}.") for k in given)})
    if k_default and "num_classes" in facts:
        origin["num_clusters"] = f"datasets.{dataset}.num_classes" + (" (estimated: --k)" if ds.k_range else "")
    origin.update({f"datasets.{dataset}.{fact}": f"datasets.{dataset}" for fact in facts})
    keys = [name for name, _ in layers] + [f"datasets.{dataset}.{fact}" for fact in facts]
    applied = pipeline if layers and layers[-1][0].startswith("pipelines.") else None
    return Resolved(kind, dataset, ds.preset, applied, valid, facts, tuple(keys), origin)


def keys_digest(keys: tuple[str, ...] | list[str]) -> str:
    """A short digest of the params.yaml keys a stage reads, for its dvc.yaml command (`--keys`): DVC ignores a key
    that a stage stops listing (an override removed), but not a changed command, so the stage re-runs."""
    return hashlib.sha1(",".join(keys).encode()).hexdigest()[:8]


def load(kind: str, dataset: str, path: str | Path = "params.yaml", pipeline: str | None = None) -> Resolved:
    """`resolve` on the params file at PATH."""
    return resolve(read_params(path), kind, dataset, pipeline, path)


def problems(resolved: Resolved, n_train: int) -> list[str]:
    """What cannot work on N_TRAIN training samples, one line each, naming the layer that set the value."""
    out = []
    for problem in resolved.settings.problems(n_train):
        key, _, reason = problem.partition(": ")
        layer = resolved.layers.get(key, resolved.kind)
        out.append(f"{resolved.kind} on {resolved.dataset}: {key} (from {layer}) {reason}")
    return out
