"""Writes on a real full disk (a small tmpfs; mounting needs root, as CI runs): each
failure is an OSError that names the file it could not write, and nothing is left half
written."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from league.store import Registry
from league.store.checkpoint import atomic_write_bytes


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs; `fill(path)` takes all its free space."""
    assert os.geteuid() == 0, "these tests mount a file system: run them as root, as CI does"
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _fill(disk: Path) -> None:
    """Write a file until the disk has no block left."""
    with open(disk / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC


def test_an_atomic_write_on_a_full_disk_names_the_file_and_keeps_the_old_one(full_disk):
    path = full_disk / "checkpoint.safetensors"
    path.write_bytes(b"old")
    _fill(full_disk)
    with pytest.raises(OSError) as info:
        atomic_write_bytes(path, b"\1" * 100_000)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in full_disk.iterdir()) == ["checkpoint.safetensors", "filler"]


def test_a_tensorboard_writer_on_a_full_disk_names_its_file_and_prints_no_traceback(
    full_disk, capfd
):
    from league.store.events import EventWriter

    writer = EventWriter(str(full_disk / "tb"))
    writer.add_scalar("x", 1.0, 0)
    writer.flush()
    _fill(full_disk)
    with pytest.raises(OSError) as info:
        for step in range(1, 10_000):  # a record to write on the writer's thread
            writer.add_scalar("x", float(step), step)
            writer.flush()
    assert info.value.errno == errno.ENOSPC
    (events,) = (full_disk / "tb").iterdir()
    assert info.value.filename == str(events)
    with pytest.raises(OSError):  # it stays failed
        writer.add_scalar("x", 0.0, 0)
    writer.close()  # quietly, after the failure it raised
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Exception in thread" not in err, err


def test_a_registry_write_on_a_full_disk_names_the_database_and_keeps_it(full_disk):
    with Registry(full_disk / "run") as reg:
        reg.add_snapshot(
            role="main",
            iteration=1,
            env_steps=10,
            tensors={"w": torch.ones(4)},
            parent=None,
            config={},
        )
        _fill(full_disk)
        row = {"iteration": 1, "kind": "eval", "participants": [], "sides": {}, "length": 1}
        with pytest.raises(OSError) as info:
            for _ in range(100):
                reg.add_matches([{**row, "result": {"pad": "x" * 4096}}] * 50)
        assert info.value.errno == errno.ENOSPC
        assert info.value.filename == str(full_disk / "run" / "league.db")
        assert reg.integrity_ok()
        assert len(reg.snapshots()) == 1
    (full_disk / "filler").unlink()
    with Registry(full_disk / "run") as reg:
        assert reg.integrity_ok() and len(reg.snapshots()) == 1
        assert reg.load_snapshot(reg.snapshots()[0]["id"])["w"].sum() == 4


def test_the_run_log_on_a_full_disk_prints_nothing_of_its_own(full_disk, capfd):
    import logging

    from league.store import RunLog

    handler = RunLog(full_disk / "league.log")
    log = logging.getLogger("test_full_disk.run_log")
    log.propagate = False
    log.addHandler(handler)
    try:
        _fill(full_disk)
        log.error("the run stopped: %s", "x" * 10_000)
    finally:
        log.removeHandler(handler)
        handler.close()
    assert capfd.readouterr().err == ""
