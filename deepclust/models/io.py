"""Saving and rebuilding the models the stages hand to each other (config + state dict, loaded strictly)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from deepclust.engine.checkpoint import load_checkpoint, load_state_strict, save_checkpoint
from deepclust.errors import DeepclustError
from deepclust.io import require_file
from deepclust.models import (
    ClusteringHead,
    ClusteringModel,
    ContrastiveModel,
    SimCLRProjectionHead,
    build_backbone,
)


def save_model(path: str | Path, model: nn.Module, config: dict[str, Any]) -> None:
    """Saves `model`'s state and the `config` needed to rebuild it, atomically."""
    save_checkpoint(path, "", {"config": config}, model=model)


def _load(path: str | Path, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    payload = load_checkpoint(require_file(path, what))
    assert payload is not None
    try:
        return payload["run_variables"]["config"], payload["states"]["model"]
    except KeyError:
        raise DeepclustError(f"{path} is not a deepclust model file ({what})") from None


def load_contrastive(path: str | Path) -> tuple[ContrastiveModel, dict[str, Any]]:
    """Rebuilds the pretext model (backbone + projection head); every key must load."""
    cfg, state = _load(path, "pretext model")
    backbone = build_backbone(cfg["backbone"], cfg["in_channels"], cfg["width"])
    model = ContrastiveModel(backbone, SimCLRProjectionHead(backbone.output_dim, cfg["hidden_dim"], cfg["output_dim"]))
    load_state_strict(model, state, f"pretext model {path}")
    return model, cfg


def load_clustering(path: str | Path) -> tuple[ClusteringModel, dict[str, Any]]:
    """Rebuilds a clustering model (backbone + heads); every key must load."""
    cfg, state = _load(path, "clustering model")
    backbone = build_backbone(cfg["backbone"], cfg["in_channels"], cfg["width"])
    model = ClusteringModel(backbone, ClusteringHead(backbone.output_dim, cfg["num_clusters"], cfg["num_heads"]))
    load_state_strict(model, state, f"clustering model {path}")
    return model, cfg
