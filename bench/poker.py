"""Does a league, or a learner, lower exact exploitability? Leduc (or Kuhn) poker.

Trains one run per config and seed for the same wall-clock budget, one after the other,
and reads each snapshot's exact exploitability (NashConv / 2, chips; logged by training
for every snapshot of a game with a game tree) against env steps and seconds. At the
end of each run it also scores the population: the exploitability of the Nash mixture
over the exact payoff matrix of the run's snapshots, and of their uniform mixture, and
the mixtures of its last k snapshots only (an average of the late iterates).

The configs are five opponent mixes of the shipped learner (PPO, with its magnet where
the game's config has one) and two learners in pure self-play: `rnad` (R-NaD, its
averaged network snapshotted and scored) and `mmd` (PPO with MMD's moving magnet,
`learner.ppo.magnet_beta`: the magnet's weights move towards the policy's every update,
a parameter-space stand-in for rho <- rho^(1-beta) pi^beta, and no entropy bonus).
`--sweep-phase P.. --sweep-eta E..` adds an R-NaD run for each pair (`rnad_p{P}_e{E}`).

    python bench/poker.py [--game leduc_poker] [--minutes 10] [--seeds 0 1]
        [--iterations N] [--configs selfplay five pfsp league nash rnad mmd]
        [--runs-dir DIR] [--reuse]
        [--sweep-phase 250 1000 --sweep-eta 0.05 0.2]
        [--out bench/results/poker_leduc.json] [--set key.path=value ...]
    python bench/poker.py --tails RUN_DIR [RUN_DIR ...]   # late mixtures of finished runs

Run it alone on the machine: the budget is wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from throughput import calibrated, machine  # bench/ is on sys.path when this script runs

from league.config import load_config
from league.evaluation.arena import Arena
from league.evaluation.exact import exact_game, exploitability_report, league_snapshots
from league.store import Registry, new_run
from league.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
RNAD = ["league.p_latest=1.0", "learner.algo=rnad", "learner.ent_coef=0"]
"""R-NaD in pure self-play (its regularised game is played against itself)."""
CONFIGS = {
    "selfplay": ["league.p_latest=1.0"],
    "five": ["league.p_latest=0.8", "league.history=quality"],
    "pfsp": ["league.p_latest=0.5", "league.history=pfsp"],
    "league": [
        "league.p_latest=0.8",
        "league.history=quality",
        "league.agents.main_exploiters=1",
        "league.agents.league_exploiters=1",
    ],
    "nash": ["league.p_latest=0.5", "league.history=nash"],
    "rnad": RNAD,
    "mmd": [
        "league.p_latest=1.0",
        "learner.algo=ppo",
        "learner.ent_coef=0",
        "learner.ppo.magnet_coef=1.0",
        "learner.ppo.magnet_beta=0.05",
    ],
}
"""Each compared config: overrides of the game's shipped config."""


def rnad_sweep(phases: list[int], etas: list[float]) -> dict[str, list[str]]:
    """An R-NaD config for each (phase_steps, eta) pair."""
    return {
        f"rnad_p{p}_e{e:g}": [*RNAD, f"learner.rnad.phase_steps={p}", f"learner.rnad.eta={e}"]
        for p in phases
        for e in etas
    }


def train(game: str, name: str, overrides: list[str], args: argparse.Namespace) -> dict:
    """Train one run for `args.minutes` (or reuse a finished one); return its summary."""
    run_dir = args.runs_dir / name
    if args.reuse and (run_dir / "checkpoint.safetensors").exists():
        return {"run_dir": str(run_dir), "reused": True}
    config = load_config(
        ROOT / "configs" / f"{game}.yaml",
        [*overrides, *budget(args)],
    ).model_copy(update={"name": name})
    trainer = Trainer(config, new_run(config, args.runs_dir))
    with calibrated() as speeds:
        try:
            summary = trainer.train()
        finally:
            trainer.close()
    if summary.get("interrupted"):
        # A run a signal stopped early is not a run of the budget: record nothing.
        raise SystemExit(f"{name}: stopped by {summary['stopped_by']}; {summary['resume']}")
    return {
        **{k: summary[k] for k in ("run_dir", "iterations", "env_steps", "seconds")},
        "calibration": speeds,
    }


def budget(args: argparse.Namespace) -> list[str]:
    """A run's budget: `--iterations` (env steps; what a pilot on a shared machine can
    compare), else `--minutes` of wall-clock time."""
    if args.iterations:
        return [f"train.iterations={args.iterations}"]
    return ["train.iterations=1000000", f"train.max_minutes={args.minutes}"]


