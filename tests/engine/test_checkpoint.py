"""Checkpoints: fingerprint, atomic save, weights_only load, fingerprint gate, strict state loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from deepclust.engine import checkpoint as checkpoint_module
from deepclust.engine import fingerprint, load_checkpoint, load_state_strict, save_checkpoint
from deepclust.errors import DeepclustError


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


class TestFingerprint:
    def test_deterministic_and_key_order_free(self, tmp_path: Path) -> None:
        f = tmp_path / "in.npz"
        f.write_bytes(b"abc")
        assert fingerprint({"a": 1, "b": {"c": 2}}, [f]) == fingerprint({"b": {"c": 2}, "a": 1}, [f])

    def test_changes_with_params(self) -> None:
        assert fingerprint({"epochs": 2}) != fingerprint({"epochs": 3})
        assert fingerprint({"lr": 0.1}) != fingerprint({"lr": 0.10001})

    def test_changes_with_inputs(self, tmp_path: Path) -> None:
        f = tmp_path / "train.npz"
        f.write_bytes(b"v1")
        before = fingerprint({"a": 1}, [f])
        f.write_bytes(b"v2")
        assert fingerprint({"a": 1}, [f]) != before

    def test_changes_with_code(self, tmp_path: Path) -> None:
        pkg = tmp_path / "pkg"
        (pkg / "sub").mkdir(parents=True)
        (pkg / "sub" / "mod.py").write_text("x = 1\n")
        before = fingerprint({"a": 1}, [], [pkg])
        (pkg / "sub" / "mod.py").write_text("x = 2\n")
        changed = fingerprint({"a": 1}, [], [pkg])
        assert changed != before
        (pkg / "sub" / "new.py").write_text("")  # a new file in a code folder counts too
        assert fingerprint({"a": 1}, [], [pkg]) != changed

    def test_bytecode_does_not_count(self, tmp_path: Path) -> None:
        # __pycache__/*.pyc appear or differ with PYTHONDONTWRITEBYTECODE or another interpreter; counting
        # them made a killed run start over instead of resuming.
        pkg = tmp_path / "pkg"
        pkg.mkdir()
        (pkg / "mod.py").write_text("x = 1\n")
        before = fingerprint({"a": 1}, [], [pkg])
        (pkg / "__pycache__").mkdir()
        (pkg / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\x00bytecode")
        assert fingerprint({"a": 1}, [], [pkg]) == before

    def test_inputs_and_code_are_ordered(self, tmp_path: Path) -> None:
        a, b = tmp_path / "a", tmp_path / "b"
        a.write_bytes(b"A")
        b.write_bytes(b"B")
        assert fingerprint({}, [a], [b]) != fingerprint({}, [b], [a])


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_round_trip(tmp_path: Path) -> None:
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    path = tmp_path / "run" / "checkpoint.pt"
    save_checkpoint(path, "fp1", {"epoch": 3, "history": [{"loss": 1.5}]}, method=model, optimizer=optimizer,
                    extra={"t": torch.arange(3)})
    payload = load_checkpoint(path, "fp1")
    assert payload is not None
    assert payload["fingerprint"] == "fp1"
    assert payload["run_variables"] == {"epoch": 3, "history": [{"loss": 1.5}]}
    assert torch.equal(payload["states"]["extra"]["t"], torch.arange(3))
    fresh = _model()
    load_state_strict(fresh, payload["states"]["method"], "model")
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    opt2 = torch.optim.Adam(fresh.parameters(), lr=0.1)
    opt2.load_state_dict(payload["states"]["optimizer"])
    assert opt2.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    assert _leftovers(path.parent) == []


def test_fingerprint_gate(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, "fp1", {"epoch": 1})
    assert load_checkpoint(path, "other") is None
    assert load_checkpoint(path, "fp1") is not None
    assert load_checkpoint(path) is not None  # no fingerprint given: no gate


def test_absent_file_is_none(tmp_path: Path) -> None:
    assert load_checkpoint(tmp_path / "nope.pt", "fp") is None


class _Arbitrary:
    pass


def test_loads_with_weights_only(tmp_path: Path) -> None:
    # A pickle holding an arbitrary object is refused by weights_only=True (it could run code on load).
    path = tmp_path / "checkpoint.pt"
    torch.save({"fingerprint": "fp", "run_variables": {"obj": _Arbitrary()}, "states": {}}, path)
    with pytest.raises(DeepclustError, match=f"cannot read checkpoint {path}"):
        load_checkpoint(path, "fp")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04garbage"])
def test_corrupt_file_is_a_deepclust_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(content)
    with pytest.raises(DeepclustError, match="cannot read checkpoint"):
        load_checkpoint(path, "fp")


def test_truncated_checkpoint_is_a_deepclust_error(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, "fp", {"epoch": 1}, method=_model())
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DeepclustError, match="cannot read checkpoint"):
        load_checkpoint(path, "fp")


def test_atomic_save_keeps_previous_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, "fp", {"epoch": 1})
    before = path.read_bytes()

    def broken_save(obj: object, f: Path) -> None:
        Path(f).write_bytes(b"half a checkp")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, "fp", {"epoch": 2})
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


class TestLoadStateStrict:
    def test_all_keys_load(self) -> None:
        src, dst = _model(), nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
        load_state_strict(dst, src.state_dict(), "m")
        assert torch.equal(dst[0].weight, src[0].weight)

    def test_missing_key(self) -> None:
        state = _model().state_dict()
        del state["0.weight"]
        with pytest.raises(DeepclustError, match=r"my model: .*missing \['0.weight'\]"):
            load_state_strict(_model(), state, "my model")

    def test_unexpected_key(self) -> None:
        state = dict(_model().state_dict(), extra=torch.zeros(1))
        with pytest.raises(DeepclustError, match=r"unexpected \['extra'\]"):
            load_state_strict(_model(), state, "m")

    def test_allowed_missing_prefix(self) -> None:
        state = {k: v for k, v in _model().state_dict().items() if not k.startswith("1.")}
        load_state_strict(_model(), state, "m", allowed_missing=["1."])
        with pytest.raises(DeepclustError):
            load_state_strict(_model(), state, "m", allowed_missing=["0."])
