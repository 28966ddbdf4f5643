"""Pretrained backbones: state-dict files as MoCo / SimCLR / DDP save them, torchvision's cache, strict errors,
frozen vs fine-tuned, and the rebuild from a saved model. Every weights file is made here (no download)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from deepclust.errors import DeepclustError
from deepclust.models import HeadModel, SimCLRProjectionHead, build_backbone
from deepclust.models.io import load_contrastive, save_model
from deepclust.models.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TorchvisionBackbone,
    _rebuild_kwargs,
    cache_path,
    eval_transform,
    pretrained_backbone,
)

X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def _reference(head: nn.Module | None = None) -> nn.Module:
    """A randomly initialised torchvision ResNet-18 with non-default BatchNorm statistics."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18()
    if head is not None:
        net.fc = head
    net.train()
    with torch.no_grad():
        net(torch.randn(4, 3, 64, 64))
    return net


def _features(net: nn.Module) -> torch.Tensor:
    """The reference's pooled features: its classifier replaced by the identity, eval mode."""
    net.fc = nn.Identity()
    with torch.no_grad():
        return net.eval()(X)


def _moco_v2_checkpoint(path: Path) -> nn.Module:
    """What MoCo v2's main_moco.py saves: {epoch, arch, state_dict, optimizer}, the DDP-wrapped query encoder
    (with its 2-layer MLP fc) and key encoder under `module.`, plus the queue."""
    net = _reference(nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 128)))
    state = {f"module.encoder_q.{k}": v for k, v in net.state_dict().items()}
    state.update({f"module.encoder_k.{k}": v + 1 for k, v in net.state_dict().items()})
    state.update({"module.queue": torch.randn(128, 16), "module.queue_ptr": torch.zeros(1, dtype=torch.long)})
    torch.save({"epoch": 200, "arch": "resnet18", "state_dict": state, "optimizer": {"state": {}}}, path)
    return net


def test_moco_v2_checkpoint_loads_the_query_encoder(tmp_path: Path) -> None:
    reference = _moco_v2_checkpoint(tmp_path / "moco.pth.tar")
    backbone, report = pretrained_backbone("resnet18", checkpoint=tmp_path / "moco.pth.tar")
    assert report is not None
    assert (report.nesting, report.prefix) == ("state_dict", "module.encoder_q.")
    assert report.dropped == ["fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"]
    assert report.ignored == len(reference.state_dict()) + 2  # the key encoder and the queue
    assert backbone.output_dim == 512 and backbone.classifier == "fc"
    with torch.no_grad():
        assert torch.equal(backbone(X), _features(reference))


