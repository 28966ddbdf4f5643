"""Atomic file writes: an artifact is written to a temporary name and renamed into place.

A crash therefore never leaves a half-written file that a later stage or DVC would take as complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deepclust.errors import DeepclustError


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path beside `path`; on success renames it to `path`, on error removes it.

    Works for files and for directories (the caller creates whichever it needs at the yielded path).

    Example:
        >>> with atomic_path("out/model.pt") as tmp:
        ...     torch.save(state, tmp)
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()
    try:
        yield tmp
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], Any]) -> Path:
    """Calls `write(tmp_path)` and renames the result to `path`. Returns the final path."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Writes `obj` as indented, key-sorted JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def require_file(path: str | os.PathLike[str], what: str) -> Path:
    """Returns `path` if it exists, else raises a one-line `DeepclustError` naming the missing artifact."""
    p = Path(path)
    if not p.exists():
        raise DeepclustError(f"missing upstream artifact {what}: {p} does not exist (run the stage that makes it)")
    return p
