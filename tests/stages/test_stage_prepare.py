"""prepare: digits decoded to arrays + card; an unknown data set and a corrupt image fail in one line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from stage_helpers import DS, argv, leftovers, run_stage, stderr_error_line, write_params

from stages import prepare


def test_prepare_digits(tmp_path: Path, params_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert run_stage(prepare, argv("prepare", data, params_file)) == 0
    out = data / DS / "prepared"
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "params.json", "test.npz", "train.npz"]
    card = json.loads((out / "card.json").read_text())
    assert card["dataset"] == DS
    assert card["splits"]["train"]["n"] == 1437 and card["splits"]["test"]["n"] == 360
    assert len(card["mean"]) == len(card["std"]) == 1
    with np.load(out / "train.npz") as z:
        assert z["images"].dtype == np.uint8 and z["images"].shape == (1437, 8, 8, 1)
        assert z["labels"].dtype == np.int64
    assert "[prepare] digits: train 1437, test 360" in capsys.readouterr().out
    assert leftovers(tmp_path) == []


def test_prepare_is_byte_identical_on_a_rerun(tmp_path: Path, params_file: Path) -> None:
    # A forced re-run (`dvc repro -f`) must not change the output's hash, or every seed's stages rerun.
    first, second = tmp_path / "a", tmp_path / "b"
    for data in (first, second):
        assert run_stage(prepare, argv("prepare", data, params_file)) == 0
    files = sorted(p.name for p in (first / DS / "prepared").iterdir())
    assert files == ["card.json", "params.json", "test.npz", "train.npz"]
    for name in files:
        assert (first / DS / "prepared" / name).read_bytes() == (second / DS / "prepared" / name).read_bytes(), name


@pytest.mark.parametrize("dataset", ["nope"])
def test_unknown_dataset(tmp_path: Path, params_file: Path, capsys: pytest.CaptureFixture[str],
                         dataset: str) -> None:
    data = tmp_path / "data"
    rc = run_stage(prepare, argv("prepare", data, params_file, ds=dataset))
    assert rc != 0
    line = stderr_error_line(capsys.readouterr().err)
    assert "'nope'" in line and "digits" in line
    assert not (data / dataset).exists()
    assert leftovers(tmp_path) == []


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _parquet(path: Path, blobs: list[bytes]) -> Path:
    labels = [i % 2 for i in range(len(blobs))]
    pq.write_table(pa.table({"image": pa.array(blobs, type=pa.binary()), "label": pa.array(labels)}), path)
    return path


def _bad_params(tmp_path: Path, table: Path) -> Path:
    def add(params: dict) -> None:
        params["datasets"]["bad"] = {"preset": DS, "source": {"kind": "parquet", "train": str(table)}, "num_classes": 2}

    return write_params(tmp_path / "params.yaml", add)


def test_parquet_control(tmp_path: Path) -> None:
    # The same source without the garbage row prepares fine, so the failure below is the garbage row's.
    params = _bad_params(tmp_path, _parquet(tmp_path / "ok.parquet", [_png(v) for v in (0, 80, 160, 240)]))
    assert run_stage(prepare, argv("prepare", tmp_path / "data", params, ds="bad")) == 0
    assert (tmp_path / "data" / "bad" / "prepared" / "train.npz").exists()


def test_corrupt_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = _parquet(tmp_path / "bad.parquet", [_png(0), _png(80), b"\x00garbage, not an image", _png(240)])
    params = _bad_params(tmp_path, table)
    data = tmp_path / "data"
    assert run_stage(prepare, argv("prepare", data, params, ds="bad")) != 0
    line = stderr_error_line(capsys.readouterr().err)
    assert "bad.parquet" in line and "row 2" in line
    assert not (data / "bad" / "prepared").exists()
    assert leftovers(tmp_path) == []
