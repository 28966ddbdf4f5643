"""pretrained: features of every sample from a pretrained network (torchvision weights, or a state-dict file).

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`pretrained.<preset>` of params.yaml (stages/resolve.py). SCAN's ImageNet experiments start from MoCo v2
weights; the strongest published CIFAR-10 clusterings cluster DINO/CLIP features: this stage gives any pipeline
such a start, and its features feed `mine`, `kmeans`, `scan` (an MLP head on them), `estimate_k`.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from stages.kinds import DATA, Kind
from stages.params import StageParams


class PretrainedParams(StageParams, kind=Kind(
        "pretrained", "features of every sample from a pretrained network (torchvision weights or a state dict)",
        inputs=(DATA,), outputs=("features",), selection="pretrained network: as given (frozen)")):
    network: str = Field(description="A torchvision classification model name: resnet18, resnet50, vit_b_16, ... "
                         "(torchvision.models.list_models()).")
    weights: str | None = Field(
        None, description="Its weights enum member, e.g. IMAGENET1K_V2 (ResNet50_Weights): read from torchvision's "
        "cache (~/.cache/torch/hub/checkpoints); input size and normalisation come with it.")
    checkpoint: str | None = Field(
        None, description="Or a state-dict file (relative to the repository root): a plain state dict, a nested one "
        "(`state_dict`, `model`), MoCo v2's `module.encoder_q.` keys; the classifier/projection keys are dropped.")
    prefix: str | None = Field(None, description="The key prefix to load from `checkpoint` (found from the keys "
                               "when None, e.g. module.encoder_q.).")
    input_size: int = Field(224, ge=8, description="With `checkpoint`: the image side the weights expect (224).")
    mean: list[float] = Field([0.485, 0.456, 0.406], description="With `checkpoint`: the normalisation mean "
                              "(ImageNet's).")
    std: list[float] = Field([0.229, 0.224, 0.225], description="With `checkpoint`: the normalisation std.")
    download: bool = Field(False, description="Let torchvision download missing weights (off: a missing file is "
                           "a one-line error saying where to place it).")
    batch_size: int = Field(128, ge=1, description="Images per forward pass.")

    @model_validator(mode="after")
    def _one_source(self) -> PretrainedParams:
        if (self.weights is None) == (self.checkpoint is None):
            raise ValueError("give exactly one of weights (a torchvision weights name) or checkpoint (a file)")
        return self
