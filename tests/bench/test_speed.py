"""`python -m deepclust.bench.speed` end to end at tiny sizes on CPU: report shape and consistency, not speed."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from deepclust.bench import speed

TINY = ["--quick", "--device", "cpu", "--threads", "1", "--images", "48", "--augment-batch", "16",
        "--workers", "0", "--backbones", "small_cnn", "--width", "4", "--batch-sizes", "8", "--steps", "2",
        "--knn-n", "300,600", "--knn-k", "5", "--kmeans-n", "400", "--k", "3,8", "--sklearn-max-k", "3",
        "--niter", "3"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("speed") / "speed.json"
    assert speed.main([*TINY, "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_augment_compares_both_paths_on_the_same_images(report: dict) -> None:
    batched, batched_yiq, per_sample = report["sections"]["augment"]
    assert (batched["name"], batched_yiq["name"], per_sample["name"]) == ("batched", "batched_yiq", "per_sample")
    assert "HSV" in batched["how"] and "yiq" in batched_yiq["how"]
    for row in (batched, batched_yiq, per_sample):
        assert row["images"] == 48 and row["images_per_s"] > 0
        assert row["views_per_s"] == pytest.approx(2 * row["images_per_s"])
    for row in (batched, batched_yiq):
        assert row["speedup_vs_per_sample"] == pytest.approx(row["images_per_s"] / per_sample["images_per_s"])
    assert report["sections"]["images"]  # says where the images came from


def test_step_reports_throughput_and_augment_share(report: dict) -> None:
    (row,) = report["sections"]["step"]
    assert (row["backbone"], row["batch_size"], row["precision"], row["steps"]) == ("small_cnn", 8, "fp32", 2)
    assert row["images_per_s"] > 0 and 0 < row["augment_fraction"] < 1
    assert row["peak_cuda_mb"] is None
    assert (row["channels_last"], row["compile"]) == (False, None)  # the CPU defaults


def test_step_uses_the_engines_speed_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The GPU defaults (channels_last) and a compiled backbone, run on the CPU ("eager" needs no compiler).
    monkeypatch.setenv("DEEPCLUST_CHANNELS_LAST", "1")
    monkeypatch.setenv("DEEPCLUST_COMPILE", "eager")
    out = tmp_path / "speed.json"
    assert speed.main([*TINY, "--sections", "step", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["sections"]["step"]
    assert (row["channels_last"], row["compile"]) == (True, "eager") and row["images_per_s"] > 0


def test_step_precisions_on_the_cpu(tmp_path: Path) -> None:
    # bf16 autocast on the CPU is opt-in (`--precisions`); torch emulates it where the CPU has no native bf16.
    out = tmp_path / "speed.json"
    assert speed.main([*TINY, "--sections", "step", "--precisions", "fp32,bf16", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["sections"]["step"]
    assert [r["precision"] for r in rows] == ["fp32", "bf16"] and all(r["images_per_s"] > 0 for r in rows)
    with pytest.raises(SystemExit):
        speed.main([*TINY, "--sections", "step", "--precisions", "fp16"])


def test_knn_and_kmeans_rows(report: dict) -> None:
    knn = report["sections"]["knn"]
    assert [r["n"] for r in knn] == [300, 600] and all(r["seconds"] > 0 and r["k"] == 5 for r in knn)
    k3, k8 = report["sections"]["kmeans"]
    assert (k3["k"], k8["k"]) == (3, 8)
    assert k3["speedup_vs_sklearn"] == pytest.approx(k3["sklearn_s"] / k3["seconds"])
    assert "sklearn_s" not in k8  # above --sklearn-max-k


def test_metrics_are_flat_numbers_keyed_by_section_row_field(report: dict) -> None:
    metrics = report["metrics"]
    assert metrics["augment/batched/speedup_vs_per_sample"] == report["sections"]["augment"][0]["speedup_vs_per_sample"]
    assert "step/small_cnn b8 fp32/images_per_s" in metrics and "kmeans/k3/speedup_vs_sklearn" in metrics
    assert "step/small_cnn b8 fp32/peak_cuda_mb" not in metrics  # None on CPU
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    assert report["resources"]["peak_rss_mb"] > 0 and metrics["resources/peak_rss_mb"] > 0
    assert set(report["sections"]["peak_rss_mb_after"]) == {"augment", "step", "knn", "kmeans"}
    assert report["environment"]["torch_threads"] == 1 and report["config"]["device"] == "cpu"


def test_knn_skips_a_size_predicted_too_slow(tmp_path: Path) -> None:
    out = tmp_path / "knn.json"
    assert speed.main(["--sections", "knn", "--knn-n", "200,100000", "--max-seconds", "0.001", "--out", str(out)]) == 0
    small, big = json.loads(out.read_text())["sections"]["knn"]
    assert small["seconds"] > 0 and "predicted" in big["skipped"]


def test_knn_on_a_features_file(tmp_path: Path) -> None:
    features = tmp_path / "embed" / "features.npz"
    features.parent.mkdir()
    rng = np.random.default_rng(0)
    np.savez(features, train_backbone=rng.normal(size=(50, 8)), test_backbone=rng.normal(size=(10, 8)))
    out = tmp_path / "knn.json"
    argv = ["--sections", "knn", "--knn-n", "100", "--knn-k", "3", "--features", str(features), "--out", str(out)]
    assert speed.main(argv) == 0
    rows = json.loads(out.read_text())["sections"]["knn"]
    assert [(r["name"], r["n"], r["dim"]) for r in rows[1:]] == [("embed/train_backbone", 50, 8)]


def test_compare_lines_up_metrics_of_several_reports(report: dict, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(report))
    other = json.loads(json.dumps(report))
    other["metrics"] = {"knn/synthetic n300/seconds": 9.5, "only/in/b": 1.0}
    b.write_text(json.dumps(other))
    assert speed.main(["--compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert f"[0] {a}" in text and f"[1] {b}" in text
    (line,) = [ln for ln in text.splitlines() if "knn/synthetic n300/seconds" in ln]
    assert line.split()[-1] == "9.5"
    (line,) = [ln for ln in text.splitlines() if "only/in/b" in ln]
    assert line.split()[-2:] == ["-", "1"]
