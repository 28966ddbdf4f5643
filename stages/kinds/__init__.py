"""Stage kinds: each is declared once, in its own module `stages/kinds/<kind>.py`, by its settings model:

    class ScanParams(StageParams, kind=Kind("scan", "SCAN loss on ...", inputs=(...), outputs=(...), ...)):

A declaration says what the kind consumes and writes (the artifact contract), which data facts it reads, how it
chooses what it keeps (said in the bench tables), and its settings. `stages/<kind>.py` imports only its own
declaration, so editing one kind re-runs only that kind's stages. The pipelines compiler, the bench table and the
tests read them all through `all_kinds()`; nothing else lists the kinds. Light on purpose: no torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass
from typing import Any

# Artifact type -> file name inside a stage's output folder ("" = the folder itself).
ARTIFACT_FILES: dict[str, str] = {
    "prepared": "",                # train/test .npz (uint8 images or float features, labels, ids) + card.json
    "backbone": "model.pt",        # backbone (+ projection head, or an autoencoder) recording its architecture
    "features": "features.npz",    # train_/test_ x backbone/head float32 matrices
    "neighbours": "neighbours.npy",  # (N, K+1) int64, self first
    "clustering": "model.pt",      # backbone + clustering head whose config records the head kind
    "predictions": "predictions.csv",  # split, id, cluster, prob_0..prob_{K-1}
    "evaluation": "metrics.json",  # ACC/NMI/ARI per predictions, the split scored, plots beside it
    "k": "k.json",                 # the estimated number of clusters and its evidence (criterion per K)
}

# Data facts a kind may read from `datasets.<ds>` (besides its preset's settings).
FACTS = ("source", "num_classes", "mean", "std")


@dataclass(frozen=True)
class Input:
    """One input of a stage kind.

    Attributes:
        flag: The stage's argv option (`--model`, `--features`, ...).
        artifact: The artifact type it takes (a key of ARTIFACT_FILES).
        required: A pipeline without an upstream producer of it is an error.
        many: Take every upstream producer, as `name=path` pairs (evaluate scores each predictions file).
        unless: Leave the input out when an upstream stage produces this artifact (SCAN trains on a
            backbone when there is one, on the features otherwise).
    """

    flag: str
    artifact: str
    required: bool = True
    many: bool = False
    unless: str | None = None


DATA = Input("--data", "prepared")


@dataclass(frozen=True)
class Kind:
    """A stage kind: `python -m stages.<name>`, what it consumes and writes, and what it reads of the data set.

    Attributes:
        name: The stage kind (module `stages/<name>.py`, params section `<name>`).
        desc: One line for the generated dvc.yaml.
        inputs: What it consumes.
        outputs: Artifact types it writes into its output folder (plus `metrics.json` and `params.json`).
        facts: The `datasets.<ds>` keys it reads (FACTS): `num_classes` for a K that is not set, or for its
            budget curve's k-means (a stage whose clusters a k-means makes downstream).
        plots: Extra files it writes next to its metrics.
        trains: Keeps an epoch checkpoint in a persistent `run/` folder (resume after a kill).
        seeded: Runs once per seed (everything but `prepare`, which decodes the data once).
        selection: How it chooses what it keeps (a checkpoint, a head, a clustering): the bench table says it.
        params: Its settings model (set when the model declares the kind).
    """

    name: str
    desc: str
    inputs: tuple[Input, ...] = ()
    outputs: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    plots: tuple[str, ...] = ()
    trains: bool = False
    seeded: bool = True
    selection: str | None = None
    params: Any = None


KINDS: dict[str, Kind] = {}  # filled as the declaring modules load (stages/params.py StageParams)


def all_kinds() -> dict[str, Kind]:
    """Every declared kind: loads each module of this package."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return KINDS


def kind_of(name: str) -> Kind:
    """The declared kind NAME (loading its module); an unknown kind is an error that lists the known ones."""
    if name not in KINDS and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        importlib.import_module(f"{__name__}.{name}")
    if name not in KINDS:
        raise ValueError(f"unknown stage kind {name!r}; declared: {', '.join(sorted(all_kinds()))}")
    return KINDS[name]
