"""The GPU speed options (channels_last, torch.compile) and how they are picked, with their logic run on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from deepclust.engine import EpochBatches, Runtime, cosine_schedule, fit, random_order
from deepclust.engine import runtime as runtime_module
from deepclust.engine.runtime import _outermost_backbones, autocast_dtype, speed_options
from deepclust.errors import DeepclustError
from deepclust.methods import SimCLR
from deepclust.models import build_backbone
from deepclust.models.autoencoder import AutoEncoder
from deepclust.transforms import SimCLRTransform

IMAGES = torch.randint(0, 256, (32, 12, 12, 1), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize(("device", "env", "expected"), [
    ("cuda", {}, (True, None)),
    ("cpu", {}, (False, None)),
    ("cuda", {"DEEPCLUST_CHANNELS_LAST": "0"}, (False, None)),
    ("cpu", {"DEEPCLUST_CHANNELS_LAST": "1", "DEEPCLUST_COMPILE": "inductor"}, (True, "inductor")),
    ("cuda", {"DEEPCLUST_COMPILE": " eager "}, (True, "eager")),
])
def test_speed_options_defaults_and_overrides(device: str, env: dict[str, str], expected: tuple) -> None:
    assert speed_options(device, env) == expected


@pytest.mark.parametrize(("env", "match"), [
    ({"DEEPCLUST_CHANNELS_LAST": "yes"}, "DEEPCLUST_CHANNELS_LAST"),
    ({"DEEPCLUST_COMPILE": "fast"}, "DEEPCLUST_COMPILE"),
])
def test_bad_speed_option_is_a_clear_error(env: dict[str, str], match: str) -> None:
    with pytest.raises(DeepclustError, match=match):
        speed_options("cuda", env)


@pytest.mark.parametrize(("device", "env", "native", "expected"), [
    ("cuda", {}, False, torch.bfloat16),
    ("cpu", {}, True, None),                        # the CPU presets stay fp32 unless asked
    ("cuda", {"DEEPCLUST_AMP": "fp32"}, False, None),
    ("cpu", {"DEEPCLUST_AMP": " BF16 "}, True, torch.bfloat16),
    ("cpu", {"DEEPCLUST_AMP": "fp32"}, True, None),
])
def test_autocast_dtype_defaults_and_overrides(device: str, env: dict[str, str], native: bool, expected: object,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Whether this CPU has native bf16 is the machine's; the choice made from it is what the code controls.
    monkeypatch.setattr(runtime_module, "cpu_has_native_bf16", lambda: native)
    assert autocast_dtype(device, env) == expected


@pytest.mark.parametrize(("env", "native", "match"), [
    ({"DEEPCLUST_AMP": "fp16"}, True, "must be bf16 or fp32"),
    ({"DEEPCLUST_AMP": "bf16"}, False, "no native bf16"),  # emulated bf16 is slower than fp32: refuse, say why
])
def test_bad_autocast_option_is_a_clear_error(env: dict[str, str], native: bool, match: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "cpu_has_native_bf16", lambda: native)
    with pytest.raises(DeepclustError, match=match):
        autocast_dtype("cpu", env)


def test_runtime_auto_turns_cpu_bf16_on_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setenv("DEEPCLUST_AMP", "bf16")
    assert Runtime.auto(seed=0, device="cpu").amp_dtype == torch.bfloat16
    assert Runtime.auto(seed=0, device="cpu", amp=False).amp_dtype is None  # a caller's `amp=False` wins
    monkeypatch.delenv("DEEPCLUST_AMP")
    assert Runtime.auto(seed=0, device="cpu").amp_dtype is None


def test_runtime_auto_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPCLUST_CHANNELS_LAST", "1")
    monkeypatch.setenv("DEEPCLUST_COMPILE", "eager")
    runtime = Runtime.auto(seed=0, device="cpu")
    assert runtime.channels_last and runtime.compile_backend == "eager"
    monkeypatch.delenv("DEEPCLUST_CHANNELS_LAST")
    monkeypatch.delenv("DEEPCLUST_COMPILE")
    assert not Runtime.auto(seed=0, device="cpu").channels_last


def test_only_the_outermost_backbones_are_compiled() -> None:
    method = _simclr()
    assert _outermost_backbones(method) == [method.model.backbone]  # not the projection head, not the method
    autoencoder = AutoEncoder(10, [8, 4])
    assert _outermost_backbones(autoencoder) == [autoencoder]  # its encoder runs inside the compiled module
    sobel = nn.Sequential(build_backbone("small_cnn", 3, 4, sobel=True))
    assert _outermost_backbones(sobel) == [sobel[0]]


def _simclr() -> SimCLR:
    torch.manual_seed(0)
    transform = SimCLRTransform(mean=[0.3], std=[0.3], crop_scale=(0.5, 1.0))
    return SimCLR(build_backbone("small_cnn", 1, 4), transform, 0.1, False, hidden_dim=16, output_dim=8)


def _fit(runtime: Runtime, losses: list[float] | None = None) -> SimCLR:
    method = _simclr()
    optimizer = torch.optim.SGD(method.parameters(), lr=0.4, momentum=0.9)
    batches = lambda e: EpochBatches(random_order(len(IMAGES), e, 1), 8, lambda i: {"images": IMAGES[i]})  # noqa: E731
    result = fit(method, optimizer, batches, epochs=2, runtime=runtime, lr_schedule=cosine_schedule(0.4, 0.01, 2, 4))
    if losses is not None:
        losses.extend(h["loss"] for h in result.history)
    return method


@pytest.mark.parametrize(("channels_last", "backend"), [(True, None), (False, "eager"), (True, "eager")])
def test_speed_options_train_the_same_model(channels_last: bool, backend: str | None) -> None:
    plain = _fit(Runtime(torch.device("cpu"), None, seed=0))
    fast = _fit(Runtime(torch.device("cpu"), None, seed=0, channels_last=channels_last, compile_backend=backend))
    conv = fast.model.backbone.features[3]  # (4, 4, 3, 3): NCHW and NHWC strides differ (1 input channel: not)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert (getattr(fast.model.backbone, "_compiled_call_impl", None) is not None) == (backend is not None)
    # Same checkpoint keys (an in-place compile adds no `_orig_mod.` prefix), and the same training up to
    # the summation order of NHWC kernels.
    assert list(fast.state_dict()) == list(plain.state_dict())
    for name, value in plain.state_dict().items():
        torch.testing.assert_close(fast.state_dict()[name], value, rtol=1e-4, atol=1e-4, msg=name)



def test_bf16_autocast_trains_close_to_fp32() -> None:
    # The GPU default (bf16 autocast) run on the CPU: the forward runs in bf16, the weights stay fp32, and the
    # losses of two epochs follow the fp32 run's. bf16 keeps 8 mantissa bits, and which bf16 kernels run depends on
    # the CPU (one fresh-clone machine differed by 2.1% in the first epoch), so the margin is 5%: a broken autocast
    # (NaN, fp32 weights cast away, a diverged run) still misses it by far.
    assert Runtime.auto(device="cpu").amp_dtype is None  # the CPU default stays fp32
    losses = {}
    for amp_dtype in (None, torch.bfloat16):
        runtime = Runtime(torch.device("cpu"), amp_dtype, seed=0)
        method = _fit(runtime, losses.setdefault(amp_dtype, []))
        assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in method.parameters())
        with runtime.autocast():
            out = method.model.backbone(IMAGES[:2].permute(0, 3, 1, 2).float())
        assert out.dtype == (torch.bfloat16 if amp_dtype else torch.float32)
    assert losses[torch.bfloat16] != losses[None]  # autocast did change the arithmetic
    assert losses[torch.bfloat16] == pytest.approx(losses[None], rel=0.05)


_MALLOC_PROBE = """
import ctypes, os
from deepclust.engine.runtime import keep_freed_memory
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
tuned = keep_freed_memory(os.environ)
before = libc.mallinfo2().hblks
block = libc.malloc(6 << 20)  # the size of a batched augmentation's temporaries
mapped = libc.mallinfo2().hblks - before
libc.free(block)
print(tuned, mapped, libc.mallinfo2().keepcost)
"""


def _glibc_has_mallinfo2() -> bool:
    import ctypes

    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _glibc_has_mallinfo2(), reason="glibc >= 2.33")
def test_keep_freed_memory_keeps_augmentation_sized_blocks_in_the_heap() -> None:
    """What the tuning controls, read from glibc itself (not a page-fault count, which depends on the machine):
    by default a 6 MB block is mapped on its own and unmapped when freed, so its next use page-faults afresh;
    tuned, it comes from the heap and stays there (kept for reuse) after it is freed."""
    def probe(tuning: str) -> tuple[str, int, int]:
        env = {**os.environ, "DEEPCLUST_MALLOC_TUNING": tuning, "OMP_NUM_THREADS": "1"}
        out = subprocess.run([sys.executable, "-c", _MALLOC_PROBE], env=env, capture_output=True, text=True,
                             check=True).stdout.split()
        return out[0], int(out[1]), int(out[2])

    tuned, mapped_tuned, kept_tuned = probe("1")
    untuned, mapped_default, kept_default = probe("0")
    assert (tuned, untuned) == ("True", "False")
    assert mapped_default == 1 and mapped_tuned == 0  # its own mapping vs the heap
    assert kept_tuned >= 6 << 20 > kept_default  # freed: kept at the top of the heap vs handed back