@pytest.mark.parametrize(("prefix", "nesting", "head"), [
    ("backbone.", "", {"projection_head.layers.0.weight": torch.zeros(4, 512)}),  # SimCLR-style (lightly)
    ("module.", "model", {"module.fc.weight": torch.zeros(1000, 512), "module.fc.bias": torch.zeros(1000)}),  # DDP
    ("", "", {"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}),  # torchvision's own layout
    ("encoder.", "state_dict", {"projector.0.weight": torch.zeros(8, 512), "prototypes.weight": torch.zeros(3, 8)}),
])
def test_prefixed_and_nested_layouts(tmp_path: Path, prefix: str, nesting: str, head: dict) -> None:
    reference = _reference()
    state = {f"{prefix}{k}": v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    state.update(head)
    torch.save({nesting: state} if nesting else state, tmp_path / "w.pt")
    backbone, report = pretrained_backbone("resnet18", checkpoint=tmp_path / "w.pt", frozen=False)
    assert report is not None and (report.prefix, report.nesting) == (prefix, nesting)
    # Head keys under the prefix are dropped, those outside it ignored; every other key loads.
    assert report.loaded == len(reference.state_dict()) - 2 and len(report.dropped) + report.ignored == len(head)
    with torch.no_grad():
        assert torch.equal(backbone.eval()(X), _features(reference))
    assert backbone.arch["checkpoint"]["prefix"] == prefix and backbone.arch["checkpoint"]["file"] == "w.pt"


def test_an_explicit_prefix_picks_one_of_two_encoders(tmp_path: Path) -> None:
    reference = _moco_v2_checkpoint(tmp_path / "moco.pth.tar")
    backbone, _ = pretrained_backbone("resnet18", checkpoint=tmp_path / "moco.pth.tar", prefix="module.encoder_k.")
    with torch.no_grad():
        expected = reference.layer1[0].conv1.weight + 1
        assert torch.equal(backbone.net.layer1[0].conv1.weight, expected)


def _edited_moco(path: Path, edit) -> None:
    _moco_v2_checkpoint(path)
    payload = torch.load(path, weights_only=True)
    edit(payload["state_dict"])
    torch.save(payload, path)


def _one_line_error(path: Path, match: str) -> None:
    with pytest.raises(DeepclustError, match=match) as info:
        pretrained_backbone("resnet18", checkpoint=path)
    assert "\n" not in str(info.value)


def test_an_unexpected_key_is_named(tmp_path: Path) -> None:
    def rename(state: dict) -> None:
        state["module.encoder_q.layer1.0.conv_one.weight"] = state.pop("module.encoder_q.layer1.0.conv1.weight")

    _edited_moco(tmp_path / "m.pt", rename)
    _one_line_error(tmp_path / "m.pt", r"unexpected key 'module\.encoder_q\.layer1\.0\.conv_one\.weight'")


def test_a_wrong_shape_is_named(tmp_path: Path) -> None:
    def reshape(state: dict) -> None:
        state["module.encoder_q.conv1.weight"] = torch.zeros(64, 3, 3, 3)  # a CIFAR stem, not ImageNet's 7x7

    _edited_moco(tmp_path / "m.pt", reshape)
    _one_line_error(tmp_path / "m.pt", r"wrong shape for 'module\.encoder_q\.conv1\.weight': \(64, 3, 3, 3\) in "
                                       r"the file, \(64, 3, 7, 7\) in the network")


def test_a_missing_key_is_named_but_a_missing_batch_counter_is_fine(tmp_path: Path) -> None:
    def drop_counters(state: dict) -> None:
        for key in [k for k in state if k.endswith("num_batches_tracked")]:
            del state[key]

    _edited_moco(tmp_path / "old.pt", drop_counters)
    pretrained_backbone("resnet18", checkpoint=tmp_path / "old.pt")
    _edited_moco(tmp_path / "m.pt", lambda state: state.pop("module.encoder_q.layer4.1.bn2.running_var"))
    _one_line_error(tmp_path / "m.pt", r"missing key 'module\.encoder_q\.layer4\.1\.bn2\.running_var' \(1 missing")


def test_another_network_and_unreadable_files(tmp_path: Path) -> None:
    torch.save({"blocks.0.attn.qkv.weight": torch.zeros(3, 3)}, tmp_path / "vit.pt")
    _one_line_error(tmp_path / "vit.pt", r"no key matches the network under any known prefix .*'blocks")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    _one_line_error(tmp_path / "junk.pt", "cannot read checkpoint")
    torch.save({"epoch": 3}, tmp_path / "empty.pt")
    _one_line_error(tmp_path / "empty.pt", "holds no state dict")
    _one_line_error(tmp_path / "absent.pt", "does not exist")


def test_torchvision_weights_are_read_from_torchs_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # torch.hub.get_dir() is $TORCH_HOME/hub
    enum = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    assert cache_path(enum) == tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(DeepclustError) as info:
        pretrained_backbone("resnet18", "IMAGENET1K_V1", download=False)
    message = str(info.value)
    assert "\n" not in message and enum.url in message and str(cache_path(enum)) in message
    reference = _reference()
    cache_path(enum).parent.mkdir(parents=True)
    torch.save(reference.state_dict(), cache_path(enum))  # what the download would have put there
    backbone, report = pretrained_backbone("resnet18", "IMAGENET1K_V1", download=False)
    assert report is None
    with torch.no_grad():
        assert torch.equal(backbone(X), _features(reference))
    assert backbone.arch == {"name": "torchvision", "network": "resnet18", "weights": "IMAGENET1K_V1",
                             "frozen": True, "input_size": 224, "resize_size": 256,
                             "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


def test_input_size_and_normalisation_come_from_the_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    enum = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    cache_path(enum).parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet50().state_dict(), cache_path(enum))
    backbone, _ = pretrained_backbone("resnet50", "IMAGENET1K_V2", download=False)
    assert (backbone.output_dim, backbone.input_size, backbone.resize_size) == (2048, 224, 232)
    assert backbone.mean == list(IMAGENET_MEAN) and backbone.std == list(IMAGENET_STD)


def test_unknown_names() -> None:
    with pytest.raises(DeepclustError, match="unknown torchvision network 'resnet5'"):
        pretrained_backbone("resnet5", "IMAGENET1K_V1")
    with pytest.raises(DeepclustError, match=r"unknown weights 'IMAGENET1K_V9' for resnet18; ResNet18_Weights has"):
        pretrained_backbone("resnet18", "IMAGENET1K_V9")
    with pytest.raises(DeepclustError, match="exactly one of"):
        pretrained_backbone("resnet18")
    with pytest.raises(DeepclustError, match="takes no option 'network'"):
        build_backbone("small_cnn", network="resnet18")


def test_frozen_stays_in_eval_mode_and_fine_tuned_trains(tmp_path: Path) -> None:
    _moco_v2_checkpoint(tmp_path / "moco.pth.tar")
    frozen, _ = pretrained_backbone("resnet18", checkpoint=tmp_path / "moco.pth.tar")
    before = frozen.net.bn1.running_mean.clone()
    frozen.train()
    frozen(torch.randn(4, 3, 32, 32))
    assert not frozen.training and not frozen.net.bn1.training
    assert torch.equal(frozen.net.bn1.running_mean, before)  # the statistics did not move
    assert not any(p.requires_grad for p in frozen.parameters())
    tuned, _ = pretrained_backbone("resnet18", checkpoint=tmp_path / "moco.pth.tar", frozen=False)
    tuned.train()
    assert tuned.net.bn1.training and all(p.requires_grad for p in tuned.parameters())
    tuned(torch.randn(4, 3, 32, 32)).sum().backward()
    assert tuned.net.conv1.weight.grad is not None


def test_grayscale_batches_are_repeated_to_rgb(tmp_path: Path) -> None:
    _moco_v2_checkpoint(tmp_path / "moco.pth.tar")
    backbone, _ = pretrained_backbone("resnet18", checkpoint=tmp_path / "moco.pth.tar")
    gray = torch.randn(2, 1, 40, 40)
    with torch.no_grad():
        assert torch.equal(backbone(gray), backbone(gray.expand(-1, 3, -1, -1)))


def test_the_eval_transform_feeds_the_backbone_what_its_weights_expect(tmp_path: Path) -> None:
    _moco_v2_checkpoint(tmp_path / "moco.pth.tar")
    backbone, _ = pretrained_backbone("resnet18", checkpoint=tmp_path / "moco.pth.tar", input_size=64)
    images = torch.randint(0, 256, (2, 28, 28, 1), dtype=torch.uint8)  # MNIST-like
    x = eval_transform(backbone)(images)
    assert x.shape == (2, 3, 64, 64)
    with torch.no_grad():
        assert backbone(x).shape == (2, 512)


def test_a_saved_model_rebuilds_without_the_weights_file(tmp_path: Path) -> None:
    _moco_v2_checkpoint(tmp_path / "moco.pth.tar")
    backbone, _ = pretrained_backbone("resnet18", checkpoint=tmp_path / "moco.pth.tar", input_size=112,
                                      mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    model = HeadModel(backbone, SimCLRProjectionHead(backbone.output_dim, 32, 16))
    save_model(tmp_path / "model.pt", model)
    (tmp_path / "moco.pth.tar").unlink()  # a consumer elsewhere has only the saved model
    loaded, arch = load_contrastive(tmp_path / "model.pt")
    assert isinstance(loaded.backbone, TorchvisionBackbone)
    assert arch["backbone"]["checkpoint"]["file"] == "moco.pth.tar" and arch["backbone"]["input_size"] == 112
    assert (loaded.backbone.input_size, loaded.backbone.mean, loaded.backbone.frozen) == (112, [0.5] * 3, True)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(X), model.eval()(X))


def test_rebuild_arguments_follow_the_weights() -> None:
    assert _rebuild_kwargs("resnet50", "IMAGENET1K_V2") == {}
    assert _rebuild_kwargs("vit_b_16", "IMAGENET1K_SWAG_E2E_V1") == {"image_size": 384}
    assert _rebuild_kwargs("inception_v3", "IMAGENET1K_V1") == {
        "aux_logits": False, "init_weights": False, "transform_input": True}
