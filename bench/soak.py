"""Soak test: SIGKILL the trainer at random moments, resume each time, check the run.

Trains a small tic-tac-toe league in the driver (`--workers 0`, deterministic), kills
it with SIGKILL at `--kills` random moments (uniform in `--min`..`--max` seconds after
each start), resumes it each time until it reaches `--iterations`, then checks:

- the registry passes `pragma integrity_check`;
- every snapshot row's weights file exists and loads (hash verified), and no weights
  file lacks a row (orphans from a kill between the file and its row are reported);
- the final counters (iterations, env steps, agent steps, episodes) equal those of
  the same config trained without interruption.

    python bench/soak.py [--kills 20] [--iterations 400] [--seed 0] [--out bench/soak.json]
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


def _league(*args: str) -> subprocess.Popen:
    sets = [a for o in OVERRIDES for a in ("--set", o)]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--min", type=float, default=2.0)
    parser.add_argument("--max", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "soak.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    total = str(args.iterations)
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        straight = _league(
            "train", "tictactoe", "--runs-dir", tmp, "--name", "straight", "--iterations", total
        )
        straight.communicate()
        kills, resumes, start = 0, 0, time.monotonic()
        proc = _league(
            "train", "tictactoe", "--runs-dir", tmp, "--name", "soak", "--iterations", total
        )
        while True:
            try:
                proc.wait(timeout=float(rng.uniform(args.min, args.max)))
            except subprocess.TimeoutExpired:
                if kills < args.kills:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    kills += 1
                else:
                    proc.wait()
            if proc.returncode == 0:
                break
            if proc.returncode != -signal.SIGKILL:
                sys.exit(f"the trainer failed (exit {proc.returncode}):\n{proc.communicate()[1]}")
            resumes += 1
            proc = _league("train", "--resume", str(runs / "soak"), "--iterations", total)
        result = {
            "machine": f"{platform.processor() or platform.machine()}, Python "
            f"{platform.python_version()}",
            "kills": kills,
            "resumes": resumes,
            "seconds": round(time.monotonic() - start, 1),
            "final_counters": _counters(runs / "soak"),
            "uninterrupted_counters": _counters(runs / "straight"),
            **_check(runs / "soak"),
        }
        result["counters_equal"] = result["final_counters"] == result["uninterrupted_counters"]
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
