"""A run directory nothing can confuse: one writer, clean failures, early kills recoverable.

Each test meets a defect where a person would, through the real CLI, and checks the
exit code, a one-line message naming the path or the key, and that the registry is
intact with every registered snapshot loadable.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, cli_json, run_cli, tiny_overrides
from league.store import Registry

pytestmark = pytest.mark.slow

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _sets(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


def _tiny_run(runs_dir: Path, name: str, *extra: str) -> Path:
    """Train a two-iteration tic-tac-toe run through the CLI; return its directory."""
    overrides = [*tiny_overrides("tictactoe"), *extra]
    args = ["train", "tictactoe", "--runs-dir", str(runs_dir), "--name", name]
    cli_json(*args, *_sets(overrides))
    return runs_dir / name


def _start(tmp_path: Path, name: str, *extra: str) -> subprocess.Popen:
    """Start a long tic-tac-toe run in the background."""
    overrides = [*tiny_overrides("tictactoe"), "train.iterations=100000", *extra]
    args = ["train", "tictactoe", "--runs-dir", str(tmp_path), "--name", name, "--json"]
    return subprocess.Popen(
        [sys.executable, "-m", "league", *args, *_sets(overrides)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path_glob: Path, pattern: str, proc: subprocess.Popen, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while not list(path_glob.glob(pattern)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"no {pattern} in {path_glob}"
        time.sleep(0.2)


def _one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("league: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _intact(run_dir: Path) -> None:
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
        for snap in reg.snapshots():
            assert reg.load_snapshot(snap["id"])


def test_a_second_trainer_on_a_running_run_is_refused(tmp_path):
    first = _start(tmp_path, "c1", "train.checkpoint_every=1")
    try:
        _wait_for(tmp_path / "c1", "checkpoint.safetensors", first)
        second = run_cli(
            "train", "--resume", str(tmp_path / "c1"), "--iterations", "5", check=False
        )
        _one_line_error(second, str(tmp_path / "c1"), f"process {first.pid}", "train.lock")
        # Readers keep working while the trainer runs.
        out = cli_json("eval", "--run", str(tmp_path / "c1"), "latest", "random", "--games", "2")
        assert out["games"] == 2
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130
    _intact(tmp_path / "c1")
    # The lock went with the process: the run resumes.
    again = cli_json("train", "--resume", str(tmp_path / "c1"), "--iterations", "1")
    assert again["iterations"] >= 1


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tmp_path):
    proc = _start(tmp_path, "early", "train.checkpoint_every=100000", "train.snapshot_every=1")
    try:
        _wait_for(tmp_path / "early" / "tb", "events.*", proc)
        proc.send_signal(signal.SIGKILL)  # the OS releases the lock; no checkpoint exists
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (tmp_path / "early" / "checkpoint.safetensors").exists()
    again = run_cli(
        "train", "tictactoe", "--runs-dir", str(tmp_path), "--name", "early", check=False
    )
    _one_line_error(again, "already holds a run", f"--resume {tmp_path / 'early'}")
    resumed = cli_json("train", "--resume", str(tmp_path / "early"), "--iterations", "2")
    assert resumed["iterations"] == 2  # from scratch, the saved config
    _intact(tmp_path / "early")


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make `path` read-only: a read-only bind mount as root (root ignores permission
    bits), else the write bits removed."""
    if os.getuid() == 0:
        subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
            yield
        finally:
            subprocess.run(["umount", str(path)], check=True)
        return
    paths = [path, *path.rglob("*")]
    for p in paths:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        yield
    finally:
        for p in paths:
            p.chmod(p.stat().st_mode | 0o200)


def test_a_read_only_run_directory_ends_in_one_line(tmp_path):
    run_dir = _tiny_run(tmp_path, "ro", "train.rating_games=2")
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    with _read_only(run_dir):
        resume = run_cli("train", "--resume", str(run_dir), "--iterations", "4", check=False)
        table = run_cli("table", "--run", str(run_dir), check=False)
    _one_line_error(resume, f"{run_dir} is read-only")
    assert table.returncode == 0 and "main@2" in table.stdout  # reading needs no write access
    assert {p: p.read_bytes() for p in before} == before  # nothing saved was touched
    _intact(run_dir)


