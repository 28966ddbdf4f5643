"""cc, dcdc, iic and idfd stages beyond the end-to-end chain: the kept sub-head and epoch, the collapse guard's
metrics, resume, and one-line errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from stage_helpers import argv, out_dir, run_stage, stderr_error_line, write_params

from deepclust.data import read_predictions
from deepclust.models.io import load_backbone, load_clustering
from stages import cc, idfd, iic


def test_cc_keeps_one_sub_head_and_reports_cluster_usage(work: Path, params_file: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    args = argv("cc", work, params_file)
    assert run_stage(cc, args) == 0
    out = out_dir(work, "cc")
    model, arch = load_clustering(out / "model.pt")
    assert arch["head"]["num_heads"] == 1 and arch["head"]["num_clusters"] == 10 and arch["head"]["kind"] == "mlp"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["selected_head"] in (0, 1) and 1 <= metrics["selected_epoch"] <= 2
    assert {"non_empty_clusters", "largest_cluster_share", "collapsed"} <= metrics.keys()
    assert set(read_predictions(out / "predictions.csv")) == {"train", "test"}
    assert "kept sub-head" in capsys.readouterr().out
    # Run again: nothing left to train, same selection.
    assert run_stage(cc, args) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["resumed_at_epoch"] == 2 and again["selected_epoch"] == metrics["selected_epoch"]


def test_cc_trials_continue_the_initialisation_with_the_lowest_own_loss(
        work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Trials are the pair-clustering recipe's, not IIC's: CC (whose MNIST low seeds merge two digits) takes them."""
    params = write_params(tmp_path / "params.yaml", lambda p: p["cc"]["digits"].update(
        epochs=3, trials=2, trial_epochs=1))
    assert run_stage(cc, argv("cc", work, params)) == 0
    out = out_dir(work, "cc")
    saved = json.loads((out / "run" / "attempt.json").read_text())
    losses = [t["val_loss"] for t in saved["trials"]]
    assert len(losses) == 2 and losses[0] != losses[1]  # two initialisations, each scored by its own loss
    assert saved["winner"] == min(range(2), key=lambda r: (saved["trials"][r]["collapsed"], losses[r]))
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["trial_losses"]) == 2 and metrics["resumed_at_epoch"] == 1
    assert f"trial {saved['winner'] + 1} continues to epoch 3" in capsys.readouterr().out


def test_a_cosine_schedule_decays_the_pair_clustering_learning_rate_every_epoch(work: Path, tmp_path: Path) -> None:
    """`schedule: cosine` lowers the rate from `lr` towards 0 by the last epoch; the default keeps it constant."""
    def lrs(params: Path) -> list[float]:
        assert run_stage(cc, argv("cc", work, params)) == 0
        with (out_dir(work, "cc") / "run" / "log.csv").open() as f:
            return [float(row["lr"]) for row in csv.DictReader(f)]

    longer = {"epochs": 4}
    constant = lrs(write_params(tmp_path / "constant.yaml", lambda p: p["cc"]["digits"].update(longer)))
    base = constant[0]
    assert len(constant) == 4 and all(lr == pytest.approx(base) for lr in constant)
    shutil.rmtree(out_dir(work, "cc"))
    cosine = lrs(write_params(tmp_path / "cosine.yaml", lambda p: p["cc"]["digits"].update(longer, schedule="cosine")))
    assert len(cosine) == 4 and all(a > b for a, b in zip(cosine, cosine[1:], strict=False))
    assert cosine[0] < base and cosine[-1] < 0.05 * base


def test_iic_selects_only_among_epochs_that_trained_the_k_head(work: Path, params_file: Path) -> None:
    assert run_stage(iic, argv("iic", work, params_file)) == 0
    out = out_dir(work, "iic")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_clusters"] == [20, 10]
    assert metrics["selected_epoch"] in (2, 3)  # epoch 1 trained the overclustering head
    log = (out / "run" / "log.csv").read_text().splitlines()
    assert "loss_k20" in log[0] and "loss_k10" in log[0] and len(log) == 4
    model, _ = load_clustering(out / "model.pt")
    with torch.no_grad():
        logits = model.eval()(torch.randn(3, 1, 8, 8))
    assert logits.shape == (1, 3, 10)


