"""Tests for league.store.checkpoint."""

from __future__ import annotations

import collections
import math
import random
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from league.store.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    load_checkpoint,
    save_checkpoint,
)


def _assert_same(a: object, b: object) -> None:
    """Assert deep equality including container, tensor and numpy types."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor)
        assert a.dtype == b.dtype
        assert a.shape == b.shape
        assert torch.equal(a, b)
    elif isinstance(a, np.ndarray):
        assert type(b) is np.ndarray
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, np.generic):
        assert type(b) is type(a)
        assert a == b
    elif isinstance(a, dict):
        assert isinstance(b, dict)
        assert list(a.keys()) == list(b.keys())
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(b) is type(a)
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float)
        assert math.isnan(b)
    else:
        assert type(b) is type(a)
        assert a == b


def _round_trip(tmp_path: Path, state: dict) -> dict:
    path = tmp_path / "ckpt" / "state.safetensors"
    save_checkpoint(path, state)
    return load_checkpoint(path)


def test_adam_state_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.8, 0.95))
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(5, 3)).pow(2).sum().backward()
        opt.step()
    state = {"model": model.state_dict(), "optim": opt.state_dict(), "iteration": 2}
    loaded = _round_trip(tmp_path, state)
    _assert_same(dict(state["model"]), loaded["model"])
    _assert_same(state["optim"], loaded["optim"])
    assert isinstance(next(iter(loaded["optim"]["state"])), int)
    assert loaded["optim"]["param_groups"][0]["betas"] == (0.8, 0.95)

    model2 = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    opt2 = torch.optim.Adam(model2.parameters(), lr=1e-3, betas=(0.8, 0.95))
    model2.load_state_dict(loaded["model"])
    opt2.load_state_dict(loaded["optim"])
    _assert_same(opt.state_dict(), opt2.state_dict())

    x = torch.randn(5, 3)
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).pow(2).sum().backward()
        o.step()
    for p1, p2 in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(p1, p2)


def test_nested_structures_round_trip(tmp_path: Path) -> None:
    state = {
        "int_keys": {0: {"a": 1}, 7: [1, 2, (3, 4)], -1: None},
        "mixed_keys": {1: "one", "two": 2, (3, "x"): 3.5, None: True, 2.5: False},
        "tuple": (1, "a", (2.0, [None, True]), ()),
        "empty": {"d": {}, "l": [], "t": ()},
        "floats": [0.1, -0.0, 1e308, float("inf"), float("-inf"), float("nan")],
        "ints": [0, -1, 2**63 - 1, -(2**63), 2**64, -(2**200) + 5, 2**4000],
        "strings": ["", "$dict", "ünïcødé ✓", "\ud800"],
        "tag_like": {"$tensor": "t0", "$int": "0x1"},
        "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "tensors": [torch.zeros(0, 3), torch.tensor(3.5), torch.arange(6).reshape(2, 3).t()],
        "dtypes": {
            str(dt): torch.ones(2, dtype=dt)
            for dt in (torch.bfloat16, torch.float16, torch.uint8, torch.int32, torch.bool)
        },
        "same_tensor_twice": [torch.ones(3)] * 2,
    }
    loaded = _round_trip(tmp_path, state)
    expected = dict(state)
    expected["ordered"] = dict(state["ordered"])
    _assert_same(expected, loaded)
    assert type(loaded["ordered"]) is dict


def test_numpy_round_trip(tmp_path: Path) -> None:
    state = {
        "obs": np.arange(12, dtype=np.float32).reshape(3, 4),
        "strided": np.arange(20, dtype=np.int64)[::3],
        "big_endian": np.arange(4, dtype=">f8"),
        "flags": np.array([True, False]),
        "u16": np.array([1, 65535], dtype=np.uint16),
        "scalar_f": np.float64(2.5),
        "scalar_i": np.int32(-3),
        "scalar_b": np.bool_(True),
        "empty": np.zeros((0, 2), dtype=np.float32),
        "zero_d": np.array(1.5),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    }
    loaded = _round_trip(tmp_path, state)
    _assert_same(state, loaded)
    loaded["obs"][0, 0] = 99.0  # arrays come back writable


def test_rng_states_round_trip(tmp_path: Path) -> None:
    random.seed(123)
    rng = np.random.default_rng(1)
    rng.random(3)
    torch.manual_seed(5)
    state = {
        "python": random.getstate(),
        "numpy": rng.bit_generator.state,
        "torch": torch.get_rng_state(),
    }
    expected_py = [random.random() for _ in range(3)]
    expected_np = rng.random(3)
    expected_torch = torch.rand(3)

    loaded = _round_trip(tmp_path, state)
    _assert_same(state, loaded)

    random.seed(999)
    random.setstate(loaded["python"])
    assert [random.random() for _ in range(3)] == expected_py
    rng2 = np.random.default_rng(0)
    rng2.bit_generator.state = loaded["numpy"]
    np.testing.assert_array_equal(rng2.random(3), expected_np)
    torch.set_rng_state(loaded["torch"])
    assert torch.equal(torch.rand(3), expected_torch)


def test_unsupported_type_rejected(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"state\['bad'\]\[0\]"):
        save_checkpoint(tmp_path / "x.safetensors", {"bad": [object()]})
    with pytest.raises(TypeError, match="dtype"):
        save_checkpoint(tmp_path / "x.safetensors", {"bad": np.array(["a"])})
    assert not (tmp_path / "x.safetensors").exists()


def test_truncated_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "state.safetensors"
    save_checkpoint(path, {"w": torch.randn(64), "n": 1})
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 20, 5, 0):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="state.safetensors"):
            load_checkpoint(path)


def test_missing_and_foreign_files_raise(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")
    foreign = tmp_path / "plain.safetensors"
    foreign.write_bytes(safetensors.torch.save({"w": torch.ones(2)}))
    with pytest.raises(CheckpointError, match="not a league checkpoint"):
        load_checkpoint(foreign)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(CheckpointError, match="garbage.safetensors"):
        load_checkpoint(garbage)


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "file.bin"
    atomic_write_bytes(path, b"first")
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    save_checkpoint(tmp_path / "ckpt.safetensors", {"a": torch.ones(1)})
    save_checkpoint(tmp_path / "ckpt.safetensors", {"a": torch.zeros(1)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.safetensors", "file.bin"]
    assert torch.equal(load_checkpoint(tmp_path / "ckpt.safetensors")["a"], torch.zeros(1))


def test_atomic_write_failure_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "dir_target"
    target.mkdir()
    (target / "child").write_bytes(b"x")
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"data")  # cannot replace a non-empty directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir_target"]
