"""Checkpoints: named state dicts plus run variables and a fingerprint, written atomically, loaded strictly."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepclust.errors import DeepclustError
from deepclust.io import atomic_path

log = logging.getLogger(__name__)


def file_digest(path: str | Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes, or of every file below a directory (sorted by relative path)."""
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix != ".pyc") if p.is_dir() else [p]
    for f in files:
        h.update(str(f.relative_to(p) if p.is_dir() else f.name).encode())
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()


def fingerprint(params: Mapping[str, Any], inputs: Iterable[str | Path] = (), code: Iterable[str | Path] = ()) -> str:
    """A digest of everything a training run depends on: its params, its input files and its code.

    A checkpoint is resumed only when its fingerprint equals the current one; otherwise the run starts over
    (the reference implementation resumes whatever checkpoint it finds, even after a config change).
    """
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for path in [*inputs, *code]:
        h.update(file_digest(path).encode())
    return h.hexdigest()[:16]


def save_checkpoint(path: str | Path, fingerprint: str, run_variables: Mapping[str, Any], **states: Any) -> None:
    """Saves `states` (objects with `state_dict()` or plain tensors/dicts) atomically to `path`."""
    payload = {
        "fingerprint": fingerprint,
        "run_variables": dict(run_variables),
        "states": {k: (v.state_dict() if hasattr(v, "state_dict") else v) for k, v in states.items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, fingerprint: str | None = None) -> dict[str, Any] | None:
    """Loads a checkpoint with `weights_only=True`; returns None when absent or its fingerprint differs."""
    p = Path(path)
    if not p.exists():
        return None
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which, never resume from it
        raise DeepclustError(f"cannot read checkpoint {p}: {type(exc).__name__}: {exc}") from exc
    if fingerprint is not None and payload.get("fingerprint") != fingerprint:
        log.warning("checkpoint %s has fingerprint %s, expected %s: starting over", p,
                    payload.get("fingerprint"), fingerprint)
        return None
    return payload


def load_state_strict(module: nn.Module, state: Mapping[str, torch.Tensor], what: str,
                      allowed_missing: Iterable[str] = ()) -> None:
    """Loads `state` into `module` and fails unless every key loads (no silent partial load).

    Args:
        module: The module to fill.
        state: Its state dict.
        what: Names the artifact in the error message.
        allowed_missing: Key prefixes that may be missing (e.g. a freshly initialised head).

    Raises:
        DeepclustError: Naming the missing or unexpected keys.
    """
    result = module.load_state_dict(state, strict=False)
    allowed = tuple(allowed_missing)
    missing = [k for k in result.missing_keys if not k.startswith(allowed)] if allowed else result.missing_keys
    if missing or result.unexpected_keys:
        raise DeepclustError(
            f"{what}: state does not match the model (missing {missing[:5]}{'...' if len(missing) > 5 else ''},"
            f" unexpected {result.unexpected_keys[:5]})"
        )
