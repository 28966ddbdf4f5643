"""Sources of encoded images: a Parquet table (`image` bytes + optional `label`) or a folder of files."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from deepclust.data._util import (
    as_labels,
    bool_option,
    check_same_image_shape,
    image_size_option,
    reject_unknown,
    resolve_input,
    source_files,
)
from deepclust.data.decode import decode_images
from deepclust.data.prepared import PreparedData, Split, make_card, sample_ids
from deepclust.errors import DeepclustError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})

_OPTIONS = {"train", "test", "image_size", "skip_unreadable"}


class _Decoding(NamedTuple):
    """The options of `load_parquet` and `load_folder` that reach `decode_images`."""

    image_size: int | None
    skip_unreadable: bool


def _decoding(options: dict[str, Any]) -> _Decoding:
    return _Decoding(image_size_option(options), bool_option(options, "skip_unreadable"))


def _decode_split(
    items: Sequence[bytes | Path | None],
    ids: np.ndarray,
    labels: np.ndarray | None,
    where: Callable[[int], str],
    desc: str,
    decoding: _Decoding,
) -> tuple[Split, list[tuple[str, str]]]:
    """Decodes one split, keeping labels and ids aligned with the images that could be read.

    Returns:
        The split, and `(id, reason)` for each image left out as unreadable.
    """
    dec = decode_images(items, where, decoding.image_size, desc, decoding.skip_unreadable)
    split = Split(dec.images, None if labels is None else labels[dec.kept], ids=ids[dec.kept])
    return split, [(str(ids[i]), reason) for i, reason in dec.skipped]


def _card_skipped(**per_split: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The card's `skipped` list: `{"split", "id", "error"}` per unreadable image."""
    return [{"split": s, "id": i, "error": e} for s, pairs in per_split.items() for i, e in pairs]


def _read_parquet_split(path: Path, decoding: _Decoding) -> tuple[Split, list[tuple[str, str]]]:
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
    ids = sample_ids(f"{path.name}:", range(len(blobs)))
    return _decode_split(blobs, ids, labels, lambda i: f"{path} row {i}", path.name, decoding)


def load_parquet(root: Path, **options: Any) -> PreparedData:
    """Decodes Parquet tables with an `image` (encoded bytes) and optional `label` column.

    Sample ids are `<file name>:<row>` ("mnist-test.parquet:17").

    Options:
        train: path of the train table (relative to `root` unless absolute). Required.
        test: path of the test table; when absent, test is train.
        image_size: resize every image to (image_size, image_size) (bilinear); default: keep the size.
        skip_unreadable: leave out rows whose image cannot be decoded (listed in the card under
            `skipped`) instead of failing (default False).

    Returns:
        PreparedData with uint8 (N, H, W, C) images; labels int64 (N,) when a `label` column exists.
    """
    reject_unknown(options, _OPTIONS, "parquet")
    decoding = _decoding(options)
    train_path = resolve_input(root, options.get("train"), "train")
    train, train_skipped = _read_parquet_split(train_path, decoding)
    test, test_path = train, None
    test_skipped: list[tuple[str, str]] = []
    if options.get("test") is not None:
        test_path = resolve_input(root, options["test"], "test")
        test, test_skipped = _read_parquet_split(test_path, decoding)
        check_same_image_shape(train, test, str(test_path))
    card = make_card(
        "parquet",
        train_path.stem,
        train,
        test,
        None,
        None,
        [],
        skipped=_card_skipped(train=train_skipped, test=test_skipped),
        files=source_files(options),
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


def _read_folder_split(
    root: Path, configured: Any, key: str, class_names: list[str] | None, decoding: _Decoding
) -> tuple[Split, list[tuple[str, str]], list[str] | None, Path]:
    folder = resolve_input(root, configured, key, must_be_dir=True)
    files, labels, names = _scan_folder(folder, class_names)
    # Ids name files as the user configured the folder (relative stays relative), so that they do not
    # change with the machine or the working directory.
    ids = np.array([(Path(configured) / f.relative_to(folder)).as_posix() for f in files], dtype=str)
    split, skipped = _decode_split(files, ids, labels, lambda i: str(files[i]), folder.name, decoding)
    return split, skipped, names, folder


def load_folder(root: Path, **options: Any) -> PreparedData:
    """Decodes a folder of images, `dir/<class>/<image>` or flat.

    Sample ids are the configured folder joined with the file's path inside it, with forward slashes
    ("imgs/cat/001.png" for `train: imgs`).

    Options:
        train: train folder (relative to `root` unless absolute). Required.
        test: test folder; when absent, test is train. Its class folders must be train classes.
        image_size: resize every image to (image_size, image_size) (bilinear); without it all images
            must already share one size.
        skip_unreadable: leave out files that cannot be decoded (listed in the card under `skipped`)
            instead of failing (default False).

    Returns:
        PreparedData with uint8 (N, H, W, C) images; labels int64 (N,) index sorted class folder names.
    """
    reject_unknown(options, _OPTIONS, "folder")
    decoding = _decoding(options)
    train, train_skipped, class_names, train_dir = _read_folder_split(
        root, options.get("train"), "train", None, decoding
    )
    test, test_dir = train, None
    test_skipped: list[tuple[str, str]] = []
    if options.get("test") is not None:
        test, test_skipped, test_names, test_dir = _read_folder_split(
            root, options["test"], "test", class_names, decoding
        )
        check_same_image_shape(train, test, str(test_dir))
        class_names = class_names or test_names
    card = make_card(
        "folder",
        train_dir.name,
        train,
        test,
        None,
        class_names,
        [],
        skipped=_card_skipped(train=train_skipped, test=test_skipped),
        files=source_files(options),
    )
    return PreparedData(train, test, None, class_names, card)
