"""Soak test: stop the trainer at random moments (SIGKILL, SIGTERM), resume each time,
check the run.

Trains a small tic-tac-toe league in the driver (`--workers 0`, deterministic), stops
it with each signal of `--signals` at `--kills` random moments (uniform in
`--min`..`--max` seconds after each start), resumes it each time until it reaches
`--iterations`, then checks:

- the registry passes `pragma integrity_check`;
- every snapshot row's weights file exists and loads (hash verified), and no weights
  file lacks a row (orphans from a kill between the file and its row are reported);
- SIGKILL: the final counters (iterations, env steps, agent steps, episodes) equal
  those of the same config trained without interruption (resume replays from the
  last checkpoint, so the run is the same run);
- SIGTERM: each stop exits 143 with no traceback, its summary says how to resume, and
  its checkpoint holds every iteration the summary reports (`iterations_lost` is 0).
  The stop registers the policy of that moment as a snapshot, so the league, and the
  counters after it, differ from the uninterrupted run's: only the iteration count is
  compared.

With `--hangs`, a third run trains tug of war whose env `step()` never returns once in
`--hang-every` steps (`tests/fixtures/faulty_games.py:hangs_now_and_then`) on
`--hang-workers` workers with `train.rollout_timeout` `--hang-timeout`: with Ray workers
a hung worker is replaced and the run goes on (a share that hangs twice stops it with a
checkpoint); with `--hang-workers 0` each hang stops the run with a checkpoint and one
line. Each stop is resumed until `--hang-iterations`; then the same checks, and the
tally of timeouts (stops, worker restarts).

    python bench/soak.py [--kills 20] [--signals KILL TERM] [--iterations 400] [--seed 0]
                         [--hangs] [--hang-iterations 60] [--hang-every 400]
                         [--hang-timeout 10] [--hang-workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from league.store import Registry, load_checkpoint  # noqa: E402

OVERRIDES = [
    "train.workers=0",
    "train.steps_per_iteration=128",
    "train.envs=4",
    "train.snapshot_every=2",
    "train.checkpoint_every=3",
    "train.eval_every=4",
    "train.eval_episodes=4",
    "train.rating_games=2",
    "learner.ppo.minibatch_size=64",
    "learner.ppo.epochs=1",
]


def _league(*args: str, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    sets = [a for o in (*OVERRIDES, *extra) for a in ("--set", o)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "league", *args, *sets, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _counters(run_dir: Path) -> dict:
    state = load_checkpoint(run_dir / "checkpoint.safetensors")["counters"]
    return {k: state[k] for k in ("iteration", "env_steps", "agent_steps", "episodes")}


def _check(run_dir: Path) -> dict:
    with Registry(run_dir) as reg:
        rows = reg.snapshots()
        loadable = sum(bool(reg.load_snapshot(r["id"])) for r in rows)
        files = {p.stem for p in (run_dir / "weights").glob("*.safetensors")}
        hashes = {r["sha256"] for r in rows}
        return {
            "integrity_ok": reg.integrity_ok(),
            "snapshots": len(rows),
            "loadable": loadable,
            "orphan_weight_files": len(files - hashes),
            "rows_without_file": len(hashes - files),
        }


def _soak(runs: Path, signum: signal.Signals, args: argparse.Namespace) -> dict:
    """Stop a run with `signum` `args.kills` times, resuming each time; return the tally."""
    rng = np.random.default_rng(args.seed)
    total, name = str(args.iterations), f"soak_{signum.name.lower()}"
    stops = resumes = lost = 0
    start = time.monotonic()
    proc = _league("train", "tictactoe", "--runs-dir", str(runs), "--name", name,
                   "--iterations", total)  # fmt: skip
    while True:
        try:
            proc.wait(timeout=float(rng.uniform(args.min, args.max)))
        except subprocess.TimeoutExpired:
            if stops < args.kills:
                proc.send_signal(signum)
                stops += 1
        out, err = proc.communicate()
        if proc.returncode == 0:
            break
        if signum == signal.SIGKILL and proc.returncode != -signal.SIGKILL:
            sys.exit(f"the trainer failed (exit {proc.returncode}):\n{err}")
        if signum == signal.SIGTERM:
            if proc.returncode != 128 + signal.SIGTERM or "Traceback" in err:
                sys.exit(f"SIGTERM: exit {proc.returncode}, not 143:\n{err}")
            if out.strip():  # else stopped while starting up: nothing to keep yet
                summary = json.loads(out)
                assert summary["resume"] == f"league train --resume {runs / name}", summary
                lost += summary["iterations"] - _counters(runs / name)["iteration"]
        resumes += 1
        proc = _league("train", "--resume", str(runs / name), "--iterations", total)
    result = {
        "signal": signum.name,
        "stops": stops,
        "resumes": resumes,
        "seconds": round(time.monotonic() - start, 1),
        "final_counters": _counters(runs / name),
        **_check(runs / name),
    }
    if signum == signal.SIGTERM:
        result["iterations_lost"] = lost
    return result


def _soak_hangs(runs: Path, args: argparse.Namespace) -> dict:
    """Train a game that hangs now and then to `--hang-iterations`, resuming each stop."""
    config = runs / "hangs.yaml"
    config.write_text(
        "game: {name: hangs, env: 'tests.fixtures.faulty_games:hangs_now_and_then', "
        f"kwargs: {{every: {args.hang_every}, seconds: 3600}}}}\n"
    )
    extra = (f"train.workers={args.hang_workers}", f"train.rollout_timeout={args.hang_timeout}")
    total, run_dir = str(args.hang_iterations), runs / "hangs"
    stops, start = 0, time.monotonic()
    proc = _league("train", str(config), "--runs-dir", str(runs), "--iterations", total,
                   extra=extra)  # fmt: skip
    while True:
        out, err = proc.communicate()
        if proc.returncode == 0:
            break
        lines = [x for x in err.splitlines() if x.startswith("league: error:")]
        if proc.returncode != 2 or "rollout_timeout" not in err or len(lines) != 1:
            sys.exit(f"the trainer failed (exit {proc.returncode}):\n{err}")
        if "Traceback" in err:
            sys.exit(f"a traceback reached the terminal:\n{err}")
        stops += 1
        proc = _league("train", "--resume", str(run_dir), "--iterations", total, extra=extra)
    summary = json.loads(out)
    return {
        "workers": args.hang_workers,
        "rollout_timeout": args.hang_timeout,
        "hang_every": args.hang_every,
        "stops": stops,
        "worker_restarts": summary["worker_restarts"],
        "seconds": round(time.monotonic() - start, 1),
        "final_counters": _counters(run_dir),
        "finished": summary["iterations"] == args.hang_iterations,
        **_check(run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="stops per signal")
    parser.add_argument("--signals", nargs="*", default=["KILL", "TERM"], choices=["KILL", "TERM"])
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--min", type=float, default=2.0)
    parser.add_argument("--max", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hangs", action="store_true", help="add the run that hangs")
    parser.add_argument("--hang-iterations", type=int, default=60)
    parser.add_argument("--hang-every", type=int, default=400, help="env steps per hang")
    parser.add_argument("--hang-timeout", type=float, default=10.0)
    parser.add_argument("--hang-workers", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "soak.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        uninterrupted = None
        if args.signals:
            straight = _league("train", "tictactoe", "--runs-dir", tmp, "--name", "straight",
                               "--iterations", str(args.iterations))  # fmt: skip
            straight.communicate()
            uninterrupted = _counters(runs / "straight")
        results = [_soak(runs, signal.Signals[f"SIG{s}"], args) for s in args.signals]
        hangs = _soak_hangs(runs, args) if args.hangs else None
    for r in results:
        same = r["final_counters"] == uninterrupted
        if r["signal"] == "SIGTERM":
            same = r["final_counters"]["iteration"] == uninterrupted["iteration"]
        r["counters_equal"] = same
    out = {
        "machine": f"{platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}",
        "uninterrupted_counters": uninterrupted,
        "runs": results,
        **({"hangs": hangs} if hangs is not None else {}),
    }
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
