"""Pipelines as data: the declaration expands into shared stage instances named by their path, wired by artifact
type; the graph holds the runs asked for (main, bench, runs)."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest

from pipelines.graph import DeclarationError, build_graph
from pipelines.render import instance_dir, render_all, render_bench_files, stage_argv

ROOT = Path(__file__).resolve().parents[2]
SCAN = ["prepare", "pretext", "embed", "mine", "scan", "selflabel", "evaluate"]
KMEANS = ["prepare", "pretext", "embed", "kmeans", "evaluate"]
KINDS = ("pretext", "embed", "mine", "scan", "selflabel", "kmeans", "evaluate", "baseline")
_AUG = {"augment": {}}


def params(pipelines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    main = {"dataset": "toy", "pipelines": [next(iter(pipelines))]}
    settings = {"pretext": {"backbone": "small_cnn", "epochs": 1, "batch_size": 8, "lr": 0.1, **_AUG},
                "scan": {"epochs": 1, "batch_size": 8, "augment": {}},
                "selflabel": {"epochs": 1, "batch_size": 8, "augment": {}}}
    return {"datasets": {"toy": {"preset": "toy", "source": {"kind": "digits"}, "num_classes": 3}},
            "pipelines": pipelines, "main": main, **{k: {"toy": settings.get(k, {})} for k in KINDS}, **extra}


def graph(pipelines: dict[str, Any], **extra: Any):
    return build_graph(params(pipelines, **extra))


def chain(g, pipeline: str) -> list[str]:
    return [i.name for i in g.chain(pipeline)]


def test_scan_and_kmeans_share_prepare_pretext_embed() -> None:
    g = graph({"scan": SCAN, "kmeans": KMEANS})
    assert chain(g, "scan") == ["prepare", "pretext", "pretext-embed", "pretext-embed-mine", "pretext-embed-mine-scan",
                                "pretext-embed-mine-scan-selflabel", "pretext-embed-mine-scan-selflabel-evaluate"]
    assert chain(g, "kmeans") == ["prepare", "pretext", "pretext-embed", "pretext-embed-kmeans",
                                  "pretext-embed-kmeans-evaluate"]
    names = [i.name for i in g.instances]
    assert len(names) == len(set(names)) == 9  # 7 + kmeans + its evaluate: nothing runs twice
    assert g.instance("pretext-embed-kmeans-evaluate").terminal_of == ["kmeans"]


def test_inputs_wire_to_nearest_producer_of_their_artifact() -> None:
    g = graph({"scan": SCAN, "feat": {"stages": ["prepare", "embed", "mine", "scan", "selflabel", "evaluate"],
                                      "scan": {"head": "mlp"}}})
    wires = {w.flag: w.sources for w in g.instance("pretext-embed-mine-scan").wires}
    assert wires == {"--data": ("prepare",), "--model": ("pretext",), "--neighbours": ("pretext-embed-mine",)}
    feat = {w.flag: w.sources for w in g.instance("embed-mine-scan_feat").wires}
    assert feat == {"--data": ("prepare",), "--features": ("embed",), "--neighbours": ("embed-mine",)}
    assert g.instance("embed-mine-scan_feat").variant == "feat"
    assert g.instance("pretext-embed-mine-scan").variant is None
    evaluate = g.instance("pretext-embed-mine-scan-selflabel-evaluate")
    assert {w.flag: w.sources for w in evaluate.wires}["--predictions"] == (
        "pretext-embed-mine-scan", "pretext-embed-mine-scan-selflabel")


def test_an_override_makes_the_pipelines_own_instance_from_that_stage_on() -> None:
    g = graph({"scan": SCAN, "scan5": {"stages": SCAN, "scan": {"entropy_weight": 2.0}}})
    assert chain(g, "scan5")[:4] == chain(g, "scan")[:4]  # prepare .. mine shared
    assert chain(g, "scan5")[4:] == ["pretext-embed-mine-scan_scan5", "pretext-embed-mine-scan_scan5-selflabel",
                                     "pretext-embed-mine-scan_scan5-selflabel-evaluate"]


def test_names_do_not_depend_on_declaration_order_or_other_pipelines() -> None:
    """Reordering or deleting pipelines leaves every other stage's name and output folder as it was."""
    real = __import__("yaml").safe_load((ROOT / "params.yaml").read_text())["pipelines"]
    full = build_graph({**params(real)})
    names = {p: chain(full, p) for p in real}
    folders = {p: [instance_dir("toy", 0, n) for n in names[p]] for p in real}
    rng = random.Random(0)
    for _ in range(5):
        kept = [p for p in real if rng.random() < 0.6] or ["scan"]
        rng.shuffle(kept)
        g = build_graph(params({p: real[p] for p in kept}))
        for p in kept:
            assert chain(g, p) == names[p], p
            assert [instance_dir("toy", 0, n) for n in chain(g, p)] == folders[p]


def test_a_prefix_pipeline_ends_at_a_shared_stage() -> None:
    g = graph({"scan": SCAN, "simclr": ["prepare", "pretext"]})
    assert g.instance("pretext").terminal_of == ["simclr"]


