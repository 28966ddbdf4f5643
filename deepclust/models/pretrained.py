"""Pretrained backbones: a torchvision network by name with its weights enum, or with weights from a file.

Two ways to the weights, one backbone:

- `pretrained_backbone("resnet50", weights="IMAGENET1K_V2")`: torchvision's own loader, which reads
  `<torch.hub.get_dir()>/checkpoints/<file>` (`$TORCH_HOME/hub/checkpoints`, `~/.cache/torch/hub/checkpoints` by
  default) and downloads there when the file is missing and `download` is allowed. Without it, a one-line
  `DeepclustError` names the URL and the path to place the file at.
- `pretrained_backbone("resnet50", checkpoint="moco_v2_800ep_pretrain.pth.tar")`: a state-dict file, bare or
  nested (`{"state_dict": ...}` as MoCo and most training scripts save it), with its keys under a prefix
  (MoCo v2's `module.encoder_q.`, DDP's `module.`, SimCLR-style `backbone.`; found by matching the network's
  keys, or given). The classifier and projection keys (`fc.*`, MoCo v2's MLP `fc.0`/`fc.2`, `head.*`,
  `projector.*`, ...) are dropped and keys outside the prefix (MoCo's key encoder and queue) ignored; the
  rest must match exactly: an unexpected key, a missing key or a wrong shape is a one-line error naming the
  first one. SCAN's ImageNet experiments start from MoCo v2's `module.encoder_q.` weights this way.

The backbone is the network with its classifier (its last `nn.Linear`) replaced by the identity, so it maps
images (B, 3, H, W), normalised with `mean`/`std`, to pooled features (B, `output_dim`); a 1-channel batch is
repeated to 3 channels. It records `input_size` (the crop side the weights were trained at), `resize_size`,
`mean` and `std`, and its `arch` rebuilds it without any weights file (`build_backbone(**arch)`), so a model
saved with `deepclust.models.io.save_model` loads anywhere. Frozen (the default), its parameters take no
gradient and it stays in eval mode (BatchNorm statistics and dropout fixed) even under `train()`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from deepclust.errors import DeepclustError
from deepclust.transforms.eval_transform import EvalTransform

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Where training scripts nest the weights in a checkpoint, in the order they are tried.
NESTING_KEYS = ("state_dict", "model", "teacher", "model_state_dict", "net", "network")
# Prefixes tried when none is given: the one under which most keys match the network wins (ties: first).
KNOWN_PREFIXES = (
    "module.encoder_q.", "encoder_q.", "module.backbone.", "backbone.", "module.encoder.", "encoder.",
    "module.model.", "model.", "module.", "",
)
# First name components of classifier and projection-head keys, dropped when the network has no such key.
HEAD_NAMES = ("fc", "head", "heads", "classifier", "projector", "projection", "projection_head",
              "contrastive_head", "prototypes", "AuxLogits", "aux1", "aux2")


@dataclass(frozen=True)
class LoadReport:
    """How a state-dict file was matched to the network.

    Attributes:
        nesting: The key the weights sat under ("" for a bare state dict).
        prefix: The prefix stripped from every loaded key.
        loaded: Number of keys loaded.
        dropped: Classifier / projection keys under the prefix that were dropped.
        ignored: Number of keys outside the prefix (e.g. MoCo's `module.encoder_k.*` and `module.queue`).
    """

    nesting: str
    prefix: str
    loaded: int
    dropped: list[str] = field(default_factory=list)
    ignored: int = 0


class TorchvisionBackbone(nn.Module):
    """A torchvision classification network without its classifier: images to pooled features.

    Build it with `pretrained_backbone` (weights) or `build_backbone("torchvision", network=...)` (rebuild).

    Args:
        network: A torchvision classification model name (`torchvision.models.list_models()`), e.g. "resnet50".
        net: The network, classifier still in place (its last `nn.Linear` is replaced by the identity).
        frozen: No gradient for any parameter, and eval mode always.
        input_size: Side of the square crop the weights expect (224 for ImageNet ResNets).
        resize_size: Side the image is resized to before that crop in the weights' evaluation transform.
        mean: Per-channel means of the normalisation the weights expect (RGB).
        std: Per-channel standard deviations, like `mean`.

    Raises:
        DeepclustError: If the network has no `nn.Linear` classifier.
    """

    def __init__(self, network: str, net: nn.Module, *, frozen: bool, input_size: int, resize_size: int,
                 mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        linears = [name for name, module in net.named_modules() if isinstance(module, nn.Linear)]
        if not linears:
            raise DeepclustError(f"torchvision network {network!r} has no Linear classifier to remove")
        self.classifier = linears[-1]
        classifier = net.get_submodule(self.classifier)
        assert isinstance(classifier, nn.Linear)
        self.output_dim = int(classifier.in_features)
        parent, _, leaf = self.classifier.rpartition(".")
        setattr(net.get_submodule(parent), leaf, nn.Identity())
        self.net = net
        self.network = network
        self.frozen = bool(frozen)
        self.in_channels = 3
        self.input_size, self.resize_size = int(input_size), int(resize_size)
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]
        if self.frozen:
            self.requires_grad_(False)
            super().train(False)

    def train(self, mode: bool = True) -> TorchvisionBackbone:
        """Sets training mode; a frozen backbone stays in eval mode (its BatchNorm statistics do not move)."""
        return super().train(mode and not self.frozen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features of a normalised batch. Shape: (B, 3 or 1, H, W) -> (B, output_dim)."""
        if x.shape[1] == 1:  # grayscale: the network was trained on RGB
            x = x.expand(-1, 3, -1, -1)
        return self.net(x)


def pretrained_backbone(
    network: str,
    weights: str | None = None,
    *,
    checkpoint: str | Path | None = None,
    prefix: str | None = None,
    frozen: bool = True,
    download: bool = True,
    input_size: int = 224,
    resize_size: int = 256,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> tuple[TorchvisionBackbone, LoadReport | None]:
    """Builds a torchvision backbone with pretrained weights, from torchvision's cache or a state-dict file.

    Args:
        network: A torchvision classification model name, e.g. "resnet50".
        weights: A member of the network's weights enum, e.g. "IMAGENET1K_V2" (`ResNet50_Weights`); its input
            size and normalisation are taken from the enum. Exclusive with `checkpoint`.
        checkpoint: A state-dict file (see the module docstring). Exclusive with `weights`.
        prefix: The key prefix in `checkpoint` to load ("module.encoder_q."); found from the keys when None.
        frozen: Freeze the backbone (feature extraction) instead of fine-tuning it.
        download: With `weights`, let torchvision download a file missing from its cache. False fails with a
            one-line error saying which file to place where.
        input_size: With `checkpoint`: the crop side the weights were trained at.
        resize_size: With `checkpoint`: the resize side before that crop.
        mean: With `checkpoint`: the normalisation means the weights were trained with.
        std: With `checkpoint`: the normalisation standard deviations.

    Returns:
        The backbone and, for a `checkpoint`, how its keys were matched (None for `weights`).

    Raises:
        DeepclustError: Unknown network or weights, both or neither of weights/checkpoint, weights not cached
            (and no download), an unreadable file, or keys / shapes that do not match the network.
    """
    if (weights is None) == (checkpoint is None):
        raise DeepclustError("pass exactly one of weights (a torchvision weights enum name) or checkpoint (a file)")
    builder = _builder(network)
    if weights is not None:
        enum = _weights_enum(network, weights)
        _require_cached(enum, download)
        try:
            net = builder(weights=enum, progress=False)
        except (OSError, RuntimeError) as exc:  # a failed download (URLError is an OSError) or a bad file
            raise DeepclustError(f"{_not_cached(enum)} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
                                 ) from None
        return _backbone(network, net, frozen, enum.name), None
    assert checkpoint is not None
    path = Path(checkpoint)
    net = builder(weights=None, **_rebuild_kwargs(network, None))
    backbone = TorchvisionBackbone(network, net, frozen=frozen, input_size=input_size, resize_size=resize_size,
                                   mean=mean, std=std)
    report = load_state_dict_file(backbone.net, path, prefix=prefix, classifier=backbone.classifier)
    _set_arch(backbone, None, {"file": path.name, "sha256": _digest(path)[:16], "prefix": report.prefix})
    return backbone, report


def eval_transform(backbone: TorchvisionBackbone) -> EvalTransform:
    """The evaluation transform the backbone's weights expect: resize to `input_size`, RGB, its mean and std.

    Example:
        >>> features = predict(backbone, images, eval_transform(backbone), runtime)
    """
    return EvalTransform(backbone.mean, backbone.std, size=backbone.input_size, rgb=True)


def rebuild_torchvision_backbone(network: str, *, weights: str | None = None, frozen: bool = True,
                                 input_size: int = 224, resize_size: int = 256,
                                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                                 checkpoint: Mapping[str, Any] | None = None) -> TorchvisionBackbone:
    """The architecture of a `pretrained_backbone` from its `arch` record, randomly initialised.

    No weights are read: the caller loads the saved state dict (`deepclust.models.io.load_model` does).
    `weights` selects the builder arguments those weights need (a ViT's image size); `checkpoint` is
    provenance only and is kept in the new `arch`.

    Raises:
        DeepclustError: Unknown network or weights.
    """
    net = _builder(network)(weights=None, **_rebuild_kwargs(network, weights))
    backbone = TorchvisionBackbone(network, net, frozen=frozen, input_size=input_size, resize_size=resize_size,
                                   mean=mean, std=std)
    _set_arch(backbone, weights, checkpoint)
    return backbone


def load_state_dict_file(net: nn.Module, path: str | Path, *, prefix: str | None = None,
                         classifier: str = "") -> LoadReport:
    """Loads a (possibly nested and prefixed) state-dict file into `net`, strictly, and says how.

    Args:
        net: The module to fill (a network whose classifier may already be removed).
        path: The file (`torch.load` with `weights_only=True`).
        prefix: The prefix to strip; the best-matching of `KNOWN_PREFIXES` when None.
        classifier: The removed classifier's module name; its keys are dropped like `HEAD_NAMES`.

    Returns:
        The nesting key, the prefix and the counts of loaded, dropped and ignored keys.

    Raises:
        DeepclustError: Unreadable file, no tensors, no matching key, or the first unexpected key, missing key
            or wrong shape.
    """
    nesting, state = _read_state(Path(path))
    target = net.state_dict()
    prefix = _best_prefix(state, target, path) if prefix is None else prefix
    under = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not under:
        raise DeepclustError(f"{path}: no key starts with prefix {prefix!r} (first key: {next(iter(state))!r})")
    heads = (*HEAD_NAMES, *([classifier] if classifier else []))
    dropped = [k for k in under if k not in target and (k.split(".")[0] in heads or k.startswith(f"{classifier}."))]
    kept = {k: v for k, v in under.items() if k not in dropped}
    for key, value in kept.items():
        if key not in target:
            raise DeepclustError(f"{path}: unexpected key {prefix + key!r}: {type(net).__name__} has no {key!r}")
        if tuple(value.shape) != tuple(target[key].shape):
            raise DeepclustError(f"{path}: wrong shape for {prefix + key!r}: {tuple(value.shape)} in the file, "
                                 f"{tuple(target[key].shape)} in the network")
    # Old checkpoints lack BatchNorm's step counter, which no forward pass reads.
    missing = [k for k in target if k not in kept and not k.endswith("num_batches_tracked")]
    if missing:
        raise DeepclustError(f"{path}: missing key {prefix + missing[0]!r} ({len(missing)} missing under "
                             f"prefix {prefix!r})")
    net.load_state_dict(kept, strict=False)
    return LoadReport(nesting, prefix, len(kept), dropped, len(state) - len(under))


def _builder(network: str) -> Any:
    try:
        return torchvision.models.get_model_builder(network)
    except ValueError:
        raise DeepclustError(f"unknown torchvision network {network!r}; expected one of "
                             f"torchvision.models.list_models(), e.g. resnet18, resnet50, vit_b_16") from None


def _weights_enum(network: str, weights: str) -> Any:
    enum_class = torchvision.models.get_model_weights(network)
    if weights not in enum_class.__members__:
        raise DeepclustError(f"unknown weights {weights!r} for {network}; {enum_class.__name__} has "
                             f"{sorted(enum_class.__members__)}")
    return enum_class[weights]


def cache_path(enum: Any) -> Path:
    """Where torchvision's loader looks for a weights enum's file: `<torch.hub.get_dir()>/checkpoints/<file>`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(enum.url).path).name


def _not_cached(enum: Any) -> str:
    return (f"torchvision weights {type(enum).__name__}.{enum.name} are not in torch's cache: download "
            f"{enum.url} on a machine with internet and place it at {cache_path(enum)} (TORCH_HOME moves the cache)")


def _require_cached(enum: Any, download: bool) -> None:
    if not download and not cache_path(enum).is_file():
        raise DeepclustError(_not_cached(enum))


def _rebuild_kwargs(network: str, weights: str | None) -> dict[str, Any]:
    """Builder arguments that give the architecture the weights were loaded into, without loading them."""
    kwargs: dict[str, Any] = {}
    if network in ("googlenet", "inception_v3"):
        # With weights, torchvision builds them with input transform on and drops the auxiliary heads after
        # loading; init_weights=False skips a slow truncated-normal initialisation that the load overwrites.
        kwargs.update(aux_logits=False, init_weights=False, transform_input=weights is not None)
    if weights is not None:
        meta = _weights_enum(network, weights).meta
        if network.startswith("vit_"):
            kwargs["image_size"] = int(meta["min_size"][0])
    return kwargs


def _backbone(network: str, net: nn.Module, frozen: bool, weights: str) -> TorchvisionBackbone:
    """The backbone around a network loaded with `weights`, with the input size and normalisation they expect."""
    transforms = _weights_enum(network, weights).transforms()
    backbone = TorchvisionBackbone(network, net, frozen=frozen, input_size=int(transforms.crop_size[0]),
                                   resize_size=int(transforms.resize_size[0]), mean=transforms.mean,
                                   std=transforms.std)
    _set_arch(backbone, weights)
    return backbone


def _set_arch(backbone: TorchvisionBackbone, weights: str | None,
              checkpoint: Mapping[str, Any] | None = None) -> None:
    """Records what rebuilds the backbone; `checkpoint` (file, digest, prefix) is provenance only."""
    arch: dict[str, Any] = {
        "name": "torchvision", "network": backbone.network, "weights": weights, "frozen": backbone.frozen,
        "input_size": backbone.input_size, "resize_size": backbone.resize_size,
        "mean": list(backbone.mean), "std": list(backbone.std)}
    if checkpoint is not None:
        arch["checkpoint"] = dict(checkpoint)
    setattr(backbone, "arch", arch)  # noqa: B010 - a plain attribute; nn.Module's typing would call it a Module


def _read_state(path: Path) -> tuple[str, dict[str, torch.Tensor]]:
    """The file's tensors by key, from the top level or the first of `NESTING_KEYS` that holds them."""
    if not path.is_file():
        raise DeepclustError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated file, a pickle weights_only refuses, not a torch file at all
        raise DeepclustError(f"cannot read checkpoint {path}: {type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:200]}") from None
    nesting = ""
    if isinstance(payload, Mapping) and not any(isinstance(v, torch.Tensor) for v in payload.values()):
        nesting = next((k for k in NESTING_KEYS if isinstance(payload.get(k), Mapping)), "")
        payload = payload[nesting] if nesting else payload
    state = {str(k): v for k, v in payload.items() if isinstance(v, torch.Tensor)} if isinstance(
        payload, Mapping) else {}
    if not state:
        raise DeepclustError(f"{path} holds no state dict (looked at the top level and under {list(NESTING_KEYS)})")
    return nesting, state


def _best_prefix(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], path: str | Path) -> str:
    counts = [(sum(k.startswith(p) and k[len(p):] in target for k in state), p) for p in KNOWN_PREFIXES]
    best = max(counts, key=lambda c: c[0])  # max keeps the first of equal counts: the more specific prefix
    if best[0] == 0:
        raise DeepclustError(f"{path}: no key matches the network under any known prefix (first key: "
                             f"{next(iter(state))!r}); pass prefix=")
    return best[1]


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()