def test_an_unopenable_database_ends_in_one_line(tmp_path):
    run = tmp_path / "r"
    _tiny_run(tmp_path, "r")
    (run / "league.db").rename(run / "moved.db")
    (run / "league.db").mkdir()  # not a database file
    _one_line_error(run_cli("table", "--run", str(run), check=False), str(run / "league.db"))


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    from league.commands.cli import main
    from league.store import load_checkpoint

    overrides = [*tiny_overrides("tictactoe"), "train.iterations=2"]
    args = ["train", "tictactoe", "--runs-dir", str(tmp_path), "--name", "f", "--json"]
    assert main([*args, *_sets(overrides)]) == 0
    ckpt = tmp_path / "f" / "checkpoint.safetensors"
    saved = ckpt.read_bytes()
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # the disk fills up while a new checkpoint is written
        if ".checkpoint.safetensors." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(ckpt))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    capsys.readouterr()
    code = main(["train", "--resume", str(tmp_path / "f"), "--iterations", "4"])
    err = capsys.readouterr().err
    monkeypatch.undo()
    assert code == 2 and "No space left on device" in err and str(ckpt) in err
    assert len(err.strip().splitlines()) == 1, err
    assert ckpt.read_bytes() == saved  # the previous checkpoint, intact
    assert load_checkpoint(ckpt)["counters"]["iteration"] == 2
    assert not list((tmp_path / "f").glob(".checkpoint*.tmp"))  # no leftovers
    _intact(tmp_path / "f")


def test_a_config_that_is_not_utf8_ends_in_one_line(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("# caf\xe9\ngame: {name: tictactoe_v3}\n".encode("latin-1"))
    proc = run_cli("train", str(bad), "--runs-dir", str(tmp_path), check=False)
    _one_line_error(proc, str(bad), "not a UTF-8 text file", "0xe9")
    assert not (tmp_path / "latin1").exists()


def test_a_bad_set_value_names_the_flag_not_the_file(tmp_path):
    proc = run_cli(
        "train", "tictactoe", "--runs-dir", str(tmp_path), "--set", "train.envs=-3", check=False
    )
    _one_line_error(proc, "--set train.envs=-3", "'train.envs'")
    assert "tictactoe.yaml" not in proc.stderr


def test_an_env_that_always_raises_stops_with_one_message_and_a_checkpoint(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text(
        "game: {name: broken, env: 'tests.fixtures.flaky_game:always_raises'}\n"
        "train: {workers: 0, iterations: 3, steps_per_iteration: 32, envs: 2}\n"
    )
    proc = run_cli("train", str(config), "--runs-dir", str(tmp_path), check=False)
    _one_line_error(proc, "game 'broken'", "RuntimeError", "flaky_game.py")
    # One line per env error (no traceback in the terminal), then the one message.
    for line in proc.stderr.splitlines():
        assert line.startswith(("WARNING", "league: error:")), line
    run_dir = tmp_path / "broken"
    assert (run_dir / "checkpoint.safetensors").exists()
    assert "Traceback" in (run_dir / "league.log").read_text()  # the full one, in the run
    _intact(run_dir)


def test_a_flipped_checkpoint_byte_is_refused_on_resume(tmp_path):
    _tiny_run(tmp_path, "h")
    ckpt = tmp_path / "h" / "checkpoint.safetensors"
    data = bytearray(ckpt.read_bytes())
    data[-100] ^= 0x01  # inside the tensor bytes
    ckpt.write_bytes(bytes(data))
    proc = run_cli("train", "--resume", str(tmp_path / "h"), "--iterations", "3", check=False)
    _one_line_error(proc, str(ckpt), "sha256")
    _intact(tmp_path / "h")


def test_ray_start_up_chatter_stays_out_of_the_terminal(tmp_path):
    overrides = [o for o in tiny_overrides("tictactoe") if o != "train.workers=0"]
    proc = run_cli(
        "train",
        "tictactoe",
        "--runs-dir",
        str(tmp_path),
        "--workers",
        "1",
        "--json",
        *_sets(overrides),
    )
    assert "Started a local Ray instance" not in proc.stderr
    assert "Started a local Ray instance" in (tmp_path / "tictactoe" / "league.log").read_text()
    assert json.loads(proc.stdout)["workers"] == 1
