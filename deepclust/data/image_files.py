"""Sources of encoded images: a Parquet table (`image` bytes + optional `label`) or a folder of files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from deepclust.data._util import (
    as_labels,
    check_same_image_shape,
    image_size_option,
    reject_unknown,
    resolve_input,
)
from deepclust.data.decode import decode_images
from deepclust.data.prepared import PreparedData, Split, make_card
from deepclust.errors import DeepclustError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})


def _read_parquet_split(path: Path, image_size: int | None) -> Split:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException) as e:
        raise DeepclustError(f"cannot read Parquet file {path}: {e}") from e
    if "image" not in names:
        raise DeepclustError(
            f"Parquet file {path} has no 'image' column (encoded image bytes); columns: {names}"
        )
    columns = ["image"] + (["label"] if "label" in names else [])
    try:
        table = pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowException) as e:
        raise DeepclustError(f"cannot read Parquet file {path}: {e}") from e
    if not pa.types.is_binary(table.schema.field("image").type) and not pa.types.is_large_binary(
        table.schema.field("image").type
    ):
        raise DeepclustError(f"column 'image' of {path} must be binary (encoded image bytes)")
    labels = None
    if "label" in names:
        col = table.column("label")
        if col.null_count:
            raise DeepclustError(f"column 'label' of {path} has {col.null_count} missing values")
        labels = as_labels(col.to_numpy(), f"{path} column 'label'")
    blobs = table.column("image").to_pylist()
    images = decode_images(blobs, lambda i: f"{path} row {i}", image_size, desc=path.name)
    return Split(images=images, labels=labels)


def load_parquet(root: Path, **options: Any) -> PreparedData:
    """Decodes Parquet tables with an `image` (encoded bytes) and optional `label` column.

    Options:
        train: path of the train table (relative to `root` unless absolute). Required.
        test: path of the test table; when absent, test is train.
        image_size: resize every image to (image_size, image_size) (bilinear); default: keep the size.

    Returns:
        PreparedData with uint8 (N, H, W, C) images; labels int64 (N,) when a `label` column exists.
    """
    reject_unknown(options, {"train", "test", "image_size"}, "parquet")
    size = image_size_option(options)
    train_path = resolve_input(root, options.get("train"), "train")
    train = _read_parquet_split(train_path, size)
    test = train
    if options.get("test") is not None:
        test_path = resolve_input(root, options["test"], "test")
        test = _read_parquet_split(test_path, size)
        check_same_image_shape(train, test, str(test_path))
    card = make_card(
        "parquet",
        train_path.stem,
        train,
        test,
        None,
        None,
        [],
        files={"train": str(train_path), "test": None if test is train else str(test_path)},
    )
    return PreparedData(train, test, None, None, card)


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def _scan_folder(
    folder: Path, class_names: list[str] | None
) -> tuple[list[Path], np.ndarray | None, list[str] | None]:
    """Lists image files: `folder/<class>/...` (labels from sorted class names) or flat (labels None)."""
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = sorted(p for p in folder.iterdir() if _is_image(p))
    if subdirs and loose:
        raise DeepclustError(
            f"folder {folder} mixes class subfolders and loose images (e.g. {loose[0].name}); "
            "expected either <folder>/<class>/<image> or a flat folder of images"
        )
    if not subdirs:
        if not loose:
            raise DeepclustError(
                f"folder {folder} contains no images ({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        return loose, None, None
    names = [d.name for d in subdirs]
    if class_names is None:
        class_names = names
    files: list[Path] = []
    labels: list[int] = []
    for d in subdirs:
        if d.name not in class_names:
            raise DeepclustError(f"class folder {d} is not one of the train classes {class_names}")
        found = sorted(p for p in d.rglob("*") if _is_image(p))
        files += found
        labels += [class_names.index(d.name)] * len(found)
    if not files:
        raise DeepclustError(f"class folders under {folder} contain no images")
    return files, np.asarray(labels, dtype=np.int64), class_names


def load_folder(root: Path, **options: Any) -> PreparedData:
    """Decodes a folder of images, `dir/<class>/<image>` or flat.

    Options:
        train: train folder (relative to `root` unless absolute). Required.
        test: test folder; when absent, test is train. Its class folders must be train classes.
        image_size: resize every image to (image_size, image_size) (bilinear); without it all images
            must already share one size.

    Returns:
        PreparedData with uint8 (N, H, W, C) images; labels int64 (N,) index sorted class folder names.
    """
    reject_unknown(options, {"train", "test", "image_size"}, "folder")
    size = image_size_option(options)
    train_dir = resolve_input(root, options.get("train"), "train", must_be_dir=True)
    files, labels, class_names = _scan_folder(train_dir, None)
    train = Split(decode_images(files, lambda i: str(files[i]), size, desc=train_dir.name), labels)
    test = train
    if options.get("test") is not None:
        test_dir = resolve_input(root, options["test"], "test", must_be_dir=True)
        tfiles, tlabels, tnames = _scan_folder(test_dir, class_names)
        test = Split(decode_images(tfiles, lambda i: str(tfiles[i]), size, desc=test_dir.name), tlabels)
        check_same_image_shape(train, test, str(test_dir))
        class_names = class_names or tnames
    card = make_card(
        "folder",
        train_dir.name,
        train,
        test,
        None,
        class_names,
        [],
        files={"train": str(train_dir), "test": None if test is train else str(test_dir)},
    )
    return PreparedData(train, test, None, class_names, card)
