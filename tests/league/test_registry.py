"""Tests for league.store.registry."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch

from league.store import Registry, RegistryError


def _tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "layer.weight": torch.randn(4, 3, generator=gen),
        "layer.bias": torch.randn(4, generator=gen),
        "steps": torch.tensor(7, dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
    }


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    with Registry(tmp_path / "run") as registry:
        yield registry


def _add(reg: Registry, *, role: str = "main", iteration: int = 0, seed: int = 0, **kw) -> int:
    return reg.add_snapshot(
        role=role,
        iteration=iteration,
        env_steps=kw.pop("env_steps", 100 * iteration),
        tensors=kw.pop("tensors", _tensors(seed)),
        parent=kw.pop("parent", None),
        config=kw.pop("config", {"lr": 3e-4, "hidden": [64, 64]}),
    )


def test_creates_layout(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "exp"
    with Registry(run) as reg:
        assert (run / "league.db").is_file()
        assert (run / "weights").is_dir()
        assert reg.snapshots() == []
        assert reg.latest_snapshot() is None
        assert reg.matches() == []


def test_snapshot_round_trip(reg: Registry) -> None:
    original = _tensors(1)
    sid = _add(reg, iteration=3, env_steps=1234, tensors=original)
    loaded = reg.load_snapshot(sid)
    assert loaded.keys() == original.keys()
    for name, tensor in original.items():
        assert loaded[name].dtype == tensor.dtype
        assert torch.equal(loaded[name], tensor)
    row = reg.snapshot(sid)
    assert row["role"] == "main"
    assert row["iteration"] == 3
    assert row["env_steps"] == 1234
    assert row["parent"] is None
    assert row["config"] == {"lr": 3e-4, "hidden": [64, 64]}
    assert row["file"] == f"weights/{row['sha256']}.safetensors"
    assert (reg.run_dir / row["file"]).is_file()
    assert isinstance(row["created"], float)


def test_tied_and_noncontiguous_tensors(reg: Registry) -> None:
    base = torch.arange(12.0).reshape(3, 4)
    tensors = {"a": base, "tied": base, "t": base.t(), "slice": base[1]}
    loaded = reg.load_snapshot(_add(reg, tensors=tensors))
    for name, tensor in tensors.items():
        assert torch.equal(loaded[name], tensor)


def test_add_snapshot_idempotent(reg: Registry) -> None:
    first = _add(reg, iteration=1, seed=5)
    again = _add(reg, iteration=1, seed=5, config={"different": "config is ignored"})
    assert again == first
    assert len(reg.snapshots()) == 1
    assert len(list((reg.run_dir / "weights").iterdir())) == 1


def test_conflicting_readd_raises(reg: Registry) -> None:
    _add(reg, iteration=1, seed=5)
    with pytest.raises(ValueError, match="already exists"):
        _add(reg, iteration=1, seed=6)
    assert len(reg.snapshots()) == 1


def test_snapshots_listing_parent_and_latest(reg: Registry) -> None:
    a = _add(reg, role="main", iteration=0, seed=0)
    b = _add(reg, role="exploiter", iteration=0, seed=1)
    c = _add(reg, role="main", iteration=1, seed=2, parent=a)
    assert [r["id"] for r in reg.snapshots()] == [a, b, c]
    assert [r["id"] for r in reg.snapshots("main")] == [a, c]
    assert reg.snapshot(c)["parent"] == a
    assert reg.latest_snapshot()["id"] == c
    assert reg.latest_snapshot("exploiter")["id"] == b
    assert reg.latest_snapshot("nobody") is None
    with pytest.raises(ValueError, match="parent"):
        _add(reg, iteration=9, parent=999)
    with pytest.raises(KeyError):
        reg.snapshot(999)


def test_identical_weights_share_file(reg: Registry) -> None:
    a = _add(reg, role="main", iteration=0, seed=3)
    b = _add(reg, role="frozen", iteration=0, seed=3)
    assert a != b
    assert reg.snapshot(a)["file"] == reg.snapshot(b)["file"]
    assert torch.equal(reg.load_snapshot(b)["layer.weight"], _tensors(3)["layer.weight"])


def test_tampered_file_refused(reg: Registry) -> None:
    sid = _add(reg)
    path = reg.run_dir / reg.snapshot(sid)["file"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(RegistryError, match="modified or corrupted") as info:
        reg.load_snapshot(sid)
    message = str(info.value)
    assert str(path) in message
    assert reg.snapshot(sid)["sha256"] in message


def test_corrupt_file_is_rewritten_on_readd(reg: Registry) -> None:
    sid = _add(reg, iteration=2)
    path = reg.run_dir / reg.snapshot(sid)["file"]
    path.write_bytes(b"garbage")
    with pytest.raises(RegistryError):
        reg.load_snapshot(sid)
    assert _add(reg, iteration=2) == sid  # idempotent re-add restores the file
    assert torch.equal(reg.load_snapshot(sid)["layer.bias"], _tensors(0)["layer.bias"])
    path.unlink()
    _add(reg, role="other", iteration=2)  # same weights under a new row also restores it
    assert torch.equal(reg.load_snapshot(sid)["layer.bias"], _tensors(0)["layer.bias"])


def test_missing_file_error(reg: Registry) -> None:
    sid = _add(reg)
    path = reg.run_dir / reg.snapshot(sid)["file"]
    path.unlink()
    with pytest.raises(RegistryError, match="missing") as info:
        reg.load_snapshot(sid)
    assert str(path) in str(info.value)


def _match(iteration: int, kind: str, **kw) -> dict:
    return {
        "iteration": iteration,
        "kind": kind,
        "participants": kw.get("participants", ["snapshot:1", "latest"]),
        "sides": kw.get("sides", {"snapshot:1": "team_0", "latest": "team_1"}),
        "result": kw.get("result", {"team_0": 1.0, "team_1": 0.0}),
        "length": kw.get("length", 42),
    }


def test_matches_round_trip_and_filter(reg: Registry) -> None:
    rows = [
        _match(0, "train"),
        _match(0, "eval", participants=["latest", "random"], result={"team_0": 0.5}),
        _match(1, "train", length=np.int64(7), result={"team_0": np.float32(0.5)}),
    ]
    reg.add_matches(rows)
    reg.add_matches([])
    got = reg.matches()
    assert [m["kind"] for m in got] == ["train", "eval", "train"]
    assert got[0]["participants"] == ["snapshot:1", "latest"]
    assert got[0]["sides"] == {"snapshot:1": "team_0", "latest": "team_1"}
    assert got[0]["result"] == {"team_0": 1.0, "team_1": 0.0}
    assert got[0]["length"] == 42
    assert got[2]["length"] == 7
    assert got[2]["result"] == {"team_0": 0.5}
    assert isinstance(got[0]["created"], float)
    evals = reg.matches("eval")
    assert len(evals) == 1
    assert evals[0]["participants"] == ["latest", "random"]
    assert len(reg.matches("train")) == 2


def test_add_matches_validates_all_or_nothing(reg: Registry) -> None:
    with pytest.raises(ValueError, match="kind"):
        reg.add_matches([_match(0, "train"), _match(0, "bogus")])
    bad = _match(0, "train")
    del bad["length"]
    with pytest.raises(ValueError, match="length"):
        reg.add_matches([bad])
    assert reg.matches() == []


def test_rollback_after(reg: Registry) -> None:
    for it in range(4):
        _add(reg, iteration=it, seed=it)
    reg.add_matches([_match(it, "train") for it in range(4)] + [_match(3, "eval")])
    assert reg.rollback_after(1) == 2 + 3
    assert [s["iteration"] for s in reg.snapshots()] == [0, 1]
    assert sorted({m["iteration"] for m in reg.matches()}) == [0, 1]
    assert reg.rollback_after(1) == 0
    # Re-adding a rolled-back iteration with new weights is allowed.
    sid = _add(reg, iteration=2, seed=99)
    assert torch.equal(reg.load_snapshot(sid)["layer.weight"], _tensors(99)["layer.weight"])


def test_meta(reg: Registry) -> None:
    assert reg.get_meta("config") is None
    assert reg.get_meta("config", {"x": 1}) == {"x": 1}
    reg.set_meta("config", {"env": "connect_four_v3", "seeds": [1, 2]})
    reg.set_meta("iteration", 5)
    reg.set_meta("iteration", 6)
    assert reg.get_meta("config") == {"env": "connect_four_v3", "seeds": [1, 2]}
    assert reg.get_meta("iteration") == 6


def test_wal_busy_timeout_and_integrity(reg: Registry) -> None:
    assert reg.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert reg.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 30_000
    assert reg.integrity_ok()


def test_persistence_across_instances(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with Registry(run) as reg:
        sid = _add(reg, iteration=4)
        reg.add_matches([_match(4, "eval")])
        reg.set_meta("name", "exp")
    # A second, concurrent-style connection sees the committed data.
    conn = sqlite3.connect(run / "league.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    with Registry(run) as reg:
        assert reg.snapshot(sid)["iteration"] == 4
        assert len(reg.matches("eval")) == 1
        assert reg.get_meta("name") == "exp"
        assert torch.equal(reg.load_snapshot(sid)["steps"], torch.tensor(7))
