"""Batched inference over in-memory uint8 images, without augmentation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from deepclust.engine.runtime import Runtime


@torch.no_grad()
def predict(model: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray | torch.Tensor,
            transform: Callable[..., torch.Tensor], runtime: Runtime, batch_size: int = 512,
            desc: str = "predict") -> torch.Tensor:
    """Runs `model(transform(batch))` over `images` in eval mode and returns the outputs on the CPU in fp32.

    Args:
        model: Module (or callable) mapping a float batch to outputs; put in eval mode when it is a Module.
        images: uint8 images. Shape: (N, H, W, C).
        transform: Deterministic batch transform (e.g. `EvalTransform`).
        runtime: Device and autocast.
        batch_size: Images per forward pass.

    Returns:
        Outputs concatenated along the sample axis (dim 0, or dim 1 for multi-head logits of shape (H, B, C)).
    """
    if isinstance(model, nn.Module):
        model.eval()
    data = torch.as_tensor(images)
    outs = []
    steps = range(0, len(data), batch_size)
    for i in tqdm(steps, desc=desc, leave=False, disable=len(steps) < 20 or not runtime.is_main):
        x = transform(data[i:i + batch_size].to(runtime.device), None)
        with runtime.autocast():
            outs.append(model(x).float().cpu())
    dim = 1 if outs and outs[0].dim() == 3 else 0
    return torch.cat(outs, dim=dim)
