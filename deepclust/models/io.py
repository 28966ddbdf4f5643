"""Saving and rebuilding the models the stages hand to each other: architecture record + state dict.

The file records what it holds (`{"model": "contrastive" | "clustering" | "autoencoder", "backbone": ...,
"head": ...}`), so a consumer rebuilds any producer's model: SCAN's clustering step takes a backbone from
SimCLR, PCL or DeepCluster alike. Loading is strict: every key must load.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from torch import nn

from deepclust.engine.checkpoint import load_checkpoint, load_state_strict, save_checkpoint
from deepclust.errors import DeepclustError
from deepclust.io import require_file
from deepclust.models import architecture, build_model


def save_model(path: str | Path, model: nn.Module, info: dict[str, Any] | None = None) -> None:
    """Saves `model`'s state and architecture (plus free-form `info`, e.g. the selected epoch), atomically."""
    save_checkpoint(path, "", {"config": architecture(model), "info": dict(info or {})}, model=model)


def load_model(path: str | Path, what: str, kinds: Iterable[str] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuilds the model saved at `path`; returns (model, its architecture record).

    Args:
        path: A file written by `save_model`.
        what: Names the artifact in error messages ("pretext model").
        kinds: Accepted model kinds (e.g. ("contrastive",)); None accepts any.

    Raises:
        DeepclustError: Missing or unreadable file, another kind of model, or a state that does not match.
    """
    payload = load_checkpoint(require_file(path, what))
    assert payload is not None
    try:
        arch, state = payload["run_variables"]["config"], payload["states"]["model"]
        model_kind = arch["model"]
    except (KeyError, TypeError):
        raise DeepclustError(f"{path} is not a deepclust model file ({what}); re-run the stage that makes it") from None
    allowed = list(kinds) if kinds is not None else None
    if allowed is not None and model_kind not in allowed:
        raise DeepclustError(f"{path} holds a {model_kind} model; {what} must be one of {allowed}")
    try:
        model = build_model(arch)
    except (ValueError, KeyError, TypeError, DeepclustError) as exc:
        raise DeepclustError(f"{path}: cannot rebuild the model ({exc})") from None
    load_state_strict(model, state, f"{what} {path}")
    return model, arch


def load_backbone(path: str | Path, what: str = "backbone model") -> nn.Module:
    """The model of any backbone producer (it has `.backbone`, and `.head` when it has one): SimCLR, PCL,
    DeepCluster, a clustering model, or a pretrained autoencoder (whose backbone is its encoder)."""
    return load_model(path, what, ("contrastive", "clustering", "autoencoder"))[0]


def load_contrastive(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuilds a pretext model (backbone + projection head)."""
    return load_model(path, "pretext model", ("contrastive",))


def load_clustering(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuilds a clustering model (backbone + clustering head)."""
    return load_model(path, "clustering model", ("clustering",))
