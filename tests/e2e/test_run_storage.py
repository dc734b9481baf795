"""A run's storage through the real CLI: a full disk, a read-only run, and the weights
files a rollback leaves.

The disks are real: a small tmpfs mounted as the runs directory (or as a run's `tb/`),
and a read-only bind mount of a run. Mounting needs root, as CI runs; elsewhere these
tests fail, saying so, rather than pass without checking anything.
"""

from __future__ import annotations

import contextlib
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
from league.store import Registry, load_checkpoint

pytestmark = pytest.mark.slow

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
ERROR = "league: error:"


def _sets(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


def _mount(*args: str) -> None:
    assert os.geteuid() == 0, "these tests mount file systems: run them as root, as CI does"
    subprocess.run(["mount", *args], check=True, capture_output=True)


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (made if missing) while the block runs."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """`path` as a read-only bind mount of itself (root ignores permission bits)."""
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


def _one_error_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The command failed with exit 2 and printed exactly one line, the error, which
    holds every needle; return it."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERROR), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _check_kept(run_dir: Path, line: str) -> None:
    """What the error line says was kept is what the run holds, and it is intact: the
    checkpoint loads, the registry passes its integrity check, every snapshot loads,
    and weights/ holds one file per snapshot."""
    iteration = load_checkpoint(run_dir / "checkpoint.safetensors")["counters"]["iteration"]
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
        rows = reg.snapshots()
        for row in rows:
            assert reg.load_snapshot(row["id"])
    assert f"kept intact: the checkpoint of iteration {iteration} " in line, line
    assert f"the registry's {len(rows)} snapshots" in line, line
    assert f"league train --resume {run_dir} continues from there" in line, line
    assert len(list((run_dir / "weights").iterdir())) == len({r["file"] for r in rows})


def _train(runs_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    """A tic-tac-toe run that would train for long, a snapshot and checkpoint each
    iteration."""
    overrides = [*tiny_overrides("tictactoe"), "train.iterations=100000", *extra]
    args = ["train", "tictactoe", "--runs-dir", str(runs_dir), "--name", "t", "--json"]
    return run_cli(*args, *_sets(overrides), check=False)


def test_a_full_disk_ends_in_one_line_naming_the_file_and_what_was_kept(tmp_path):
    with _tmpfs(tmp_path / "runs", "3m") as runs:
        proc = _train(runs)
        line = _one_error_line(proc, "No space left on device", f"{runs / 't'}/")
        assert "Traceback" not in proc.stderr and "Exception in thread" not in proc.stderr
        _check_kept(runs / "t", line)


def test_a_full_tensorboard_folder_ends_in_one_line_with_no_writer_thread_traceback(tmp_path):
    """TensorBoard's events are written on a thread of tensorboard's: its failure is
    reported once, naming the event file, and the run keeps its checkpoint."""
    runs = tmp_path / "runs"
    with _tmpfs(runs / "t" / "tb", "12k"):
        proc = _train(runs, "train.snapshot_every=5", "train.checkpoint_every=5")
        line = _one_error_line(
            proc, f"{runs / 't' / 'tb'}/events.out.tfevents.", ": No space left on device;"
        )
    _check_kept(runs / "t", line)
    assert "Traceback" in (runs / "t" / "league.log").read_text()  # the full one, in the run


# ---------------------------------------------------------------- a read-only run


def _tiny_run(runs_dir: Path, game: str, name: str) -> Path:
    overrides = [*tiny_overrides(game), "train.rating_games=2"]
    cli_json("train", game, "--runs-dir", str(runs_dir), "--name", name, *_sets(overrides))
    return runs_dir / name


def _files(run_dir: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def test_every_reading_command_works_on_a_read_only_run(tmp_path):
    ttt, kuhn = _tiny_run(tmp_path, "tictactoe", "ttt"), _tiny_run(tmp_path, "kuhn_poker", "k")
    before = {**_files(ttt), **_files(kuhn)}
    with _read_only(ttt), _read_only(kuhn):
        table = cli_json("table", "--run", str(ttt))
        ev = run_cli("eval", "latest", "random", "--run", str(ttt), "--games", "4", "--json")
        replay = cli_json(
            "replay", "latest", "random", "--run", str(ttt), "--out", str(tmp_path / "m.gif")
        )
        onnx = cli_json("export", "--run", str(ttt), "--out", str(tmp_path / "p.onnx"))
        moves = "".join(f"{cell}\n" for cell in range(1, 10))
        play = run_cli("play", "random", "--run", str(ttt), input=moves)
        exact = cli_json("exploitability", "all", "--run", str(kuhn))
        policy = cli_json(
            "export",
            "mixture:nash",
            "--run",
            str(kuhn),
            "--format",
            "table",
            "--out",
            str(tmp_path / "nash.json"),
        )
    assert {"random", "scripted", "main@1", "main@2"} <= {r["player"] for r in table["leaderboard"]}
    assert json.loads(ev.stdout)["games"] == 4 and json.loads(ev.stdout)["recorded"] is False
    assert ev.stderr.strip() == f"{ttt} is read-only: these games are not recorded"
    assert replay["a"] == "main@2" and (tmp_path / "m.gif").stat().st_size > 0
    assert onnx["game"] == "tictactoe_v3" and (tmp_path / "p.onnx").stat().st_size > 0
    assert f"{ttt} is read-only: the game is not recorded" in play.stdout
    assert len(exact["snapshots"]) == 2 and "nash_mixture" in exact
    assert policy["states"] > 0
    assert {**_files(ttt), **_files(kuhn)} == before  # nothing made, nothing changed


def test_commands_that_write_refuse_a_read_only_run_naming_it(tmp_path):
    run = _tiny_run(tmp_path, "tictactoe", "ttt")
    before = _files(run)
    with _read_only(run):
        resume = run_cli("train", "--resume", str(run), "--iterations", "4", check=False)
        tournament = run_cli("tournament", "--run", str(run), "--games", "2", check=False)
        exploit = run_cli("exploit", "--run", str(run), "--iterations", "1", check=False)
    for proc in (resume, tournament, exploit):
        _one_error_line(proc, f"{run} is read-only")
    assert "training writes" in resume.stderr
    assert _files(run) == before


# ---------------------------------------------------------------- rollback


def test_a_rollback_leaves_one_weights_file_per_snapshot(tmp_path):
    """SIGKILL after snapshots newer than the checkpoint: resuming rolls them back, and
    their weights files go with them."""
    run_dir = tmp_path / "t"
    overrides = [
        *tiny_overrides("tictactoe"),
        "train.iterations=100000",
        "train.snapshot_every=1",
        "train.checkpoint_every=4",
    ]
    args = ["train", "tictactoe", "--runs-dir", str(tmp_path), "--name", "t", *_sets(overrides)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "league", *args],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = run_dir / "checkpoint.safetensors"
    try:
        deadline = time.monotonic() + 240
        while True:  # a snapshot two iterations past the checkpoint; the next is 4 after
            assert proc.poll() is None and time.monotonic() < deadline
            if ckpt.exists():
                checkpointed = load_checkpoint(ckpt)["counters"]["iteration"]
                with Registry(run_dir) as reg:
                    newest = max((s["iteration"] for s in reg.snapshots()), default=0)
                if newest >= checkpointed + 2:
                    break
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    checkpointed = load_checkpoint(ckpt)["counters"]["iteration"]
    with Registry(run_dir) as reg:
        assert max(s["iteration"] for s in reg.snapshots()) > checkpointed
    assert len(list((run_dir / "weights").iterdir())) > checkpointed  # files to roll back

    out = cli_json("train", "--resume", str(run_dir), "--iterations", str(checkpointed))
    assert out["iterations"] == checkpointed
    with Registry(run_dir) as reg:
        rows = reg.snapshots()
        assert [s["iteration"] for s in rows] == list(range(1, checkpointed + 1))
        assert all(reg.load_snapshot(s["id"]) for s in rows)
    files = {f"weights/{p.name}" for p in (run_dir / "weights").iterdir()}
    assert files == {s["file"] for s in rows}
    assert len(files) == len(rows)
