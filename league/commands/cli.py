"""The `league` command line: train, eval, tournament, table, play, replay, export, inspect,
games."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from typing import Any

from league.config import ConfigError, Override
from league.signals import exit_code, raise_on_stop, stop_behind
from matchmaking import LATEST

EXIT_USAGE = 2
PLAYER_HELP = (
    "snapshot id, latest, random, scripted or another of the game's bots (`league games` "
    "lists them), mcts:N, or path/to/bot.py:function"
)


def cmd_train(args: argparse.Namespace) -> int:
    """Start or resume a run (`league.api.train`)."""
    from league import api

    overrides: list[str] = list(args.set or [])
    for flag, key, value in (
        ("--seed", "seed", args.seed),
        ("--iterations", "train.iterations", args.iterations),
        ("--workers", "train.workers", args.workers),
        ("--envs-per-worker", "train.envs", args.envs_per_worker),
    ):
        if value is not None:  # a bad value is reported against the flag the user typed
            overrides.append(Override(f"{key}={value}", flag=f"{flag} {value}"))
    try:
        result = api.train(
            args.config,
            overrides=overrides,
            name=args.name,
            runs_dir=args.runs_dir,
            resume=args.resume,
            address=args.address,
            progress=not args.json,
        )
    except api.RunExists as err:  # the CLI's way to resume
        raise api.RunExists(err.run_dir) from None
    summary = result.to_json()
    _report(summary, as_json=args.json, title="run summary")
    if not result.stopped_by:
        return 0
    if not args.json:
        kept = "the last checkpoint" if result.aborted else "a checkpoint of this moment"
        print(
            f"stopped by {result.stopped_by}; {kept} is kept. Continue with: {result.resume}",
            file=sys.stderr,
        )
    return exit_code(signal.Signals[result.stopped_by])


def cmd_inspect(args: argparse.Namespace) -> int:
    """Show what the league detects in a game; optionally write a starter config
    (`league.api.inspect`)."""
    from league import api

    try:
        kwargs = json.loads(args.kwargs) if args.kwargs else {}
    except json.JSONDecodeError as err:
        raise ConfigError(f"--kwargs is not valid JSON: {err}") from None
    if not isinstance(kwargs, dict):
        raise ConfigError(f"--kwargs must be a JSON object, not {args.kwargs}")
    report = api.inspect(
        args.env, kwargs=kwargs, episodes=args.episodes, write_config=args.write_config
    )
    if args.json:
        print(json.dumps(report))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"league inspect {args.env}", show_header=False)
    for key, value in report.items():
        table.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    Console().print(table)
    for warning in report["warnings"]:  # whole lines, not wrapped in the table
        print(f"warning: {warning}", file=sys.stderr)
    return 0 if report["api_test"] == "passed" else 1


def cmd_games(args: argparse.Namespace) -> int:
    """List the built-in games (`league.api.games`)."""
    from league import api

    games = api.games(details=args.verbose or args.json)
    if args.json:
        print(json.dumps({"games": games}))
    else:
        print(f"{'game':<22} {'league train CONFIG':<20} {'bots':<20} description")
        for g in games:
            bots = ", ".join(g["bots"]) or "-"
            print(f"{g['name']:<22} {g['config'] or '-':<20} {bots:<20} {g['description']}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Play A against B and report A's results (`league.api.matchup`)."""
    from league import api

    options = ("run", "game", "games", "greedy", "random_opening", "seed", "address")
    options += ("bot_timeout",)
    # Spawning workers costs seconds: below a few thousand games one process is faster.
    workers = _workers(args, 0 if args.games < 5000 else 2)
    result = api.matchup(
        args.a, args.b, workers=workers, **{key: getattr(args, key) for key in options}
    )
    if result.recorded is False:
        print(f"{args.run} is read-only: these games are not recorded", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    stats = result.stats
    if result.baseline is not None:
        print(
            f"{result.game} has one team (cooperative): each player plays it alone\n"
            f"{stats.return_line(result.a)}\n{result.baseline.return_line(result.b)}"
        )
        return 0
    low, high = stats.interval
    print(
        f"{result.a} vs {result.b} on {result.game}: {stats.wins} wins, {stats.draws} draws, "
        f"{stats.losses} losses in {stats.games} games\n"
        f"score {stats.score:.3f} (95% CI {low:.3f}-{high:.3f}), mean length "
        f"{stats.mean_length:.1f}, {stats.distinct_games} distinct games"
    )
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    """A person plays a turn-based game against an agent, moves read from stdin
    (`league.api.play`)."""
    from league import api
    from league.play import verdict
    from matchmaking import HUMAN

    game = api.play(
        args.player,
        run=args.run,
        game=args.game,
        seat=args.seat,
        seed=args.seed,
        greedy=args.greedy,
        bot_timeout=args.bot_timeout,
        stdin=sys.stdin,
        stdout=sys.stdout,
    )
    if game.match is None:
        print(f"{game.quit_reason}: the game is not recorded")
        return 0
    assert game.seat is not None
    print(f"{verdict(game.match, game.seat)} in {game.match.length} moves")
    if game.recorded_in is not None:
        print(f"recorded in {game.recorded_in} as {HUMAN} vs {game.opponent}")
    elif game.read_only:
        print(f"{args.run} is read-only: the game is not recorded")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Play A against B once and write the match as a GIF or MP4 (`league.api.replay`)."""
    from league import api

    result = api.replay(
        args.a,
        args.b,
        out=args.out,
        run=args.run,
        game=args.game,
        seed=args.seed,
        greedy=args.greedy,
        fps=args.fps,
    )
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(f"{result.title}: {result.result} in {result.length} steps; wrote {result.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a snapshot as an ONNX or TorchScript policy that runs without League, or as a
    table (`league.api.export`)."""
    from league import api

    result = api.export(args.run, args.player, out=args.out, format=args.format)
    print(json.dumps(result.to_json()) if args.json else result.line())
    return 0


def _print_board(board: Any, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    exact = any(row.get("exploitability") is not None for row in board.rows)
    table = Table(title=title)
    columns = ["#", "player", "kind", "rating", "95% CI", "Nash", "vs Nash", "games"]
    for col in [*columns, "env steps", *(["exploitability"] if exact else [])]:
        table.add_column(col, justify="left" if col in ("player", "kind") else "right")
    for i, row in enumerate(board.rows, 1):
        rated = row["rating"] is not None
        lo, hi = row["rating_95ci"] if rated else (0.0, 0.0)
        cells = [
            str(i) if rated else "-",
            row["player"] + (" (missing)" if row.get("missing") else ""),
            row["kind"] or "",
            f"{row['rating']:.0f}" if rated else "unrated",
            f"{lo:.0f} .. {hi:.0f}" if rated else "",
            f"{row['nash']:.3f}" if rated else "",
            f"{row['vs_nash']:.3f}" if rated else "",
            str(row["games"]),
            "" if row["env_steps"] is None else f"{row['env_steps']:,}",
        ]
        if exact:
            e = row.get("exploitability")
            cells.append("" if e is None else f"{e:.4f}")
        table.add_row(*cells)
    console = Console()
    # Piped (not a terminal): wide enough that no column is cut.
    (console if console.is_terminal else Console(width=160)).print(table)


def _print_returns(board: Any, title: str) -> None:
    """Print a game of one team's ranking by mean return."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("#", "player", "kind", "mean return", "95% CI", "games", "env steps"):
        table.add_column(col, justify="left" if col in ("player", "kind") else "right")
    for i, row in enumerate(board.rows, 1):
        ci = row["return_95ci"]
        table.add_row(
            str(i),
            row["player"] + (" (missing)" if row.get("missing") else ""),
            row["kind"] or "",
            f"{row['mean_return']:.4g}",
            "" if ci is None else f"{ci[0]:.4g} .. {ci[1]:.4g}",
            str(row["games"]),
            "" if row["env_steps"] is None else f"{row['env_steps']:,}",
        )
    console = Console()
    (console if console.is_terminal else Console(width=160)).print(table)


def cmd_tournament(args: argparse.Namespace) -> int:
    """Round-robin the latest snapshots and the bots; print and plot the leaderboard (a
    game of one team: rank them by mean return). `league.api.tournament`."""
    from league import api
    from league.evaluation import ReturnBoard

    board = api.tournament(
        args.run,
        top=args.top,
        games=args.games,
        seed=args.seed,
        bots=args.bots or (),
        workers=_workers(args, 0),
        address=args.address,
        bot_timeout=args.bot_timeout,
        plots=True,
        video=args.video,
    )
    if args.json:
        print(json.dumps({**board.to_json(), "plots": board.plots, "clip": board.clip}))
        return 0
    if board.clip:
        print(f"clip: {board.clip}")
    if isinstance(board, ReturnBoard):
        _print_returns(board, f"mean return ({board.game}, one team: each player alone)")
    else:
        _print_board(board, f"leaderboard ({board.game}, random = 0)")
    print("plots: " + ", ".join(board.plots))
    return 0


def cmd_exploit(args: argparse.Namespace) -> int:
    """Train a best response against a frozen snapshot; report its final score."""
    from league import api

    def progress(point: dict[str, Any]) -> None:
        if not args.json:
            print(
                f"iteration {point['iteration']}: {point['env_steps']:,} env steps, score "
                f"{point['score']:.3f} over {point['games']} games (snapshot {point['snapshot']})",
                flush=True,
            )

    out = api.exploit(
        args.run,
        args.target,
        iterations=args.iterations,
        games=args.games,
        score_every=args.score_every,
        workers=_workers(args, 0),
        seed=args.seed,
        random_opening=args.random_opening,
        on_iteration=progress,
        address=args.address,
        resume=args.resume,
    ).to_json()
    code = exit_code(signal.Signals[out["stopped_by"]]) if out["stopped_by"] else 0
    if args.json:
        print(json.dumps(out))
        return code
    if out["score"] is None:
        kept = f"stored as {out['best_response']}" if out["best_response"] else "nothing to keep"
        print(
            f"stopped by {out['stopped_by']} after {out['iterations']} iterations "
            f"({out['env_steps']:,} env steps): best response {kept}, not scored; "
            f"{out['resume']} continues it"
        )
        return code
    low, high = out["score_95ci"]
    print(
        f"best response {out['best_response']} against {out['target']} after "
        f"{out['iterations']} iterations ({out['env_steps']:,} env steps): score "
        f"{out['score']:.3f} (95% CI {low:.3f}-{high:.3f}) in {out['games']} games; the higher, "
        "the more exploitable the target"
        + (
            f" (stopped early by {out['stopped_by']}: {out['resume']} continues it)"
            if out["stopped_by"]
            else ""
        )
    )
    return code


def cmd_exploitability(args: argparse.Namespace) -> int:
    """Print the exact exploitability of snapshots (and of the population's mixtures):
    `league.api.exploitability`."""
    from league import api

    result = api.exploitability(args.run, args.players)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"exact exploitability ({result.game}, NashConv / 2)")
    for col in ("player", "exploitability", "Nash weight", "vs Nash"):
        table.add_column(col, justify="left" if col == "player" else "right")
    for row in result.snapshots:
        extra = [f"{row[k]:.3f}" if k in row else "" for k in ("nash", "vs_nash")]
        table.add_row(str(row["id"]), f"{row['exploitability']:.4f}", *extra)
    for name in ("nash_mixture", "uniform_mixture"):
        value = getattr(result, name)
        if value is not None:
            table.add_row(name.replace("_", " "), f"{value:.4f}", "", "")
    Console().print(table)
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    """Print the leaderboard from the stored evaluation results, and every snapshot not
    rated yet (`league.api.table`)."""
    from league import api

    board = api.table(args.run)
    if args.json:
        print(json.dumps(board.to_json()))
    else:
        _print_board(board, f"leaderboard ({args.run}, random = 0)")
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
        table.add_row(key, _plain(value))
    for key in ("league/score_vs_random", "league/win_rate_vs_latest", "losses/approx_kl"):
        if key in summary.get("metrics", {}):
            table.add_row(key, f"{summary['metrics'][key]:.3f}")
    Console().print(table)


def _plain(value: Any) -> str:
    """A summary value as a person reads it: 4 significant digits, `key: value` lists."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) or "-"
    return str(value)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="league", description="Multi-agent self-play league training for PettingZoo games."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        _train_parser,
        _eval_parser,
        _tournament_parser,
        _exploit_parser,
        _exploitability_parser,
        _table_parser,
        _inspect_parser,
        _play_parser,
        _replay_parser,
        _export_parser,
        _games_parser,
    ):
        add(sub)
    for command in sub.choices.values():  # `league train x -v` as well as `league -v train x`
        command.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more"
        )
        command.add_argument(
            "--trust-code",
            action="store_true",
            help="open a run created by another user or machine whose config names code "
            "outside League (a run directory is code; or set LEAGUE_TRUST_CODE=1)",
        )
    return parser


def _json_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _train_parser(sub: Any) -> None:
    """The `league train` subcommand."""
    train = sub.add_parser("train", help="train a league (or resume a run)")
    from league.config import shipped_configs

    train.add_argument(
        "config",
        nargs="?",
        help="YAML config file, or a shipped config: "
        f"{', '.join(shipped_configs())} (default: connect_four; a built-in game's name, "
        "e.g. connect_four_v3, picks its config)",
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
        help="Ray rollout workers (0: in this process; default: the CPUs Ray sees)",
    )
    train.add_argument("--envs-per-worker", type=int, help="env copies per worker")
    _address_flag(train)
    _json_flag(train)
    train.set_defaults(func=cmd_train)


def _bot_timeout_flag(parser: argparse.ArgumentParser) -> None:
    """`--bot-timeout`: seconds a user's bot file may take per move."""
    parser.add_argument(
        "--bot-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds a bot file (path/to/bot.py:act) may take per move; past it the "
        "command ends with one line naming the bot (default 10)",
    )


def _address_flag(parser: argparse.ArgumentParser) -> None:
    """`--address`: the Ray cluster whose workers play (for every command with workers)."""
    parser.add_argument(
        "--address",
        help="join a running Ray cluster ('auto' or host:port) instead of starting one; "
        "without --workers, one worker per CPU of the cluster",
    )


def _workers(args: argparse.Namespace, default: int) -> int | None:
    """The Ray workers asked for: --workers, else one per CPU of a cluster named by
    --address (None), else `default`."""
    if args.workers is not None:
        return args.workers
    return None if args.address else default


def _eval_parser(sub: Any) -> None:
    """The `league eval` subcommand."""
    ev = sub.add_parser("eval", help="play two players against each other")
    ev.add_argument("a", help=PLAYER_HELP)
    ev.add_argument("b", help="the opponent, in the same forms")
    ev.add_argument("--games", type=int, default=100, help="games to play (default 100)")
    ev.add_argument("--run", help="run directory whose snapshots are named")
    ev.add_argument("--game", help="built-in game, when no run names it")
    ev.add_argument("--greedy", action="store_true", help="policies take argmax actions")
    ev.add_argument(
        "--random-opening",
        type=int,
        default=0,
        metavar="K",
        help="play K uniformly random legal moves at the start of each game",
    )
    ev.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    ev.add_argument("--workers", type=int, help="Ray workers (default: 0 below 5000 games, else 2)")
    _address_flag(ev)
    _bot_timeout_flag(ev)
    _json_flag(ev)
    ev.set_defaults(func=cmd_eval)


def _tournament_parser(sub: Any) -> None:
    """The `league tournament` subcommand."""
    tour = sub.add_parser("tournament", help="round-robin snapshots and bots; rate them")
    tour.add_argument("--run", required=True, help="run directory")
    tour.add_argument("--top", type=int, default=5, help="most recent snapshots (default 5)")
    tour.add_argument("--games", type=int, default=20, help="games per pair (default 20)")
    tour.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    tour.add_argument("--workers", type=int, help="Ray workers (default 0)")
    _address_flag(tour)
    _bot_timeout_flag(tour)
    tour.add_argument(
        "--bots",
        nargs="+",
        metavar="BOT",
        help="more bots on the ladder beside random (0) and scripted, e.g. tactical mcts:50",
    )
    tour.add_argument(
        "--video",
        action="store_true",
        help="attach a clip of the newest snapshot against the one before it to TensorBoard",
    )
    _json_flag(tour)
    tour.set_defaults(func=cmd_tournament)


def _exploit_parser(sub: Any) -> None:
    """The `league exploit` subcommand."""
    expl = sub.add_parser(
        "exploit",
        help="train a best response against a frozen snapshot (exploitability)",
        description="Train an approximate best response against one frozen snapshot and "
        "report its score. In a game with a game tree (kuhn_poker, leduc_poker, "
        "openspiel:NAME) the exact figure exists: `league exploitability --run DIR`.",
    )
    expl.add_argument("--run", required=True, help="run directory")
    expl.add_argument("--target", default=LATEST, help="snapshot id or latest (default)")
    expl.add_argument(
        "--iterations",
        type=int,
        help="iterations of the run's size to train (with --resume: a new total)",
    )
    expl.add_argument(
        "--resume",
        action="store_true",
        help="continue the run's unfinished best response (stopped or killed), with the "
        "settings it was started with",
    )
    expl.add_argument(
        "--games", type=int, default=200, help="final games against the target (default 200)"
    )
    expl.add_argument(
        "--score-every",
        type=int,
        metavar="N",
        help="store and score the best response every N iterations (default: the run's "
        "train.snapshot_every)",
    )
    expl.add_argument(
        "--random-opening",
        type=int,
        default=0,
        metavar="K",
        help="K random moves open each scoring game (not the training games)",
    )
    expl.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    expl.add_argument("--workers", type=int, help="Ray workers (default 0)")
    _address_flag(expl)
    _json_flag(expl)
    expl.set_defaults(func=cmd_exploit)


def _exploitability_parser(sub: Any) -> None:
    """The `league exploitability` subcommand."""
    ex = sub.add_parser(
        "exploitability",
        help="exact exploitability of snapshots in a game with a game tree (OpenSpiel poker)",
    )
    ex.add_argument(
        "players",
        nargs="*",
        default=[LATEST],
        help="snapshot ids, latest (default), or all: every league snapshot, with the "
        "exploitability of their Nash and uniform mixtures",
    )
    ex.add_argument("--run", required=True, help="run directory")
    _json_flag(ex)
    ex.set_defaults(func=cmd_exploitability)


def _table_parser(sub: Any) -> None:
    """The `league table` subcommand."""
    table = sub.add_parser("table", help="print the leaderboard from stored results")
    table.add_argument("--run", required=True, help="run directory")
    _json_flag(table)
    table.set_defaults(func=cmd_table)


def _inspect_parser(sub: Any) -> None:
    """The `league inspect` subcommand."""
    insp = sub.add_parser("inspect", help="inspect a PettingZoo game and write a config")
    insp.add_argument("env", help="package.module:callable returning an AEC or Parallel env")
    insp.add_argument("--kwargs", help="JSON object of keyword arguments for the callable")
    insp.add_argument("--episodes", type=int, default=3, help="random episodes to play")
    insp.add_argument("--write-config", metavar="PATH", help="write a starter YAML config")
    _json_flag(insp)
    insp.set_defaults(func=cmd_inspect)


def _play_parser(sub: Any) -> None:
    """The `league play` subcommand."""
    play = sub.add_parser("play", help="play a turn-based game against an agent")
    play.add_argument(
        "player",
        nargs="?",
        help="your opponent: snapshot id, latest (default with --run), random, scripted "
        "(default without --run) or another of the game's bots, or path/to/bot.py:function",
    )
    play.add_argument("--run", help="run directory whose snapshots are named")
    play.add_argument("--game", help="built-in game, when no run names it")
    play.add_argument("--seat", type=int, default=0, help="your seat: 0 moves first (default 0)")
    play.add_argument("--greedy", action="store_true", help="the agent takes argmax actions")
    play.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    _bot_timeout_flag(play)
    play.set_defaults(func=cmd_play)


def _replay_parser(sub: Any) -> None:
    """The `league replay` subcommand."""
    rep = sub.add_parser("replay", help="play A against B once and write it as a GIF or MP4")
    rep.add_argument("a", help=PLAYER_HELP)
    rep.add_argument("b", help="the opponent, in the same forms")
    rep.add_argument("--out", required=True, help="FILE.gif or FILE.mp4 (mp4: the video extra)")
    rep.add_argument("--run", help="run directory whose snapshots are named")
    rep.add_argument("--game", help="built-in game, when no run names it")
    rep.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    rep.add_argument("--greedy", action="store_true", help="policies take argmax actions")
    rep.add_argument("--fps", type=float, default=8.0, help="frames per second (default 8)")
    _json_flag(rep)
    rep.set_defaults(func=cmd_replay)


def _export_parser(sub: Any) -> None:
    """The `league export` subcommand."""
    exp = sub.add_parser("export", help="write a snapshot as an ONNX or TorchScript policy")
    exp.add_argument(
        "player",
        nargs="?",
        default=LATEST,
        help="snapshot id or latest; with --format table also mixture:nash or "
        "mixture:uniform (the run's population played as one policy)",
    )
    exp.add_argument("--run", required=True, help="run directory")
    exp.add_argument(
        "--format",
        choices=("onnx", "torchscript", "table"),
        default="onnx",
        help="onnx, torchscript, or table: JSON action probabilities per information "
        "state, for a game with a game tree (OpenSpiel poker)",
    )
    exp.add_argument("--out", required=True, help="file to write")
    _json_flag(exp)
    exp.set_defaults(func=cmd_export)


def _games_parser(sub: Any) -> None:
    """The `league games` subcommand."""
    games = sub.add_parser("games", help="list the built-in games")
    _json_flag(games)
    games.set_defaults(func=cmd_games)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    raise_on_stop()
    try:
        return _run(argv)
    except BaseException as err:
        # Ctrl-C or SIGTERM outside a training loop (itself, or wrapped by another error):
        # what was in flight is dropped; what was saved (whole registry rows) stays.
        stop = stop_behind(err)
        if stop is None:
            raise
        print(f"league: stopped by {stop.name}", file=sys.stderr)
        return exit_code(stop.signum)


def _run(argv: list[str] | None) -> int:
    """Parse the arguments and run the command; errors a user can fix become one line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.trust_code:  # read where a run is opened (`league.run.check_trusted`)
        os.environ["LEAGUE_TRUST_CODE"] = "1"
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from envs import GameError
    from league.evaluation import EvalError
    from league.rollout import WorkersLost
    from league.rollout.players import BotError
    from league.store import CheckpointError, RegistryError, RunError
    from league.training.loop import NonFiniteLoss

    try:
        return args.func(args)
    except (
        ConfigError,
        GameError,
        RunError,
        RegistryError,
        CheckpointError,
        EvalError,
        BotError,
        WorkersLost,
        NonFiniteLoss,
    ) as err:
        print(f"league: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # a read-only directory, a full disk: nothing saved is lost
        where = f"{err.filename}: " if err.filename else ""
        print(f"league: error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