@pytest.mark.parametrize(("pipelines", "message"), [
    ({"scan": ["pretext", "embed"]}, "must start with prepare"),
    ({"scan": ["prepare", "nope"]}, "unknown stage kind"),
    ({"scan": ["prepare", "mine"]}, "stage 2 (mine) needs features"),
    ({"scan": ["prepare", "embed", "scan"]}, "needs neighbours"),
    ({"scan": SCAN, "twin": SCAN}, "pipelines.twin is the same as pipelines.scan"),
    ({"Scan": SCAN}, "lowercase"),
    ({"scan": {"stages": SCAN, "kmeans": {"niter": 3}}}, "pipelines.scan.kmeans"),
    ({"scan": {"steps": SCAN}}, "expected a list of stage kinds"),
])
def test_bad_declarations_say_where(pipelines: dict[str, Any], message: str) -> None:
    with pytest.raises(DeclarationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        graph(pipelines)


@pytest.mark.parametrize(("extra", "message"), [
    ({"seeds": [0, 0]}, "seeds must be a list of distinct"),
    ({"seeds": [-1]}, "seeds must be"),
    ({"main": {"dataset": "nope", "pipelines": ["scan"]}}, "main.dataset"),
    ({"main": {"dataset": "toy", "pipelines": ["nope"]}}, "main.pipelines"),
    ({"runs": [{"dataset": "toy", "pipelines": ["nope"]}]}, r"runs\[0\].pipelines"),
    ({"runs": [{"dataset": "nope", "pipelines": ["scan"]}]}, r"runs\[0\].dataset"),
    ({"runs": [{"dataset": "toy", "pipelines": ["scan"], "seeds": [1, 1]}]}, r"runs\[0\].seeds"),
    ({"bench": {"toy": {"pipelines": ["scan"], "seeds": "all"}}}, r"bench.toy.seeds"),
])
def test_bad_seeds_main_runs_or_bench(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(DeclarationError, match=message):
        graph({"scan": SCAN}, **extra)


def test_runs_asked_for_gather_main_bench_and_runs() -> None:
    g = graph({"scan": SCAN, "kmeans": KMEANS}, seeds=[3, 1],
              bench={"toy": {"pipelines": ["kmeans"], "seeds": [1, 2]}},
              runs=[{"dataset": "toy", "pipelines": ["scan"], "seeds": [2, 9]}])
    assert g.main.seeds == (3,)  # the reference seed
    assert g.asked() == {("toy", 3): ["scan"], ("toy", 1): ["kmeans"], ("toy", 2): ["kmeans", "scan"],
                         ("toy", 9): ["scan"]}
    assert g.live() == {("toy", 3): ["scan"], ("toy", 2): ["scan"], ("toy", 9): ["scan"]}
    files = render_all(g, ROOT)  # the checked-in graph: main and runs
    assert {p.relative_to(ROOT).as_posix() for p in files} == {
        "dvc.yaml", "pipelines/toy/dvc.yaml", *(f"pipelines/toy/seed{s}/dvc.yaml" for s in (3, 2, 9))}
    bench = render_bench_files(g, ROOT)  # the benchmark's, beside it: what the checked-in files lack
    assert {p.relative_to(ROOT).as_posix() for p in bench} == {
        "pipelines/bench/dvc.yaml", "pipelines/bench/toy/seed1/dvc.yaml", "pipelines/bench/toy/seed2/dvc.yaml"}
    seed1 = bench[ROOT / "pipelines/bench/toy/seed1/dvc.yaml"]
    assert "pretext-embed-kmeans:" in seed1 and "pretext-embed-mine:" not in seed1  # only what kmeans needs
    seed2 = bench[ROOT / "pipelines/bench/toy/seed2/dvc.yaml"]
    assert "pretext-embed-kmeans:" in seed2 and "\n  pretext:" not in seed2  # scan's run at seed 2 has pretext


def test_a_pipeline_declared_but_never_asked_for_adds_no_stage() -> None:
    few = render_all(graph({"scan": SCAN}), ROOT)
    more = render_all(graph({"scan": SCAN, "kmeans": KMEANS, "simclr": ["prepare", "pretext"]}), ROOT)
    assert few == more


def test_nproc_per_node_puts_torchrun_in_the_training_stage_commands() -> None:
    plain = graph({"scan": SCAN})
    g = graph({"scan": SCAN}, nproc_per_node={"pretext": 4, "scan": 1})
    assert g.nproc_per_node == {"pretext": 4}  # 1 is the default: nothing changes
    pretext, embed = g.instance("pretext"), g.instance("pretext-embed")
    assert stage_argv(pretext, g, "toy", 0)[0].startswith(
        "torchrun --standalone --nproc-per-node=4 -m stages.pretext --dataset toy --seed 0 --keys ")
    assert stage_argv(pretext, g, "toy", 0)[1:] == stage_argv(pretext, plain, "toy", 0)[1:]
    assert stage_argv(embed, g, "toy", 0) == stage_argv(embed, plain, "toy", 0)  # not a training stage
    assert stage_argv(pretext, plain, "toy", 0)[0].startswith("python -m stages.pretext ")
    rendered = render_all(g, ROOT)[ROOT / "pipelines/toy/seed0/dvc.yaml"]
    assert "gpus: 4" in rendered and "gpus: 1" in rendered  # scan stays on one process


@pytest.mark.parametrize("nproc", [{"embed": 2}, {"pretext": 0}, {"pretext": "2"}, [2]])
def test_bad_nproc_per_node(nproc: Any) -> None:
    with pytest.raises(DeclarationError, match="nproc_per_node"):
        graph({"scan": SCAN}, nproc_per_node=nproc)


def test_an_auto_k_data_set_gets_an_estimate_before_the_first_stage_that_needs_k() -> None:
    p = params({"scan": SCAN, "kmeans-pixels": ["prepare", "embed", "kmeans", "evaluate"]},
               runs=[{"dataset": "toy", "pipelines": ["scan", "kmeans-pixels"]}], estimate_k={"toy": {}})
    plain = build_graph(copy.deepcopy(p))
    p["datasets"]["toy"]["num_classes"] = "auto"
    g = build_graph(p)
    assert [i.name for i in g.instances] == [i.name for i in plain.instances]  # the paths do not change
    text = render_all(g, ROOT)[ROOT / "pipelines/toy/seed0/dvc.yaml"]
    stages = __import__("yaml").safe_load(text)["stages"]
    assert {"pretext-embed-estimate_k", "embed-estimate_k"} <= set(stages)
    scan = stages["pretext-embed-mine-scan"]
    assert "--k data/toy/seed0/pretext-embed-estimate_k/k.json" in scan["cmd"]
    assert "data/toy/seed0/pretext-embed-estimate_k/k.json" in scan["deps"]
    assert "--k data/toy/seed0/embed-estimate_k/k.json" in stages["embed-kmeans"]["cmd"]
    assert "--k " not in stages["pretext-embed-mine-scan-selflabel"]["cmd"]  # K comes with its model
    estimate = stages["pretext-embed-estimate_k"]
    assert "--features data/toy/seed0/pretext-embed/features.npz" in estimate["cmd"]
    assert estimate["params"] == ["estimate_k.toy", "datasets.toy.num_classes"]
    assert "datasets.toy.num_classes" in scan["params"]  # auto -> a number re-runs it
    plain_text = render_all(plain, ROOT)[ROOT / "pipelines/toy/seed0/dvc.yaml"]
    assert "estimate_k" not in plain_text


def test_a_stage_with_no_features_before_it_estimates_k_on_the_raw_input() -> None:
    p = params({"cc": ["prepare", "cc", "evaluate"]}, runs=[{"dataset": "toy", "pipelines": ["cc"]}],
               estimate_k={"toy": {}}, cc={"toy": {"backbone": "small_cnn", "epochs": 1, "batch_size": 8, "lr": 0.1,
                                                   "augment": {}}})
    p["datasets"]["toy"]["num_classes"] = {"auto": [2, 8]}
    stages = __import__("yaml").safe_load(render_all(build_graph(p), ROOT)[ROOT / "pipelines/toy/seed0/dvc.yaml"])
    assert list(stages["stages"])[:3] == ["embed", "embed-estimate_k", "cc"]
    assert "--k data/toy/seed0/embed-estimate_k/k.json" in stages["stages"]["cc"]["cmd"]


def test_a_pixel_scale_on_feature_rows_is_a_sync_time_error_naming_its_layer(tmp_path: Path) -> None:
    """DEC-keras's x / 255 (`ae_pretrain.input_scale`) cannot apply to an embed stage's feature rows; the stage
    used to stop on it only after the pretext's minutes. fit_problems says it before any run (the data set need
    not be prepared), and the pipeline's own `input_scale: null` clears it."""
    from pipelines import fit_problems

    ae = {"epochs": 1, "batch_size": 8, "lr": 0.1, "optimizer": "sgd", "input_scale": 0.00392}
    dec_on_features = ["prepare", "pretext", "embed", "ae_pretrain", "dec", "evaluate"]
    spec = params({"dec-on-simclr": dec_on_features, "dec": ["prepare", "ae_pretrain", "dec", "evaluate"]},
                  ae_pretrain={"toy": ae}, dec={"toy": {"batch_size": 8, "update_interval": 2, "max_iterations": 10}})
    spec["main"]["pipelines"] = ["dec-on-simclr", "dec"]
    found = fit_problems(build_graph(spec), tmp_path)
    assert found == ["ae_pretrain on toy: input_scale (from ae_pretrain.toy) is a pixel scale, but "
                     "pretext-embed-ae_pretrain reads feature rows; set pipelines.<pipeline>.ae_pretrain.input_scale: "
                     "null"]  # pixels-only `dec` keeps its scale
    spec["pipelines"]["dec-on-simclr"] = {"stages": dec_on_features, "ae_pretrain": {"input_scale": None}}
    assert fit_problems(build_graph(spec), tmp_path) == []