def test_iic_starts_over_while_every_sub_head_is_collapsed_and_a_rerun_resumes_the_last_attempt(
        work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 1,000 clusters on ~1,400 scored digits: every sub-head leaves clusters empty, i.e. is collapsed, every epoch.
    params = write_params(tmp_path / "params.yaml", lambda p: p["iic"]["digits"].update(
        num_clusters=1000, restart_epoch=2, restarts=2))
    args = argv("iic", work, params)
    assert run_stage(iic, args) == 0
    out = out_dir(work, "iic")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["restarts"] == 2 and metrics["selected_collapsed"] is True  # the last attempt is not checked
    printed = capsys.readouterr().out
    assert printed.count("every sub-head collapsed after epoch 2: starting over") == 2
    assert len((out / "run" / "log.csv").read_text().splitlines()) == 4  # header + the last attempt's 3 epochs
    with np.load(out / "run" / "curve.npz") as f:  # the budget curve: K-head epochs of the last attempt
        assert f["epochs"].tolist() == [2, 3] and f["seconds"][0] > 0
    assert run_stage(iic, args) == 0  # a rerun continues attempt 2 (finished): nothing is trained again
    again = json.loads((out / "metrics.json").read_text())
    assert again["restarts"] == 2 and again["resumed_at_epoch"] == 3
    assert "starting over" not in capsys.readouterr().out


def test_iic_trials_continue_the_initialisation_with_the_lowest_own_loss_and_count_every_trials_seconds(
        work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = write_params(tmp_path / "params.yaml", lambda p: p["iic"]["digits"].update(
        epochs=5, trials=3, trial_epochs=3))
    args = argv("iic", work, params)
    assert run_stage(iic, args) == 0
    out = out_dir(work, "iic")
    run = out / "run"
    saved = json.loads((run / "attempt.json").read_text())
    trials = saved["trials"]
    assert len(trials) == 3 and trials[0]["seconds"] < trials[1]["seconds"] < trials[2]["seconds"]
    winner = min(range(3), key=lambda r: (trials[r]["collapsed"], trials[r]["val_loss"]))
    assert saved["winner"] == winner
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["trial_losses"]) == 3 and metrics["restarts"] == 0
    assert metrics["resumed_at_epoch"] == 3  # the winner went on from its trial's checkpoint
    printed = capsys.readouterr().out
    assert f"trial {winner + 1} continues to epoch 5" in printed and printed.count(" of 3: own loss ") == 3
    assert len((run / "log.csv").read_text().splitlines()) == 6  # header + the winner's 5 epochs
    with np.load(run / "curve.npz") as f:  # the winner's curve: its trial's epochs, then after every trial's time
        epochs, seconds = f["epochs"].tolist(), f["seconds"].tolist()
    assert epochs == [2, 3, 5] and seconds[-1] > trials[-1]["seconds"] and seconds == sorted(seconds)
    dropped = [r for r in range(3) if r != winner]
    assert all((run / f"trial{r}" / "checkpoint.pt").exists() for r in dropped)
    assert run_stage(iic, args) == 0  # a rerun trains nothing: the winner finished
    assert json.loads((out / "metrics.json").read_text())["resumed_at_epoch"] == 5
    assert "own loss" not in capsys.readouterr().out.split("kept sub-head")[0]


def test_iic_trials_must_end_before_the_run(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = write_params(tmp_path / "params.yaml", lambda p: p["iic"]["digits"].update(
        epochs=3, trials=2, trial_epochs=3))
    assert run_stage(iic, argv("iic", work, params)) != 0
    assert "trial_epochs below epochs=3" in stderr_error_line(capsys.readouterr().err)


def test_iic_without_a_restart_epoch_never_starts_over(work: Path, tmp_path: Path) -> None:
    params = write_params(tmp_path / "params.yaml", lambda p: p["iic"]["digits"].update(num_clusters=1000))
    assert run_stage(iic, argv("iic", work, params)) == 0
    assert json.loads((out_dir(work, "iic") / "metrics.json").read_text())["restarts"] == 0


def test_a_restart_draws_a_new_initialisation_for_each_attempt() -> None:
    from stages.pair_training import restart_seed

    seeds = {restart_seed(seed, attempt) for seed in range(5) for attempt in range(3)}
    assert len(seeds) == 15 and restart_seed(3, 0) == 3


def test_a_budget_curve_resumes_its_epochs_and_a_changed_run_starts_a_new_one(tmp_path: Path) -> None:
    from stages.curve import BudgetCurve

    curve = BudgetCurve(tmp_path, "fp-a", elapsed=5.0)
    curve.tick(10.0)
    curve.record(1, np.array([0, 1, 1]))
    curve.tick(20.0)  # an epoch that trains another head: counted, not recorded
    curve.tick(30.0)
    curve.record(3, np.array([1, 1, 0]))
    resumed = BudgetCurve(tmp_path, "fp-a")
    assert resumed.epochs == [1, 3] and resumed.seconds == [15.0, 65.0] and resumed.elapsed == 65.0
    assert resumed.assignments[1].tolist() == [1, 1, 0]
    changed = BudgetCurve(tmp_path, "fp-b")
    assert changed.epochs == [] and changed.elapsed == 0.0


def test_idfd_saves_a_unit_norm_embedding(work: Path, params_file: Path) -> None:
    assert run_stage(idfd, argv("idfd", work, params_file)) == 0
    model = load_backbone(out_dir(work, "idfd") / "model.pt")
    with torch.no_grad():
        z = model.eval()(torch.randn(5, 1, 8, 8))
    assert z.shape == (5, 16) and torch.allclose(z.norm(dim=1), torch.ones(5), atol=1e-5)


def test_on_a_feature_table_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stages import prepare

    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32))

    def table(params: dict) -> None:
        params["datasets"]["table"] = {"preset": "digits", "num_classes": 3,
                                       "source": {"kind": "features", "train": str(tmp_path / "x.npy")}}

    params = write_params(tmp_path / "params.yaml", table)
    data = tmp_path / "data"
    assert run_stage(prepare, argv("prepare", data, params, ds="table")) == 0
    assert run_stage(cc, argv("cc", data, params, ds="table")) == 2
    assert "feature table" in stderr_error_line(capsys.readouterr().err)


def test_invalid_params_are_one_line(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = write_params(tmp_path / "bad.yaml", lambda p: p["iic"]["digits"].update(num_heads=0))
    assert run_stage(iic, argv("iic", work, params)) == 2
    assert "iic.digits.num_heads" in stderr_error_line(capsys.readouterr().err)


def test_epochs_that_never_reach_the_k_head_are_one_line(work: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from stages import dcdc

    params = write_params(tmp_path / "short.yaml", lambda p: p["dcdc"]["digits"].update(epochs=1))
    assert run_stage(dcdc, argv("dcdc", work, params)) == 2
    assert "never trains the K head" in stderr_error_line(capsys.readouterr().err)
