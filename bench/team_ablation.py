"""Do OpenAI Five's team features pay in battle? Each arm is `league train
configs/battle.yaml` with one feature changed, for the same number of iterations
(each learns the same agent-steps, and learning is most of an iteration's cost, so arms
get about the same wall clock), on each seed; every snapshot is then scored on the team
panel (bench/team_panel.py: a rating against the scripted teams, random = 0).

| arm          | what changes from the shipped config                           |
|--------------|----------------------------------------------------------------|
| shipped      | nothing: tau 0, shaped reward, gamma annealed, 80/20           |
| tau_anneal   | team spirit annealed 0.3 -> 1 over the first 2/3, as Five did  |
| tau_1        | team spirit 1 throughout (every agent paid the team's mean)    |
| env_reward   | the env's reward only (no damage or proximity shaping)     |
| gamma_fixed  | the discount fixed at the shipped schedule's end value         |
| latest_only  | self-play against the latest policy only (p_latest 1.0)        |

With `--iterations N` below the config's, every schedule's length (gamma, tau) is scaled
by the same factor, so each arm anneals over its run as the shipped config does over its.
A run already finished in `--out` is scored again, not retrained.

    python bench/team_ablation.py [--iterations 150] [--seeds 0 1] [--arms shipped tau_anneal]
        [--snapshot-every 25] [--games 20] [--workers 0] [--out bench/results/team_ablation]

Scoring is most of the cost past training: each snapshot plays `--games` games against
each of the 4 panel members (a game lasts up to `max_cycles` 300 steps); `--workers`
gives both the training runs and the scoring Ray workers.

Writes OUT/results.json (every snapshot's figures), OUT/table.md (each arm's final
snapshot, both seeds) and OUT/rating.png (panel rating against env steps).
Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import team_panel  # noqa: E402

CONFIG = ROOT / "configs" / "battle.yaml"
ARMS: dict[str, list[str]] = {
    "shipped": [],
    "tau_anneal": ["reward.tau={start: 0.3, end: 1.0, steps: 200}"],
    "tau_1": ["reward.tau={start: 1.0, end: 1.0}"],
    "env_reward": ["reward.weights={env: 1.0}"],
    "gamma_fixed": ["gamma={start: 0.99, end: 0.99}"],
    "latest_only": ["league.p_latest=1.0"],
}
"""Arm -> its `--set` overrides of configs/battle.yaml."""
SCHEDULES = ("gamma", "reward.tau")
"""The config's schedules whose length `--iterations` scales."""


def scaled_schedules(iterations: int, arm: Sequence[str] = ()) -> list[str]:
    """Overrides that stretch the schedules of the config with an arm's overrides `arm`
    to a run of `iterations` (they come after the arm's)."""
    from league.config import load_config

    config = load_config(CONFIG, list(arm))
    factor = iterations / config.train.iterations
    out = []
    for key in SCHEDULES:
        node: Any = config
        for part in key.split("."):
            node = getattr(node, part)
        if node.steps:
            out.append(f"{key}.steps={max(1, round(node.steps * factor))}")
    return out


def train_arm(
    arm: str, seed: int, *, iterations: int, snapshot_every: int, workers: int, runs: Path
) -> Path:
    """Train one arm on one seed with the real CLI (skipped if already finished)."""
    name = f"{arm}_s{seed}"
    run_dir = runs / name
    if _finished(run_dir, iterations):
        return run_dir
    overrides = [
        f"name={name}",
        f"seed={seed}",
        f"train.iterations={iterations}",
        f"train.snapshot_every={snapshot_every}",
        f"train.workers={workers}",
        *ARMS[arm],
        *scaled_schedules(iterations, ARMS[arm]),
    ]
    cmd = [sys.executable, "-m", "league", "train", str(CONFIG), "--runs-dir", str(runs)]
    for item in overrides:
        cmd += ["--set", item]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.monotonic()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"{name}: trained {iterations} iterations in {time.monotonic() - t:.0f} s", flush=True)
    return run_dir


def _finished(run_dir: Path, iterations: int) -> bool:
    """Whether the run holds a main snapshot of its last iteration."""
    if not (run_dir / "league.db").exists():
        return False
    from league.store import Registry

    with Registry(run_dir, read_only=True) as registry:
        row = registry.latest_snapshot(kind="main")
    return row is not None and row["iteration"] >= iterations


def score_run(
    run_dir: Path, ratings: dict[str, float], *, games: int, workers: int
) -> list[dict[str, Any]]:
    """Every main snapshot of a run on the team panel, oldest first."""
    arena = team_panel.open_arena(run_dir)
    try:
        rows = []
        for snap in arena.registry.snapshots(kind="main"):
            row = team_panel.score_battle(
                arena, str(snap["id"]), ratings, games=games, workers=workers
            )
            rows.append({"iteration": snap["iteration"], "env_steps": snap["env_steps"], **row})
        return rows
    finally:
        arena.close()


