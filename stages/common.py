"""What every stage shares: argv parsing, the one-line error exit, data/model loading, fingerprints."""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from deepclust.errors import DeepclustError

ROOT = Path(__file__).resolve().parent.parent
# Code a training checkpoint depends on: a change here invalidates it (the fingerprint's "code" part).
TRAINING_CODE = [ROOT / "deepclust" / pkg for pkg in ("models", "losses", "methods", "transforms", "engine")]


def parser(description: str, *paths: str) -> argparse.ArgumentParser:
    """An argparse parser with `--dataset`, `--params` and one required option per path in `paths`."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--dataset", required=True, help="data set name, a key of `datasets` in params.yaml")
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    for name in paths:
        ap.add_argument(f"--{name}", required=True, type=Path)
    return ap


def entry(body: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], int]:
    """Makes `body` a stage `main(argv=None) -> int` that ends bad input with one line and exit code 2."""

    @functools.wraps(body)
    def main(argv: Sequence[str] | None = None) -> int:
        return run(body, argv)

    return main


def run(body: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Runs a stage body; turns a user-fixable error into one line on stderr and exit code 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return body(argv)
    except DeepclustError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: keep the traceback, still end in one line
        traceback.print_exc()
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def normalisation(card: dict[str, Any], dataset_params: Any) -> tuple[list[float], list[float]]:
    """Mean/std from params when the reference prescribes them, else the values prepare measured."""
    mean = dataset_params.mean or card.get("mean")
    std = dataset_params.std or card.get("std")
    if mean is None or std is None:
        raise DeepclustError("prepared data card has no mean/std: re-run the prepare stage")
    return list(mean), list(std)


def params_dict(*models: Any) -> dict[str, Any]:
    """JSON-able dump of params models (for fingerprints and metrics files)."""
    return {type(m).__name__: m.model_dump(mode="json") for m in models}
