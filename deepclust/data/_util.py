"""Small helpers shared by the source loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepclust.data.prepared import Split
from deepclust.errors import DeepclustError


def source_files(options: dict[str, Any]) -> dict[str, str | None]:
    """The input paths as params.yaml gives them (relative to the project, unless absolute), for the card: an
    absolute path would make the prepared data, and every stage after it, differ between two checkouts."""
    return {split: None if options.get(split) is None else str(options[split]) for split in ("train", "test")}


def resolve_input(root: Path, value: Any, key: str, must_be_dir: bool = False) -> Path:
    """Resolves option `key` (a path, relative to `root` unless absolute) and checks that it exists."""
    if value is None or value == "":
        raise DeepclustError(f"option '{key}' is required: expected a path")
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(root) / path
    if not path.exists():
        raise DeepclustError(f"{key} input {path} does not exist")
    if must_be_dir and not path.is_dir():
        raise DeepclustError(f"{key} input {path} is not a directory, expected a folder of images")
    if not must_be_dir and path.is_dir():
        raise DeepclustError(f"{key} input {path} is a directory, expected a file")
    return path


def as_labels(values: Any, where: str) -> np.ndarray:
    """Converts integer label values to int64 (N,), rejecting missing or negative labels."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise DeepclustError(
                f"labels in {where} must be integers without missing values; got dtype {arr.dtype}"
            )
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise DeepclustError(f"labels in {where} must be >= 0; found {int(arr.min())}")
    return arr


def reject_unknown(options: dict[str, Any], known: set[str], kind: str) -> None:
    """Raises for option names the source does not understand (typos would otherwise pass silently)."""
    unknown = sorted(set(options) - known)
    if unknown:
        raise DeepclustError(
            f"unknown option(s) {unknown} for source '{kind}'; expected some of {sorted(known)}"
        )


def check_same_image_shape(train: Split, test: Split, where: str) -> None:
    """Train and test images must share (H, W, C) so that one model sees both."""
    assert train.images is not None and test.images is not None
    expected, got = train.images.shape[1:], test.images.shape[1:]
    if got != expected:
        raise DeepclustError(f"test images in {where} have shape {got}, expected {expected} like train")


def image_size_option(options: dict[str, Any]) -> int | None:
    """Reads the optional `image_size` option: a positive int, or None to keep the images' own size."""
    value = options.get("image_size")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DeepclustError(f"option image_size must be a positive integer (pixels); got {value!r}")
    return value


def bool_option(options: dict[str, Any], key: str) -> bool:
    """Reads an optional boolean option (default False); "false" as a string would otherwise be truthy."""
    value = options.get(key, False)
    if not isinstance(value, bool):
        raise DeepclustError(f"option {key} must be true or false; got {value!r}")
    return value
