"""dec, ae_pretrain, deepcluster and pcl stages beyond the end-to-end chain: any backbone into dec, IDEC's
need for a decoder, resume of the autoencoder, the budget curves of the stages a k-means follows, and one-line
errors."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from stage_helpers import argv, out_dir, run_stage, stderr_error_line, write_params

from deepclust.data import read_predictions
from deepclust.models.io import load_clustering
from stages import ae_pretrain, dec


def test_dec_clusters_on_a_convolutional_backbone(upstream: Path, params_file: Path, tmp_path: Path) -> None:
    """DEC on SimCLR's network itself (images in, encoder fine-tuned): any backbone producer feeds dec."""
    out = tmp_path / "dec-on-cnn"
    args = argv("ae_pretrain-dec", upstream, params_file, model=out_dir(upstream, "pretext") / "model.pt", out=out,
                run_dir=out / "run")
    assert run_stage(dec, args) == 0
    model, arch = load_clustering(out / "model.pt")
    assert arch["backbone"]["name"] == "small_cnn" and arch["head"]["kind"] == "student_t"
    with torch.no_grad():
        q = model.eval()(torch.randn(4, 1, 8, 8))[0].exp()
    assert torch.allclose(q.sum(1), torch.ones(4), atol=1e-5)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "dec" and metrics["iterations"] > 0
    assert set(read_predictions(out / "predictions.csv")) == {"train", "test"}


def test_idec_needs_an_autoencoder(upstream: Path, params_file: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "idec"
    args = argv("ae_pretrain-dec_idec", upstream, params_file, model=out_dir(upstream, "pretext") / "model.pt", out=out,
                run_dir=out / "run")
    assert run_stage(dec, args) == 2
    line = stderr_error_line(capsys.readouterr().err)
    assert "IDEC" in line and "autoencoder" in line
    assert not (out / "metrics.json").exists()


def test_ae_pretrain_resumes_from_its_checkpoint(work: Path, params_file: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    args = argv("ae_pretrain", work, params_file)
    assert run_stage(ae_pretrain, args) == 0
    first = json.loads((out_dir(work, "ae_pretrain") / "metrics.json").read_text())
    assert first["input_dim"] == 64 and first["test_reconstruction_mse"] > 0
    assert run_stage(ae_pretrain, args) == 0  # nothing left to train: the checkpoint's epoch is the last
    again = json.loads((out_dir(work, "ae_pretrain") / "metrics.json").read_text())
    assert again["resumed_at_epoch"] == first["epochs"] and again["loss"] == first["loss"]
    assert "resuming from epoch" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["deepcluster", "pcl", "idfd", "ae_pretrain"])
def test_stages_a_kmeans_follows_keep_a_budget_curve_of_a_kmeans_on_their_features(
        name: str, work: Path, tmp_path: Path) -> None:
    """After every epoch: the test split's clusters of a k-means with the data set's K (10 digits) on the stage's
    features, with the training seconds so far; a data set that leaves K to an estimate (`auto`) has no K for it."""
    module = importlib.import_module(f"stages.{name}")
    params = write_params(tmp_path / "params.yaml")
    assert run_stage(module, argv(name, work, params)) == 0
    test_rows = json.loads((out_dir(work, "prepare") / "card.json").read_text())["splits"]["test"]["n"]
    with np.load(out_dir(work, name) / "run" / "curve.npz") as f:
        epochs, seconds, assignments = f["epochs"].tolist(), f["seconds"].tolist(), f["assignments"]
    assert epochs == [1, 2] and 0 < seconds[0] < seconds[1]
    assert assignments.shape == (2, test_rows) and assignments.min() >= 0 and assignments.max() < 10
    assert len(np.unique(assignments[-1])) >= 5  # k-means clusters, not one constant

    auto = write_params(tmp_path / "auto.yaml", lambda p: p["datasets"]["digits"].update(num_classes="auto"))
    again = tmp_path / "again"
    assert run_stage(module, argv(name, work, auto, out=again, run_dir=again / "run")) == 0
    assert (again / "model.pt").exists() and not (again / "run" / "curve.npz").exists()


def test_missing_upstream_model_is_one_line(work: Path, params_file: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    args = argv("ae_pretrain-dec", work, params_file, model=tmp_path / "nope" / "model.pt")
    assert run_stage(dec, args) == 2
    assert "nope" in stderr_error_line(capsys.readouterr().err)


def test_dec_and_idec_on_a_feature_table(tmp_path: Path) -> None:
    """DEC/IDEC on a features data set: the autoencoder reads the table's rows, DEC clusters its embedding."""
    import numpy as np

    from stages import prepare

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (3, 6))
    labels = np.repeat(np.arange(3), 40)
    np.save(tmp_path / "x.npy", (centres[labels] + rng.normal(0, 0.3, (120, 6))).astype(np.float32))
    np.save(tmp_path / "y.npy", labels)

    def table(params: dict) -> None:
        params["datasets"]["table"] = {"preset": "digits", "num_classes": 3, "source": {
            "kind": "features", "train": str(tmp_path / "x.npy"), "train_labels": str(tmp_path / "y.npy")}}

    params = write_params(tmp_path / "params.yaml", table)
    data = tmp_path / "data"
    assert run_stage(prepare, argv("prepare", data, params, ds="table")) == 0
    assert run_stage(ae_pretrain, argv("ae_pretrain", data, params, ds="table")) == 0
    assert json.loads((out_dir(data, "ae_pretrain", ds="table") / "metrics.json").read_text())["input_dim"] == 6
    for name in ("ae_pretrain-dec", "ae_pretrain-dec_idec"):
        assert run_stage(dec, argv(name, data, params, ds="table")) == 0, name
        predictions = read_predictions(out_dir(data, name, ds="table") / "predictions.csv")
        assert predictions["train"].probabilities.shape == (120, 3)


def test_ae_input_scale_reaches_dec(work: Path, tmp_path: Path) -> None:
    """DEC-keras feeds its autoencoder x / 255: ae_pretrain's input_scale is recorded in the encoder, and DEC
    embeds the same scaled pixels (its k-means init sees what the encoder was trained on)."""
    import numpy as np

    from deepclust.models.io import load_model
    from stages import common
    from stages.inputs import network_inputs
    from stages.kinds.dec import DecParams

    def scaled(params: dict) -> None:
        params["ae_pretrain"]["digits"]["input_scale"] = 1 / 255

    params = write_params(tmp_path / "params.yaml", scaled)
    assert run_stage(ae_pretrain, argv("ae_pretrain", work, params)) == 0
    model, arch = load_model(out_dir(work, "ae_pretrain") / "model.pt", "autoencoder")
    assert arch["input_scale"] == pytest.approx(1 / 255)
    assert model.backbone.arch["input_scale"] == pytest.approx(1 / 255)
    job = common.start(DecParams, common.parser("", "data"), ["--dataset", "digits", "--params", str(params),
                                                          "--data", str(out_dir(work, "prepare"))])
    inputs = network_inputs(job, model.backbone)
    x = inputs.train[:5]
    expected = x.permute(0, 3, 1, 2).float() / 255  # pixels times 1/255, no mean/std normalisation
    assert torch.allclose(inputs.eval_transform(job)(x), expected, atol=1e-6)
    assert run_stage(dec, argv("ae_pretrain-dec", work, params)) == 0
    assert np.isfinite(json.loads((out_dir(work, "ae_pretrain-dec") / "metrics.json").read_text())["seconds"])
