"""Stage command lines: argv parsing and the one-line error exit (light: no torch, for every stage)."""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from deepclust.errors import DeepclustError


def parser(description: str, *paths: str, optional: Sequence[str] = (), pairs: Sequence[str] = ()
           ) -> argparse.ArgumentParser:
    """A parser with `--dataset`, `--params`, `--seed`, `--pipeline` and the stage's paths.

    Args:
        description: The stage's docstring.
        paths: Required path options (`data`, `out`, ...), as dvc.yaml's cmd gives them.
        optional: Path options a pipeline may leave out (`model` when nothing upstream trains a backbone).
        pairs: Options taking one or more `name=path` pairs (evaluate's `--predictions`).
    """
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--dataset", required=True, help="data set name, a key of `datasets` in params.yaml")
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    ap.add_argument("--seed", type=int, default=0, help="the run's seed (params.yaml `seeds`); sets every random draw")
    ap.add_argument("--pipeline", default=None, help="apply this pipeline's overrides (`pipelines.<name>.<stage>`)")
    ap.add_argument("--k", default=None, type=Path, help="estimate_k's k.json, when the data set's K is `auto`")
    ap.add_argument("--keys", default=None, help="digest of the params.yaml keys its dvc.yaml lists (checked)")
    for name in paths:
        ap.add_argument(f"--{name}", required=True, type=Path)
    for name in optional:
        ap.add_argument(f"--{name}", default=None, type=Path)
    for name in pairs:
        ap.add_argument(f"--{name}", required=True, nargs="+", type=pair, metavar="NAME=PATH")
    return ap


def pair(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, Path(path)


class StageMain(Protocol):
    """A stage's `main(argv=None) -> int`."""

    def __call__(self, argv: Sequence[str] | None = None) -> int: ...


def entry(body: Callable[[Sequence[str] | None], int]) -> StageMain:
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
