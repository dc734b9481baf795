"""SIGTERM (what `timeout`, `docker stop`, Kubernetes and batch schedulers send) stops
every long command as Ctrl-C does: cleanly, with no traceback, keeping what was saved."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, cli_json, run_cli, tiny_overrides
from league.store import EXPLOIT_DIR, Registry, load_checkpoint

pytestmark = pytest.mark.slow

NATIVE_DUMP = "SIGTERM received"  # Ray's native handler: a stack dump, then abort (134)


def _sets(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


def _start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "league", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has installed a SIGTERM handler (its SigCgt mask in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) >> (signal.SIGTERM - 1) & 1)


def _wait(proc: subprocess.Popen, ready, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before {what}:\n{proc.stderr.read()}")
        assert time.monotonic() < deadline, f"never reached {what}"
        time.sleep(0.2)


def _snapshotted(run_dir: Path, iteration: int) -> bool:
    """Whether the run's registry holds a snapshot of `iteration` or later: training got
    that far (a fixed sleep is not enough on a loaded machine)."""
    if not (run_dir / "league.db").exists():
        return False
    try:
        with Registry(run_dir, read_only=True) as reg:
            return any(s["iteration"] >= iteration for s in reg.snapshots())
    except Exception:  # the database is still being created
        return False


def _terminate(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        proc.send_signal(signal.SIGTERM)
        return proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()


def _clean(proc: subprocess.Popen, err: str) -> None:
    assert proc.returncode == 143, err
    assert "Traceback" not in err and NATIVE_DUMP not in err, err


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "ray-workers"])
def test_sigterm_checkpoints_releases_the_lock_and_exits_143(workers, tmp_path):
    run_dir = tmp_path / "term"
    overrides = [
        *tiny_overrides("tictactoe"),
        f"train.workers={workers}",
        "train.iterations=100000",
        "train.checkpoint_every=100000",
        "train.eval_every=0",
        "train.snapshot_every=2",
        "train.rating_games=0",
    ]
    proc = _start("train", "tictactoe", "--runs-dir", str(tmp_path), "--name", "term", "--json",
                  *_sets(overrides))  # fmt: skip
    _wait(proc, lambda: _snapshotted(run_dir, 2), "its second iteration")
    out, err = _terminate(proc)
    _clean(proc, err)
    stopped = json.loads(out)
    assert stopped["interrupted"] and stopped["stopped_by"] == "SIGTERM"
    assert stopped["resume"] == f"league train --resume {run_dir}"
    # The exit checkpoint holds whole iterations only, as many as the summary says.
    saved = load_checkpoint(run_dir / "checkpoint.safetensors")["counters"]
    assert saved["iteration"] == stopped["iterations"] >= 1
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
    # The lock is released and Ray shut down: the run resumes at once, and finishes.
    more = cli_json("train", "--resume", str(run_dir), "--iterations",
                    str(stopped["iterations"] + 1), *_sets(["train.workers=0"]))  # fmt: skip
    assert more["iterations"] == stopped["iterations"] + 1 and not more["interrupted"]


def test_an_interrupted_run_says_how_to_continue(tmp_path):
    overrides = [*tiny_overrides("tictactoe"), "train.iterations=100000", "train.eval_every=0"]
    run_dir = tmp_path / "hint"
    proc = _start("train", "tictactoe", "--runs-dir", str(tmp_path), "--name", "hint",
                  *_sets(overrides))  # fmt: skip
    _wait(proc, lambda: _snapshotted(run_dir, 1), "its first iteration")
    _out, err = _terminate(proc)
    _clean(proc, err)
    assert f"Continue with: league train --resume {run_dir}" in err


@pytest.fixture(scope="session")
def ttt_run(tmp_path_factory):
    """A tiny tic-tac-toe run with a few snapshots."""
    tmp = tmp_path_factory.mktemp("stops")
    cli_json("train", "tictactoe", "--runs-dir", str(tmp), "--name", "ttt", "--iterations", "4",
             *_sets(tiny_overrides("tictactoe")))  # fmt: skip
    return tmp / "ttt"


def test_sigterm_stops_league_exploit_keeping_the_best_response(ttt_run):
    with Registry(ttt_run) as reg:
        before = len(reg.snapshots())
    proc = _start("exploit", "--run", str(ttt_run), "--target", "latest", "--iterations",
                  "100000", "--games", "10")  # fmt: skip
    first = proc.stdout.readline()  # the first scoring: the loop is running
    assert first.startswith("iteration"), first + proc.stderr.read()
    out, err = _terminate(proc)
    _clean(proc, err)
    assert "stopped" in out and "SIGTERM" in out, out
    assert f"league exploit --run {ttt_run} --resume continues it" in out, out
    with Registry(ttt_run) as reg:
        assert reg.integrity_ok()
        responses = [s for s in reg.snapshots() if s["kind"] == "best_response"]
        assert len(reg.snapshots()) > before and responses


@pytest.mark.parametrize("command", ["eval", "tournament"])
def test_sigterm_stops_a_long_evaluation_with_one_line(command, ttt_run):
    if command == "eval":
        args = ["eval", "--run", str(ttt_run), "latest", "random", "--games", "10000000"]
    else:
        args = ["tournament", "--run", str(ttt_run), "--games", "1000000"]
    proc = _start(*args)
    _wait(proc, lambda: _catches_sigterm(proc.pid), "its SIGTERM handler")
    time.sleep(3)  # well into the games
    out, err = _terminate(proc)
    _clean(proc, err)
    assert err.strip().splitlines()[-1] == "league: stopped by SIGTERM", err
    with Registry(ttt_run) as reg:
        assert reg.integrity_ok()
    # What was saved stays readable.
    assert run_cli("table", "--run", str(ttt_run)).returncode == 0


def test_league_exploit_killed_by_sigkill_and_resumed_ends_as_an_unkilled_one(ttt_run, tmp_path):
    # Two copies of the run: one best response trains straight through; the other is
    # killed (SIGKILL: no handler, no final checkpoint) after its first scoring and resumed.
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    for copy in (straight, killed):
        shutil.copytree(ttt_run, copy)
        shutil.rmtree(copy / EXPLOIT_DIR, ignore_errors=True)  # another test's stopped one
    args = ("--target", "latest", "--iterations", "7", "--score-every", "3", "--games", "20",
            "--seed", "5")  # fmt: skip
    expected = cli_json("exploit", "--run", str(straight), *args)
    proc = _start("exploit", "--run", str(killed), *args)
    first = proc.stdout.readline()  # its first scoring, checkpointed before it is printed
    assert first.startswith("iteration 3:"), first + proc.stderr.read()
    proc.kill()
    proc.communicate(timeout=60)
    assert list((killed / EXPLOIT_DIR).glob("*.safetensors")), "no checkpoint to resume"
    resumed = cli_json("exploit", "--run", str(killed), "--resume")

    for key in ("target", "agent", "iterations", "env_steps", "score", "wins", "draws", "curve"):
        assert resumed[key] == expected[key], key
    assert resumed["iterations"] == 7 and resumed["stopped_by"] is None
    assert not list((killed / EXPLOIT_DIR).glob("*.safetensors"))  # finished: none left
    digests = []
    for run in (straight, killed):
        with Registry(run) as reg:
            assert reg.integrity_ok()
            rows = reg.snapshots(kind="best_response")
            digests.append([(r["iteration"], r["sha256"]) for r in rows])
    assert digests[0] == digests[1]  # the same weights at every scoring, none twice


def test_league_exploit_resume_needs_an_unfinished_best_response(ttt_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(ttt_run, run)
    shutil.rmtree(run / EXPLOIT_DIR, ignore_errors=True)  # another test's stopped one
    proc = run_cli("exploit", "--run", str(run), "--resume", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "no unfinished best response to resume" in proc.stderr
    assert "Traceback" not in proc.stderr
