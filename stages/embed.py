"""embed: features of every sample: the backbone's (and its projection head's), or the input itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch

from deepclust.engine import predict
from deepclust.io import atomic_path
from deepclust.models import SimCLRProjectionHead
from deepclust.models.io import load_backbone
from stages.common import entry, parser, start
from stages.inputs import is_identity, model_inputs
from stages.kinds.embed import EmbedParams
from stages.outputs import write_outputs


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Writes features.npz: train_/test_ x backbone (and head, when the model has a projection head)."""
    job = start(EmbedParams, parser(__doc__, "data", "out", optional=("model",)), argv)
    data, arrays = job.data, cast(dict[str, Any], {})
    if job.args.model is None:  # no network upstream: the input is the representation
        for split in ("train", "test"):
            s = getattr(data, split)
            rows = s.features if s.images is None else s.images.reshape(len(s.images), -1) / np.float32(255)
            arrays[f"{split}_backbone"] = np.ascontiguousarray(rows, dtype=np.float32)
        source = "input"
    else:
        model = load_backbone(job.args.model)
        backbone = cast(torch.nn.Module, model.backbone)
        inputs = model_inputs(job, is_identity(backbone))
        inputs.input_scale = getattr(backbone, "arch", {}).get("input_scale")  # DEC's encoder: its pixel scale
        transform = inputs.eval_transform(job) if inputs.images else (lambda x, g=None: x.float())
        model.to(job.runtime.device)
        projection = model.head.cpu().eval() if isinstance(model.head, SimCLRProjectionHead) else None
        for split in ("train", "test"):
            x = getattr(inputs, split)
            features = predict(backbone, x, transform, job.runtime, job.params.batch_size, f"embed {split}")
            arrays[f"{split}_backbone"] = features.numpy().astype(np.float32)
            if projection is not None:  # (N, 512) -> (N, 128) is cheap; keep it off the device
                with torch.no_grad():
                    arrays[f"{split}_head"] = projection(features).numpy().astype(np.float32)
        source = "model"
    with atomic_path(job.args.out / "features.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    write_outputs(job, {"source": source, **{k: list(v.shape) for k, v in arrays.items()}})
    print(f"[embed] {job.args.dataset}: " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
