"""pretext: outputs and metrics; a params change starts over; an interrupted run resumes; NaN loss."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from stage_helpers import DS, argv, leftovers, out_dir, run_stage, stderr_error_line, write_params

import stages.pretext as pretext_stage
import stages.training as training
from deepclust.engine import fit, load_checkpoint, load_state_strict
from deepclust.methods import SimCLR
from deepclust.models import HeadModel, SimCLRProjectionHead, build_backbone
from deepclust.models.io import load_contrastive

BATCHES_PER_EPOCH = 1437 // 64


def _epochs(n: int):
    def edit(params: dict) -> None:
        params["pretext"][DS]["epochs"] = n

    return edit


def _log_epochs(run_dir: Path) -> list[int]:
    with open(run_dir / "log.csv") as fh:
        return [int(row["epoch"]) for row in csv.DictReader(fh)]


def test_pretext_outputs(work: Path, params_file: Path) -> None:
    assert run_stage(pretext_stage, argv("pretext", work, params_file)) == 0
    out = out_dir(work, "pretext")
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"loss", "epochs", "resumed_at_epoch", "seconds", "images_per_second", "device"} <= metrics.keys()
    assert metrics["epochs"] == 2 and metrics["resumed_at_epoch"] == 0
    assert metrics["device"].split(":")[0] in ("cpu", "cuda")  # device-generic: also runs on a GPU machine
    assert metrics["precision"] == ("bf16" if metrics["device"].startswith("cuda") else "fp32")  # the defaults
    model, cfg = load_contrastive(out / "model.pt")
    assert cfg == {"model": "contrastive", "backbone": {"name": "small_cnn", "in_channels": 1, "width": 8},
                   "head": {"kind": "simclr", "input_dim": 32, "hidden_dim": 32, "output_dim": 16}}
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 1, 8, 8)).shape == (2, 16)
    assert load_checkpoint(out / "run" / "checkpoint.pt")["run_variables"]["epoch"] == 2
    assert _log_epochs(out / "run") == [1, 2]
    assert leftovers(work) == []
    # A re-run (dvc repro -f) resumes the finished run: same model, and the throughput of its epochs, not 0.
    assert metrics["images_per_second"] > 0
    assert run_stage(pretext_stage, argv("pretext", work, params_file)) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["resumed_at_epoch"] == 2 and again["images_per_second"] == metrics["images_per_second"]


def test_changed_params_start_over(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = write_params(tmp_path / "params.yaml", _epochs(2))
    assert run_stage(pretext_stage, argv("pretext", work, params)) == 0
    capsys.readouterr()
    params = write_params(tmp_path / "params.yaml", _epochs(3))  # the fingerprint covers params: no resume
    assert run_stage(pretext_stage, argv("pretext", work, params)) == 0
    assert "resuming" not in capsys.readouterr().out
    metrics = json.loads((out_dir(work, "pretext") / "metrics.json").read_text())
    assert metrics["resumed_at_epoch"] == 0 and metrics["epochs"] == 3
    assert _log_epochs(out_dir(work, "pretext") / "run") == [1, 2, 3]


def test_resume_after_interrupt(work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    params = write_params(tmp_path / "params.yaml", _epochs(3))
    out = out_dir(work, "pretext")

    def interrupt_third_epoch(epoch: int, metrics: dict) -> None:
        if epoch == 2:  # epochs 1 and 2 are checkpointed; Ctrl-C at the end of the third
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "fit",
                        lambda *a, **kw: fit(*a, on_epoch_end=interrupt_third_epoch, **kw))
    assert run_stage(pretext_stage, argv("pretext", work, params)) != 0
    assert stderr_error_line(capsys.readouterr().err) == "error: interrupted"
    assert not (out / "model.pt").exists() and not (out / "metrics.json").exists()
    assert load_checkpoint(out / "run" / "checkpoint.pt")["run_variables"]["epoch"] == 2
    assert leftovers(work) == []
    monkeypatch.undo()

    assert run_stage(pretext_stage, argv("pretext", work, params)) == 0
    assert "resuming from epoch 2" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["resumed_at_epoch"] == 2
    assert _log_epochs(out / "run") == [1, 2, 3]

    # The resumed model equals an uninterrupted run, bit for bit (CPU, same seed).
    other = tmp_path / "other"
    (other / DS).mkdir(parents=True)
    (other / DS / "prepared").symlink_to(work / DS / "prepared")
    assert run_stage(pretext_stage, argv("pretext", other, params)) == 0
    resumed = load_contrastive(out / "model.pt")[0].state_dict()
    straight = load_contrastive(out_dir(other, "pretext") / "model.pt")[0].state_dict()
    for key, value in straight.items():
        assert torch.equal(resumed[key], value), key


def test_non_finite_loss(work: Path, params_file: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    original = SimCLR.training_step
    calls = {"n": 0}

    def nan_in_second_epoch(self, batch, state):
        calls["n"] += 1
        out = original(self, batch, state)
        if calls["n"] > BATCHES_PER_EPOCH + 2:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(SimCLR, "training_step", nan_in_second_epoch)
    out = out_dir(work, "pretext")
    assert run_stage(pretext_stage, argv("pretext", work, params_file)) != 0
    line = stderr_error_line(capsys.readouterr().err)
    assert "non-finite" in line and "epoch 2" in line and "checkpoint.pt" in line
    assert not (out / "model.pt").exists() and not (out / "metrics.json").exists()
    assert leftovers(work) == []
    # The last good checkpoint (epoch 1) is still there and loads strictly into the model.
    payload = load_checkpoint(out / "run" / "checkpoint.pt")
    assert payload["run_variables"]["epoch"] == 1
    backbone = build_backbone("small_cnn", 1, 8)
    model = HeadModel(backbone, SimCLRProjectionHead(backbone.output_dim, 32, 16))
    state = {k.removeprefix("model."): v for k, v in payload["states"]["method"].items()}
    load_state_strict(model, state, "pretext checkpoint")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_huge_lr_is_a_non_finite_loss(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def edit(params: dict) -> None:
        params["pretext"][DS].update(lr=1e30, epochs=1)

    params = write_params(tmp_path / "params.yaml", edit)
    assert run_stage(pretext_stage, argv("pretext", work, params)) != 0
    assert "non-finite" in stderr_error_line(capsys.readouterr().err)
    assert not (out_dir(work, "pretext") / "model.pt").exists()
    assert leftovers(work) == []


def test_feature_table_pretext_is_the_identity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A features data set has nothing to pretrain: pretext writes an identity backbone, not a traceback."""
    import numpy as np

    from stages import prepare

    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(60, 5)).astype(np.float32))

    def table(params: dict) -> None:
        params["datasets"]["table"] = {"preset": DS, "num_classes": 3,
                                       "source": {"kind": "features", "train": str(tmp_path / "x.npy")}}

    params = write_params(tmp_path / "params.yaml", table)
    data = tmp_path / "data"
    assert run_stage(prepare, argv("prepare", data, params, ds="table")) == 0
    assert run_stage(pretext_stage, argv("pretext", data, params, ds="table")) == 0
    assert "feature table (5-d)" in capsys.readouterr().out
    model, cfg = load_contrastive(out_dir(data, "pretext", ds="table") / "model.pt")
    assert cfg["backbone"] == {"name": "identity", "input_dim": 5} and cfg["head"] == {"kind": "identity"}
    assert (out_dir(data, "pretext", ds="table") / "run").is_dir()  # a declared out, even untrained
    x = torch.randn(4, 5)
    assert torch.equal(model(x), x)
