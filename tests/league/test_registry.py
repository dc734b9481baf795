"""Tests for league.store.registry."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as safetensors_save

from league.store import SNAPSHOT_KINDS, Registry, RegistryError


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
        **kw,
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
    assert row["agent"] == "main"  # a role's main agent is the role itself
    assert row["kind"] == "main"
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
    # The last writer to close leaves no -wal/-shm files, nor does a reader after it.
    assert not list(run.glob("league.db-*"))
    with Registry(run, read_only=True) as reader:
        assert reader.snapshot(sid)["iteration"] == 4
    assert not list(run.glob("league.db-*"))
    conn = sqlite3.connect(run / "league.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()
    with Registry(run) as reg:  # a writer turns WAL on again
        assert reg.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert reg.snapshot(sid)["iteration"] == 4
        assert len(reg.matches("eval")) == 1
        assert reg.get_meta("name") == "exp"
        assert torch.equal(reg.load_snapshot(sid)["steps"], torch.tensor(7))


# ---------------------------------------------------------------- agents and kinds


def test_agent_and_kind_are_stored(reg: Registry) -> None:
    main = _add(reg, iteration=0, seed=0)
    exploiter = _add(
        reg,
        iteration=0,  # the same iteration as the main agent: another agent
        seed=1,
        agent="main/main_exploiter_0",
        kind="main_exploiter",
        parent=main,  # reset to the main agent's weights
    )
    row = reg.snapshot(exploiter)
    assert (row["role"], row["agent"], row["kind"], row["parent"]) == (
        "main",
        "main/main_exploiter_0",
        "main_exploiter",
        main,
    )
    assert [s["agent"] for s in reg.snapshots()] == ["main", "main/main_exploiter_0"]
    assert set(SNAPSHOT_KINDS) == {"main", "main_exploiter", "league_exploiter", "best_response"}


def test_readd_is_idempotent_per_agent(reg: Registry) -> None:
    agent = {"agent": "main/league_exploiter_0", "kind": "league_exploiter"}
    first = _add(reg, iteration=1, seed=5, **agent)
    assert _add(reg, iteration=1, seed=5, **agent) == first
    assert _add(reg, iteration=1, seed=5) != first  # the main agent's own snapshot
    with pytest.raises(ValueError, match=r"agent='main/league_exploiter_0' iteration=1"):
        _add(reg, iteration=1, seed=6, **agent)
    with pytest.raises(ValueError, match="as kind 'league_exploiter'"):
        _add(reg, iteration=1, seed=5, agent="main/league_exploiter_0", kind="main_exploiter")
    assert len(reg.snapshots()) == 2


def test_invalid_kind_and_agent_are_refused(reg: Registry) -> None:
    with pytest.raises(ValueError, match="'exploiter' is not one of"):
        _add(reg, agent="main/x", kind="exploiter")
    with pytest.raises(ValueError, match="agent 'prey/x' is not 'predator'"):
        _add(reg, role="predator", agent="prey/x", kind="main_exploiter")
    for agent in ("main/", "main/a/b", "main/a@1", "mainx"):
        with pytest.raises(ValueError, match=f"agent '{agent}' is not"):
            _add(reg, agent=agent, kind="main_exploiter")
    with pytest.raises(ValueError, match="'bogus' is not one of"):
        reg.snapshots(kind="bogus")
    assert reg.snapshots() == []


def test_filters_by_role_agent_and_kind(reg: Registry) -> None:
    a = _add(reg, iteration=0, seed=0)
    b = _add(reg, iteration=0, seed=1, agent="main/main_exploiter_0", kind="main_exploiter")
    c = _add(reg, role="prey", iteration=0, seed=2)
    d = _add(reg, iteration=1, seed=3, parent=a)
    e = _add(reg, iteration=1, seed=4, agent="main/best_response_12", kind="best_response")
    assert [s["id"] for s in reg.snapshots("main")] == [a, b, d, e]
    assert [s["id"] for s in reg.snapshots(kind="main")] == [a, c, d]
    assert [s["id"] for s in reg.snapshots("main", kind="main")] == [a, d]
    assert [s["id"] for s in reg.snapshots(agent="main")] == [a, d]
    assert [s["id"] for s in reg.snapshots(agent="main/main_exploiter_0")] == [b]
    assert reg.snapshots("prey", kind="best_response") == []
    assert reg.latest_snapshot()["id"] == e
    assert reg.latest_snapshot(kind="main")["id"] == d
    assert reg.latest_snapshot("prey")["id"] == c
    assert reg.latest_snapshot(agent="main/main_exploiter_0")["id"] == b
    assert reg.latest_snapshot(kind="league_exploiter") is None


def test_rollback_after_covers_every_kind(reg: Registry) -> None:
    _add(reg, iteration=1, seed=0)
    _add(reg, iteration=2, seed=1)
    _add(reg, iteration=2, seed=2, agent="main/main_exploiter_0", kind="main_exploiter")
    assert reg.rollback_after(1) == 2
    assert [s["kind"] for s in reg.snapshots()] == ["main"]


# ---------------------------------------------------------------- migration

_OLD_SCHEMA = """
CREATE TABLE run (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    role TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    env_steps INTEGER NOT NULL,
    created REAL NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    parent INTEGER,
    config TEXT NOT NULL,
    UNIQUE (role, iteration)
);
CREATE TABLE matches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    iteration INTEGER NOT NULL,
    kind TEXT NOT NULL,
    participants TEXT NOT NULL,
    sides TEXT NOT NULL,
    result TEXT NOT NULL,
    length INTEGER NOT NULL,
    created REAL NOT NULL
);
"""
"""The first registry schema (no agent/kind, unique per role and iteration)."""


def _old_run(run: Path) -> None:
    """Write a first-schema run: snapshots 1, 2 (parent 1) and 3 of roles main and prey,
    then snapshot 4 rolled back (the sequence stays at 4), and one match row."""
    data = safetensors_save(_tensors(0))
    digest = hashlib.sha256(data).hexdigest()
    (run / "weights").mkdir(parents=True)
    (run / "weights" / f"{digest}.safetensors").write_bytes(data)
    conn = sqlite3.connect(run / "league.db")
    try:
        conn.executescript(_OLD_SCHEMA)
        for role, iteration, parent in [
            ("main", 0, None),
            ("main", 1, 1),
            ("prey", 1, None),
            ("main", 2, 2),
        ]:
            conn.execute(
                "INSERT INTO snapshots "
                "(role, iteration, env_steps, created, file, sha256, parent, config) "
                "VALUES (?, ?, ?, 0.0, ?, ?, ?, '{}')",
                (role, iteration, 100 * iteration, f"weights/{digest}.safetensors", digest, parent),
            )
        conn.execute("DELETE FROM snapshots WHERE id = 4")
        conn.execute(
            "INSERT INTO matches (iteration, kind, participants, sides, result, length, created) "
            "VALUES (1, 'eval', '[]', '{}', '{}', 9, 0.0)"
        )
        conn.commit()
    finally:
        conn.close()


def _columns(run: Path) -> list[str]:
    conn = sqlite3.connect(run / "league.db")
    try:
        return [row[1] for row in conn.execute("PRAGMA table_info(snapshots)")]
    finally:
        conn.close()


def test_old_schema_is_migrated_on_open(tmp_path: Path) -> None:
    run = tmp_path / "old"
    _old_run(run)
    with Registry(run) as reg:
        rows = reg.snapshots()
        assert [(s["id"], s["role"], s["agent"], s["kind"], s["parent"]) for s in rows] == [
            (1, "main", "main", "main", None),
            (2, "main", "main", "main", 1),
            (3, "prey", "prey", "main", None),
        ]
        assert [s["iteration"] for s in rows] == [0, 1, 1]
        assert torch.equal(reg.load_snapshot(2)["layer.weight"], _tensors(0)["layer.weight"])
        assert len(reg.matches("eval")) == 1
        seq = reg.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'snapshots'")
        assert seq.fetchone()[0] == 4  # rolled-back id 4 stays used
        # Two agents of one role may now freeze at the same iteration.
        new = _add(reg, iteration=1, seed=1, agent="main/main_exploiter_0", kind="main_exploiter")
        assert new == 5
        assert _add(reg, iteration=1, seed=0) == 2  # idempotent on a migrated row
        assert reg.integrity_ok()
    assert "agent" in _columns(run)
    with Registry(run) as reg:  # opening again changes nothing
        assert [s["id"] for s in reg.snapshots()] == [1, 2, 3, 5]
        assert _add(reg, iteration=3, seed=3) == 6


def test_empty_old_schema_is_migrated(tmp_path: Path) -> None:
    run = tmp_path / "old"
    run.mkdir()
    conn = sqlite3.connect(run / "league.db")
    conn.executescript(_OLD_SCHEMA)
    conn.close()
    with Registry(run) as reg:
        assert reg.snapshots() == []
        assert _add(reg, agent="main/best_response_0", kind="best_response") == 1


def test_failed_migration_leaves_the_old_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "old"
    _old_run(run)
    migrate = Registry._migrate_snapshots

    def crash_after_migrating(self: Registry) -> None:
        migrate(self)
        raise KeyboardInterrupt  # e.g. killed before the commit

    monkeypatch.setattr(Registry, "_migrate_snapshots", crash_after_migrating)
    with pytest.raises(KeyboardInterrupt):
        Registry(run)
    assert "agent" not in _columns(run)
    monkeypatch.undo()
    with Registry(run) as reg:
        assert [s["id"] for s in reg.snapshots()] == [1, 2, 3]
        assert _add(reg, iteration=5, seed=5) == 5


# ---------------------------------------------------------------- weights files no row names


def _weights_files(run: Path) -> set[str]:
    return {f"weights/{p.name}" for p in (run / "weights").iterdir()}


def test_rollback_removes_the_weights_files_no_row_names(reg: Registry) -> None:
    for it in range(4):
        _add(reg, iteration=it, seed=it)
    _add(reg, role="prey", iteration=3, seed=1)  # shares iteration 1's file
    _add(reg, iteration=5, seed=7, agent="main/best_response_0", kind="best_response")
    stray = reg.weights_dir / f"{'0' * 64}.safetensors"  # a kill between file and row
    stray.write_bytes(safetensors_save(_tensors(42)))
    (reg.weights_dir / f".{'1' * 64}.safetensors.0123456789abcdef.tmp").write_bytes(b"half")
    assert reg.rollback_after(1) == 3
    rows = reg.snapshots()
    assert [(s["iteration"], s["kind"]) for s in rows] == [
        (0, "main"),
        (1, "main"),
        (5, "best_response"),
    ]
    assert _weights_files(reg.run_dir) == {s["file"] for s in rows}
    assert all(reg.load_snapshot(s["id"]) for s in rows)


def test_a_snapshot_whose_row_is_not_committed_leaves_no_file(reg: Registry) -> None:
    _add(reg, iteration=0, seed=0)
    reg.db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON snapshots BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    with pytest.raises(RegistryError, match="cannot write"):
        _add(reg, iteration=1, seed=1)
    assert _weights_files(reg.run_dir) == {s["file"] for s in reg.snapshots()}


# ---------------------------------------------------------------- read-only


def _filled_run(run: Path) -> None:
    with Registry(run) as reg:
        sid = _add(reg, iteration=1, seed=1)
        reg.add_matches([_match(1, "eval")])
        reg.set_meta("game", "tictactoe_v3")
        reg.set_score(sid, "exploitability", 0.25)


def _listing(run: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in run.rglob("*") if p.is_file()}


def test_a_read_only_registry_reads_everything_and_writes_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _filled_run(run)
    before = _listing(run)
    with Registry(run, read_only=True) as reg:
        (row,) = reg.snapshots()
        assert torch.equal(
            reg.load_snapshot(row["id"])["layer.weight"], _tensors(1)["layer.weight"]
        )
        assert reg.latest_snapshot(kind="main")["id"] == row["id"]
        assert len(reg.matches("eval")) == 1
        assert reg.get_meta("game") == "tictactoe_v3"
        assert reg.scores("exploitability") == {row["id"]: 0.25}
        assert reg.integrity_ok()
        for write in (
            lambda: reg.add_matches([_match(2, "eval")]),
            lambda: _add(reg, iteration=2, seed=2),
            lambda: reg.set_meta("game", "other"),
            lambda: reg.set_score(row["id"], "exploitability", 1.0),
            lambda: reg.rollback_after(0),
        ):
            with pytest.raises(RegistryError, match=f"{run / 'league.db'} is open read-only"):
                write()
    after = _listing(run)  # SQLite's WAL index may appear beside the database, no more
    assert {p: after[p] for p in before} == before
    assert set(after) - set(before) <= {f"{run}/league.db-wal", f"{run}/league.db-shm"}


def test_a_read_only_registry_sees_what_a_writer_commits(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _filled_run(run)
    with Registry(run, read_only=True) as reader, Registry(run) as writer:
        sid = _add(writer, iteration=2, seed=2)
        assert [s["id"] for s in reader.snapshots()][-1] == sid


def test_a_read_only_registry_of_a_missing_run_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no such database file") as info:
        Registry(tmp_path / "nope", read_only=True)
    assert str(tmp_path / "nope" / "league.db") in str(info.value)
    assert not (tmp_path / "nope").exists()


def test_a_read_only_registry_shows_an_old_schema_as_the_new_one(tmp_path: Path) -> None:
    run = tmp_path / "old"
    _old_run(run)
    with Registry(run, read_only=True) as reg:
        rows = reg.snapshots()
        assert [(s["id"], s["agent"], s["kind"]) for s in rows] == [
            (1, "main", "main"),
            (2, "main", "main"),
            (3, "prey", "main"),
        ]
        assert reg.latest_snapshot(kind="main")["id"] == 3
        assert reg.scores("exploitability") == {}  # no scores table in the first schema
        assert reg.load_snapshot(2)
    assert "agent" not in _columns(run)  # nothing migrated


def test_a_read_only_registry_opens_a_run_on_a_read_only_mount(tmp_path: Path) -> None:
    """No -wal or -shm file can be made there: the database is read as it is."""
    assert os.geteuid() == 0, "this test mounts a file system: run it as root, as CI does"
    run = tmp_path / "run"
    _filled_run(run)
    before = _listing(run)
    subprocess.run(["mount", "--bind", str(run), str(run)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(run)], check=True)
        with Registry(run, read_only=True) as reg:
            assert len(reg.snapshots()) == 1 and len(reg.matches()) == 1
            assert reg.load_snapshot(reg.snapshots()[0]["id"])
    finally:
        subprocess.run(["umount", str(run)], check=True)
    assert _listing(run) == before
