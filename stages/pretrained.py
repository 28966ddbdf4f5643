"""pretrained: features of every sample from a pretrained network, at the input size and normalisation it expects."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from deepclust.engine import predict
from deepclust.errors import DeepclustError
from deepclust.io import atomic_path
from deepclust.models.pretrained import pretrained_backbone
from stages.common import entry, parser, start
from stages.kinds.pretrained import PretrainedParams
from stages.outputs import write_outputs


class ResizeNormalise:
    """uint8 (B, H, W, C) -> float (B, 3, S, S): grey to RGB, scaled to [0, 1], normalised, resized to S."""

    def __init__(self, size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        self.size = size
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float().div(255)
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = (x - self.mean.to(x.device)) / self.std.to(x.device)
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Writes features.npz (train_/test_backbone) from the pretrained network's pooled features."""
    job = start(PretrainedParams, parser(__doc__, "data", "out"), argv)
    p, data = job.params, job.data
    if data.train.images is None:
        raise DeepclustError(f"data set {job.args.dataset!r} is a feature table: a pretrained network reads images")
    backbone, report = pretrained_backbone(p.network, p.weights, checkpoint=p.checkpoint, prefix=p.prefix,
                                           frozen=True, download=p.download, input_size=p.input_size,
                                           mean=p.mean, std=p.std)
    transform = ResizeNormalise(backbone.input_size, backbone.mean, backbone.std)
    backbone.to(job.runtime.device)
    arrays = {}
    for split in ("train", "test"):
        images = torch.from_numpy(getattr(data, split).images)
        arrays[f"{split}_backbone"] = predict(backbone, images, transform, job.runtime, p.batch_size,
                                              f"pretrained {split}").numpy().astype(np.float32)
    with atomic_path(job.args.out / "features.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as the allow_pickle flag
    loaded = {} if report is None else {"prefix": report.prefix, "keys_loaded": report.loaded,
                                        "keys_dropped": len(report.dropped), "keys_ignored": report.ignored}
    write_outputs(job, {"network": p.network, "weights": p.weights, "checkpoint": p.checkpoint,
                        "input_size": backbone.input_size, "dim": backbone.output_dim, **loaded,
                        **{k: list(v.shape) for k, v in arrays.items()}})
    print(f"[pretrained] {job.args.dataset}: {p.network} ({p.weights or p.checkpoint}) at {backbone.input_size} px "
          "-> " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
