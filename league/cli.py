"""The `league` command line: train, games."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from league.config import ConfigError, find_config, load_config

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _progress(total: int, start: int, *, enabled: bool):
    """Build the terminal progress bar (rich), writing to stderr."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]iter"),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn("{task.fields[steps]} env steps"),
        TextColumn("{task.fields[sps]} steps/s"),
        TextColumn("vs random {task.fields[wr]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
    task = progress.add_task("train", total=total, completed=start, steps="0", sps="-", wr="-")
    return progress, task


def cmd_train(args: argparse.Namespace) -> int:
    """Start or resume a run."""
    from league.games import resolve_game
    from league.train import Trainer, load_run_config, new_run

    overrides = list(args.set or [])
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.iterations is not None:
        overrides.append(f"train.iterations={args.iterations}")
    if args.workers is not None:
        overrides.append(f"train.workers={args.workers}")
    if args.envs_per_worker is not None:
        overrides.append(f"train.envs={args.envs_per_worker}")
    if args.resume:
        run_dir = Path(args.resume)
        config = load_run_config(run_dir, overrides)
    else:
        path = find_config(args.config)
        config = load_config(path, overrides)
        if args.name:
            config = config.model_copy(update={"name": args.name})
        resolve_game(config, source=str(path)).info()  # fail before creating the run
        run_dir = new_run(config, Path(args.runs_dir))
    trainer = Trainer(config, run_dir, resume=bool(args.resume), address=args.address)
    total = config.train.iterations
    progress, task = _progress(total, trainer.counters.iteration, enabled=not args.json)
    wr = {"v": "-"}

    def on_iteration(m: dict[str, float]) -> None:
        if "league/score_vs_random" in m:
            wr["v"] = f"{m['league/score_vs_random']:.2f}"
        progress.update(
            task,
            completed=trainer.counters.iteration,
            steps=f"{trainer.counters.env_steps:,}",
            sps=f"{m.get('charts/SPS', 0):,.0f}",
            wr=wr["v"],
        )

    try:
        with progress:
            summary = trainer.train(iterations=total, on_iteration=on_iteration)
    finally:
        trainer.close()
    _report(summary, as_json=args.json, title="run summary")
    return EXIT_INTERRUPTED if summary["interrupted"] else 0


def cmd_games(args: argparse.Namespace) -> int:
    """List the built-in games."""
    from envs import list_games

    games = []
    for spec in list_games():
        entry: dict[str, Any] = {"name": spec.name, "description": spec.description}
        if args.verbose or args.json:
            info = spec.info()
            entry.update(
                api=info.api,
                teams={t: list(m) for t, m in info.teams.items()},
                symmetric=info.symmetric,
            )
        games.append(entry)
    if args.json:
        print(json.dumps({"games": games}))
    else:
        for g in games:
            print(f"{g['name']:<22} {g['description']}")
    return 0


def _report(summary: dict[str, Any], *, as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(summary))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in summary.items():
        if key == "metrics":
            continue
        table.add_row(key, str(value))
    for key in ("league/score_vs_random", "league/win_rate_vs_latest", "losses/approx_kl"):
        if key in summary.get("metrics", {}):
            table.add_row(key, f"{summary['metrics'][key]:.3f}")
    Console().print(table)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="league", description="Multi-agent self-play league training for PettingZoo games."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a league (or resume a run)")
    train.add_argument(
        "config",
        nargs="?",
        help="YAML config file or shipped config name (default: connect_four)",
    )
    train.add_argument("--name", help="run name (default: config's name or file stem)")
    train.add_argument("--runs-dir", default="runs", help="where runs live (default: runs)")
    train.add_argument("--iterations", type=int, help="total iterations to train to")
    train.add_argument(
        "--set", action="append", metavar="KEY.PATH=VALUE", help="override a config value"
    )
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run")
    train.add_argument("--seed", type=int, help="seed (overrides the config)")
    train.add_argument(
        "--workers",
        type=int,
        help="Ray rollout workers (0: in this process; default: CPUs Ray sees minus one)",
    )
    train.add_argument("--envs-per-worker", type=int, help="env copies per worker")
    train.add_argument(
        "--address",
        help="join a running Ray cluster ('auto' or host:port) instead of starting one",
    )
    train.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    train.set_defaults(func=cmd_train)

    games = sub.add_parser("games", help="list the built-in games")
    games.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    games.set_defaults(func=cmd_games)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from envs import GameError
    from league.checkpoint import CheckpointError
    from league.registry import RegistryError
    from league.train import RunError

    try:
        return args.func(args)
    except (ConfigError, GameError, RunError, RegistryError, CheckpointError) as err:
        print(f"league: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
