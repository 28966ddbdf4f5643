"""Where a cifar10-parquet pretext step's time goes: torch.profiler over 20 SimCLR steps of 256 images, for the
earlier preset's backbone (small_cnn width 16) and the current one (small_cnn_s2 width 32).

Needs the prepared data: `python -m stages.prepare --dataset cifar10-parquet --raw-dir data/raw
--out data/cifar10-parquet/prepared`. Run: `python scripts/profile_pretext_step.py` (docs/speed.md).
"""

import collections
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deepclust.methods import SimCLR  # noqa: E402
from deepclust.models import build_backbone  # noqa: E402
from deepclust.transforms import SimCLRTransform  # noqa: E402

PHASES = ("augment", "forward", "backward", "optimizer")


def profile_backbone(images: torch.Tensor, name: str, width: int) -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    transform = SimCLRTransform(mean=[0.4914, 0.4822, 0.4465], std=[0.2023, 0.1994, 0.2010])
    method = SimCLR(build_backbone(name, 3, width), transform, temperature=0.5, symmetric=True)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1, momentum=0.9)

    def step() -> None:
        idx = torch.randint(0, len(images), (256,), generator=generator)
        with record_function("augment"):
            view0, view1 = transform(images[idx], generator)
        with record_function("forward"):
            z0, z1 = method.model(torch.cat([view0, view1])).chunk(2)
            loss = method.criterion(z0, z1)
        with record_function("backward"):
            optimizer.zero_grad()
            loss.backward()
        with record_function("optimizer"):
            optimizer.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(20):
            step()
    seconds = time.perf_counter() - start
    events = prof.key_averages()
    phases = {e.key: e.cpu_time_total for e in events if e.key in PHASES}
    total = sum(phases.values())
    ops = collections.Counter({e.key: e.self_cpu_time_total for e in events if e.key not in PHASES})
    op_total = sum(ops.values())
    print(f"{name} width {width}: {20 * 256 / seconds:.0f} images/s under the profiler; "
          + ", ".join(f"{k} {phases.get(k, 0) / total:.0%}" for k in PHASES))
    print("  top self time: " + ", ".join(f"{k} {v / op_total:.0%}" for k, v in ops.most_common(6)))


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    images = torch.from_numpy(np.load("data/cifar10-parquet/prepared/train.npz")["images"][:10000])
    for name, width in (("small_cnn", 16), ("small_cnn_s2", 32)):
        profile_backbone(images, name, width)


if __name__ == "__main__":
    main()
