"""Pipelines as data: the declaration expands into shared stage instances, wired by artifact type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.graph import DeclarationError, build_graph
from pipelines.render import render_seed_file, stage_argv

SCAN = ["prepare", "pretext", "embed", "mine", "scan", "selflabel", "evaluate"]


KINDS = ("pretext", "embed", "mine", "scan", "selflabel", "kmeans", "evaluate")


def graph(pipelines: dict[str, Any], **extra: Any):
    main = {"dataset": "toy", "pipelines": [next(iter(pipelines))]}
    params = {"datasets": {"toy": {"preset": "toy"}}, "pipelines": pipelines, "main": main,
              **{kind: {"toy": {}} for kind in KINDS}}
    return build_graph({**params, **extra})


def chain(g, pipeline: str) -> list[str]:
    end = g.terminal(pipeline)
    return [*end.upstream, end.name]


def test_scan_and_kmeans_share_prepare_pretext_embed() -> None:
    g = graph({"scan": SCAN, "kmeans": ["prepare", "pretext", "embed", "kmeans", "evaluate"]})
    assert chain(g, "scan") == ["prepare", "pretext-scan", "embed-scan", "mine-scan", "scan", "selflabel-scan",
                                "evaluate-scan"]
    assert chain(g, "kmeans") == ["prepare", "pretext-scan", "embed-scan", "kmeans", "evaluate-kmeans"]
    names = [i.name for i in g.instances]
    assert len(names) == len(set(names)) == 9  # 7 + kmeans + its evaluate: nothing runs twice
    assert g.instance("pretext-scan").used_by == ["scan", "kmeans"]
    assert g.instance("evaluate-kmeans").terminal_of == ["kmeans"]


def test_inputs_wire_to_nearest_producer_of_their_artifact() -> None:
    g = graph({"scan": SCAN, "feat": {"stages": ["prepare", "embed", "mine", "scan", "selflabel", "evaluate"],
                                      "scan": {"head": "mlp"}}})
    wires = {w.flag: w.sources for w in g.instance("scan").wires}
    assert wires == {"--data": ("prepare",), "--model": ("pretext-scan",), "--neighbours": ("mine-scan",)}
    assert {w.flag: w.sources for w in g.instance("selflabel-scan").wires} == {
        "--data": ("prepare",), "--model": ("scan",), "--neighbours": ("mine-scan",)}  # a backbone: no --features
    feat = {w.flag: w.sources for w in g.instance("scan-feat").wires}
    assert feat == {"--data": ("prepare",), "--features": ("embed-feat",), "--neighbours": ("mine-feat",)}
    assert g.instance("scan-feat").override and not g.instance("scan").override
    assert {w.flag: w.sources for w in g.instance("evaluate-scan").wires}["--predictions"] == ("scan", "selflabel-scan")


def test_overrides_make_a_separate_instance_from_that_stage_on() -> None:
    g = graph({"scan": SCAN, "scan5": {"stages": SCAN, "scan": {"entropy_weight": 2.0}}})
    assert chain(g, "scan5")[:4] == chain(g, "scan")[:4]  # prepare .. mine shared
    assert chain(g, "scan5")[4:] == ["scan-scan5", "selflabel-scan5", "evaluate-scan5"]


def test_appending_a_pipeline_renames_nothing() -> None:
    before = {i.name for i in graph({"scan": SCAN}).instances}
    after = {i.name for i in graph({"scan": SCAN, "kmeans": ["prepare", "pretext", "embed", "kmeans"]}).instances}
    assert before < after


def test_a_prefix_pipeline_ends_at_a_shared_stage() -> None:
    g = graph({"scan": SCAN, "simclr": ["prepare", "pretext"]})
    assert g.instance("pretext-scan").terminal_of == ["simclr"]


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
])
def test_bad_seeds_or_main(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(DeclarationError, match=message):
        graph({"scan": SCAN}, **extra)


def test_seeds_default_and_order() -> None:
    assert graph({"scan": SCAN}).seeds == (0,)
    assert graph({"scan": SCAN}, seeds=[3, 1]).seeds == (3, 1)


@pytest.mark.parametrize(("dataset", "message"), [
    ({"num_classes": 3}, "datasets.mine.preset is missing"),
    ({"preset": "nope"}, "data set 'mine' uses preset 'nope', which has no block in embed.nope"),
])
def test_every_data_set_names_a_complete_preset(dataset: dict[str, Any], message: str) -> None:
    datasets = {"toy": {"preset": "toy"}, "mine": dataset}
    with pytest.raises(DeclarationError, match=message):
        graph({"scan": SCAN}, datasets=datasets)


def test_nproc_per_node_puts_torchrun_in_the_training_stage_commands() -> None:
    plain = graph({"scan": SCAN})
    g = graph({"scan": SCAN}, nproc_per_node={"pretext": 4, "scan": 1})
    assert g.nproc_per_node == {"pretext": 4}  # 1 is the default: nothing changes
    pretext, embed = (next(i for i in g.instances if i.kind == kind) for kind in ("pretext", "embed"))
    assert stage_argv(pretext, g, "toy", 0)[0] == \
        "torchrun --standalone --nproc-per-node=4 -m stages.pretext --dataset toy --seed 0"
    assert stage_argv(pretext, g, "toy", 0)[1:] == stage_argv(pretext, plain, "toy", 0)[1:]
    assert stage_argv(embed, g, "toy", 0) == stage_argv(embed, plain, "toy", 0)  # not a training stage
    assert stage_argv(pretext, plain, "toy", 0)[0].startswith("python -m stages.pretext ")
    rendered = render_seed_file(g, Path(__file__).resolve().parents[2], 0, True)
    assert "gpus: 4" in rendered and "gpus: 1" in rendered  # scan stays on one process


@pytest.mark.parametrize("nproc", [{"embed": 2}, {"pretext": 0}, {"pretext": "2"}, [2]])
def test_bad_nproc_per_node(nproc: Any) -> None:
    with pytest.raises(DeclarationError, match="nproc_per_node"):
        graph({"scan": SCAN}, nproc_per_node=nproc)
