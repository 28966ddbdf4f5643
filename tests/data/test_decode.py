"""decode_images on bytes and files: the Decoded triple, opt-in skipping, mixed grayscale/RGB."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import encode

from deepclust.data.decode import Decoded, decode_images
from deepclust.errors import DeepclustError


def _rgb(seed: int, size: tuple[int, int] = (6, 5)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def _gray(seed: int, size: tuple[int, int] = (6, 5)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 1), dtype=np.uint8)


def _where(i: int) -> str:
    return f"item {i}"


def test_all_readable_keeps_every_index() -> None:
    x = np.stack([_rgb(0), _rgb(1)])
    out = decode_images([encode(a, "PNG") for a in x], _where)
    assert isinstance(out, Decoded) and np.array_equal(out.images, x)
    assert out.kept.dtype == np.int64 and out.kept.tolist() == [0, 1] and out.skipped == []


def test_without_opt_in_first_unreadable_raises_with_hint() -> None:
    items = [encode(_rgb(0), "PNG"), b"garbage", None]
    with pytest.raises(DeepclustError, match=r"item 1: .*set skip_unreadable: true") as err:
        decode_images(items, _where)
    assert "\n" not in str(err.value) and "0x" not in str(err.value)
    with pytest.raises(DeepclustError, match=r"item 0: empty \(null\).*skip_unreadable"):
        decode_images([None, encode(_rgb(0), "PNG")], _where)


def test_opt_in_skips_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    good = [_rgb(0), _rgb(1), _rgb(2)]
    truncated = encode(_rgb(3), "JPEG")[:200]
    items = [encode(good[0], "PNG"), b"not an image", encode(good[1], "PNG"), None, truncated, encode(good[2], "PNG")]
    with caplog.at_level(logging.WARNING, logger="deepclust.data.decode"):
        out = decode_images(items, _where, skip_unreadable=True)
    assert np.array_equal(out.images, np.stack(good)) and out.kept.tolist() == [0, 2, 5]
    assert [i for i, _ in out.skipped] == [1, 3, 4]
    assert all("\n" not in reason and "0x" not in reason for _, reason in out.skipped)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("skipping unreadable image item" in m for m in messages) == 3
    assert any("skipped 3 of 6" in m for m in messages)


def test_every_image_unreadable_raises() -> None:
    with pytest.raises(DeepclustError, match=r"all 2 images .* unreadable, e\.g\. item 0"):
        decode_images([b"x", None], _where, skip_unreadable=True)


def test_first_unreadable_then_shape_comes_from_first_readable() -> None:
    out = decode_images([b"x", encode(_gray(0), "PNG")], _where, skip_unreadable=True)
    assert out.images.shape == (1, 6, 5, 1) and out.kept.tolist() == [1]


def test_grayscale_among_rgb_is_converted_to_rgb(tmp_path: Path) -> None:
    paths = []
    for i, arr in enumerate([_rgb(0), _gray(1), _rgb(2)]):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(encode(arr, "PNG"))
    out = decode_images(paths, lambda i: str(paths[i]))
    assert out.images.shape == (3, 6, 5, 3) and out.images.dtype == np.uint8
    assert np.array_equal(out.images[1], np.repeat(_gray(1), 3, axis=-1))  # L -> RGB copies the channel


def test_rgb_among_grayscale_is_converted_to_grayscale() -> None:
    flat = np.full((6, 5, 3), 200, dtype=np.uint8)  # a gray RGB image converts to the same value in "L"
    out = decode_images([encode(_gray(0), "PNG"), encode(flat, "PNG")], _where)
    assert out.images.shape == (2, 6, 5, 1) and out.images.dtype == np.uint8
    assert np.all(out.images[1] == 200)


def test_size_mismatch_is_an_error_even_with_opt_in() -> None:
    items = [encode(_rgb(0), "PNG"), encode(_rgb(1, (7, 7)), "PNG")]
    with pytest.raises(DeepclustError, match=r"item 1 has shape .*set image_size"):
        decode_images(items, _where, skip_unreadable=True)
    assert decode_images(items, _where, image_size=4).images.shape == (2, 4, 4, 3)