def table(results: dict[str, dict[int, list[dict[str, Any]]]]) -> str:
    """Markdown: each arm's final snapshot per seed (rating with its interval, the score
    against each member, the kill ratio and agents alive against the strongest)."""
    members = team_panel.panel_members(team_panel.BATTLE)
    strongest = members[-1]
    head = ["arm", "seed", "env steps", "panel rating (95% CI)", *members]
    head += [f"kill ratio vs {strongest}", f"alive at end vs {strongest}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm, seeds in results.items():
        for seed, rows in seeds.items():
            last = rows[-1]
            low, high = last["rating_95ci"]
            rating = (
                f"{last['rating']:.0f} ({low:.0f} to {high:.0f})"
                if last["bounded"]
                else ("won every game" if last["rating"] > 0 else "lost every game")
            )
            s = last["scores"]
            cells = [arm, str(seed), f"{last['env_steps']:,}", rating]
            cells += [f"{s[m]['score']:.2f}" for m in members]
            cells += [f"{s[strongest]['kill_ratio']:.2f}", f"{s[strongest]['alive_end']:.1f}"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(results: dict[str, dict[int, list[dict[str, Any]]]], path: Path) -> None:
    """Panel rating (95% CI bands) against env steps, one colour per arm, a line style
    per seed; a snapshot with no finite rating (it won or lost every game) is left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    styles = ["-", "--", ":", "-."]
    for i, (arm, seeds) in enumerate(results.items()):
        colour = f"C{i}"
        for j, (seed, rows) in enumerate(seeds.items()):
            rows = [r for r in rows if r["bounded"]]
            if not rows:
                continue
            x = [r["env_steps"] for r in rows]
            low = [r["rating_95ci"][0] for r in rows]
            high = [r["rating_95ci"][1] for r in rows]
            label = f"{arm} (seed {seed})"
            ax.plot(x, [r["rating"] for r in rows], styles[j % 4], color=colour, label=label)
            ax.fill_between(x, low, high, color=colour, alpha=0.1)
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set_xlabel("env steps")
    ax.set_ylabel("team panel rating (random = 0)")
    ax.set_title("battle_v4: Five's team features, each ablated")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(
    arms: Sequence[str],
    seeds: Sequence[int],
    *,
    iterations: int,
    snapshot_every: int,
    games: int,
    workers: int,
    out: Path,
) -> dict[str, Any]:
    """Train every arm on every seed, score each snapshot, write the table and plot."""
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise SystemExit(f"unknown arms {unknown}; arms: {', '.join(ARMS)}")
    ratings = team_panel.load_ratings()
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for arm in arms:
        for seed in seeds:
            run_dir = train_arm(
                arm,
                seed,
                iterations=iterations,
                snapshot_every=snapshot_every,
                workers=workers,
                runs=out / "runs",
            )
            rows = score_run(run_dir, ratings, games=games, workers=workers)
            results.setdefault(arm, {})[seed] = rows
            last = rows[-1]
            print(f"{arm} seed {seed}: final rating {last['rating']:.0f}", flush=True)
    summary = {
        "machine": _machine(),
        "config": str(CONFIG.relative_to(ROOT)),
        "iterations": iterations,
        "snapshot_every": snapshot_every,
        "games_per_member": games,
        "panel_ratings": ratings,
        "arms": {a: ARMS[a] for a in arms},
        "results": results,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    (out / "table.md").write_text(table(results))
    plot(results, out / "rating.png")
    return summary


def _machine() -> str:
    """The machine line of bench/throughput.py, with the config's device and precision."""
    import throughput

    from league.config import load_config

    return throughput.machine(load_config(CONFIG))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", nargs="+", default=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--iterations", type=int, default=150, help="per arm and seed")
    parser.add_argument(
        "--snapshot-every", type=int, default=25, help="the curve's points (each one scored)"
    )
    parser.add_argument("--games", type=int, default=20, help="games per panel member")
    parser.add_argument("--workers", type=int, default=0, help="rollout workers per run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "team_ablation"))
    args = parser.parse_args()
    summary = run(
        args.arms,
        args.seeds,
        iterations=args.iterations,
        snapshot_every=min(args.snapshot_every, args.iterations),
        games=args.games,
        workers=args.workers,
        out=Path(args.out),
    )
    print((Path(args.out) / "table.md").read_text())
    print(f"{len(summary['results'])} arms; figures in {args.out}")


if __name__ == "__main__":
    main()