def curve(run_dir: Path) -> list[dict]:
    """Every main snapshot's env steps, seconds since the run began and exploitability."""
    with Registry(run_dir) as reg:
        start = float(reg.get_meta("created"))
        scores = reg.scores("exploitability")
        return [
            {
                "id": s["id"],
                "env_steps": s["env_steps"],
                "seconds": round(s["created"] - start, 1),
                "exploitability": scores.get(s["id"]),
            }
            for s in reg.snapshots(kind="main")
        ]


TAILS = (1, 2, 5, 10, 20, 40, 80)
"""How many of a run's last snapshots `tail_mixtures` averages."""


def tail_mixtures(run_dir: Path) -> dict[str, float]:
    """The exact exploitability of the uniform mixture of the run's last k league
    snapshots (each weighted by its own reach), for each k of TAILS the run has."""
    arena = Arena.open(run_dir, None, read_only=True)
    try:
        exact, registry = exact_game(arena), arena.registry
        ids = league_snapshots(registry)[-max(TAILS) :]
        tables = [exact.table_of(registry.load_snapshot(sid)) for sid in ids]
    finally:
        arena.close()
    return {
        str(k): exact.exploitability(exact.mixture(tables[-k:], np.full(k, 1.0 / k)))
        for k in TAILS
        if k <= len(tables)
    }


def plot(results: dict, out: Path) -> None:
    """Exploitability against env steps and seconds, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = dict(zip(results["configs"], cycle, strict=False))
    for run in results["runs"]:
        points = [p for p in run["curve"] if p["exploitability"] is not None]
        style = "-" if run["seed"] == results["seeds"][0] else "--"
        for ax, x in zip(axes, ("env_steps", "seconds"), strict=True):
            ax.plot(
                [p[x] for p in points],
                [p["exploitability"] for p in points],
                style,
                color=colours.get(run["config"]),
                label=f"{run['config']} seed {run['seed']}",
            )
    for ax, x in zip(axes, ("env steps", "seconds"), strict=True):
        ax.set_xlabel(x)
        ax.set_ylabel("exploitability of the latest snapshot (chips)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{results['game']}: exact exploitability, {results['minutes']} min per run")
    fig.tight_layout()
    fig.savefig(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="leduc_poker", choices=["leduc_poker", "kuhn_poker"])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--iterations", type=int, default=None, help="instead of --minutes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--sweep-phase", type=int, nargs="+", default=[])
    parser.add_argument("--sweep-eta", type=float, nargs="+", default=[])
    parser.add_argument("--runs-dir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--tails", type=Path, nargs="+", metavar="RUN_DIR", default=None)
    args = parser.parse_args()
    if args.tails:
        tails = {str(run): tail_mixtures(run) for run in args.tails}
        print(json.dumps(tails, indent=1))
        return
    args.runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="poker_"))
    out = args.out or ROOT / "bench" / "results" / f"poker_{args.game}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if bool(args.sweep_phase) != bool(args.sweep_eta):
        parser.error("--sweep-phase and --sweep-eta go together")
    arms = {name: CONFIGS[name] for name in args.configs}
    arms |= rnad_sweep(args.sweep_phase, args.sweep_eta)
    if not arms:
        parser.error("no configs to run: name --configs or a sweep")
    first = next(iter(arms.values()))  # the machine as the first run's config sees it
    config = load_config(ROOT / "configs" / f"{args.game}.yaml", [*first, *args.overrides])
    results = {
        "game": args.game,
        "minutes": args.minutes,
        "seeds": args.seeds,
        "overrides": args.overrides,
        "machine": machine(config),
        "runs": [],
    }
    results["configs"] = arms
    for seed in args.seeds:
        for name, arm in arms.items():
            run_name = f"{args.game}_{name}_s{seed}"
            overrides = [*arm, *args.overrides, f"seed={seed}"]
            summary = train(args.game, run_name, overrides, args)
            run_dir = args.runs_dir / run_name
            pop = exploitability_report(run_dir, ["all"])
            points = curve(run_dir)
            run = {
                "config": name,
                "seed": seed,
                "overrides": overrides,
                "summary": summary,
                "curve": points,
                "latest": points[-1]["exploitability"],
                "best": min(p["exploitability"] for p in points),
                "nash_mixture": pop["nash_mixture"]["exploitability"],
                "uniform_mixture": pop["uniform_mixture"]["exploitability"],
                "tail_mixtures": tail_mixtures(run_dir),
            }
            results["runs"].append(run)
            print(
                f"{run_name}: latest {run['latest']:.4f}, best {run['best']:.4f}, Nash "
                f"mixture {run['nash_mixture']:.4f}, uniform {run['uniform_mixture']:.4f} "
                f"({summary.get('env_steps', 0):,} env steps)",
                flush=True,
            )
            out.write_text(json.dumps(results, indent=1))
    plot(results, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
