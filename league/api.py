"""League as a Python library: train, evaluate, rank, and act with a trained player.

For a notebook or a sweep, without shelling out to the CLI (`league train` is built on
`train`)::

    from league import api

    summary = api.train("connect_four", name="demo", overrides=["train.iterations=20"])
    run = summary["run_dir"]
    stats = api.evaluate("latest", "scripted", run=run, games=100)
    print(f"{stats.score:.2f} ({stats.interval[0]:.2f}-{stats.interval[1]:.2f})")
    board = api.tournament(run, top=3, games=10)
    player = api.load_player(run, "latest")
    action = player.act(env.observe(env.agent_selection))  # a PettingZoo observation

Errors a user can fix raise `ConfigError`, `GameError`, `RunError`, `EvalError` (the CLI
prints them as one line).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from league.config import Config, blame_overrides, find_config, load_config
from league.rollout.players import DEFAULT_BOT_TIMEOUT
from matchmaking import LATEST

__all__ = ["Matchup", "Player", "evaluate", "load_player", "matchup", "tournament", "train"]


def train(
    config: str | Path | Config | None = None,
    *,
    overrides: Sequence[str] = (),
    name: str | None = None,
    runs_dir: str | Path = "runs",
    resume: str | Path | None = None,
    address: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a new run, or continue `resume` (a run directory), and return its summary
    (what `league train --json` prints; `summary["run_dir"]` is the run).

    `config`: a YAML file, a shipped config's name or a built-in game's, or a `Config`
    (None: connect four's);
    `overrides`: `key.path=value` strings as `--set` takes them (applied to the run's
    saved config when resuming); `address`: a Ray cluster to join; `progress`: show the
    progress line on stderr. A stop (Ctrl-C, SIGTERM) ends the run cleanly, with a
    checkpoint: `summary["stopped_by"]` names it.
    """
    from league.commands.progress import Progress
    from league.store import load_run_config, stopped_writing
    from league.training import Trainer

    if resume is not None:
        run_dir = Path(resume)
        cfg = load_run_config(run_dir, list(overrides))
    else:
        cfg, run_dir = _new_run(config, list(overrides), name, Path(runs_dir))
    try:
        trainer = Trainer(cfg, run_dir, resume=resume is not None, address=address)
    except OSError as err:  # a full disk: one line naming the file, and what the run kept
        raise stopped_writing(err, run_dir) from err
    total = cfg.train.iterations
    bar = Progress(total, trainer.counters.iteration, enabled=progress)

    def on_iteration(metrics: dict[str, float]) -> None:
        bar.update(trainer.counters.iteration, trainer.counters.env_steps, metrics)

    try:
        with bar:
            return trainer.train(iterations=total, on_iteration=on_iteration)
    except OSError as err:
        raise stopped_writing(err, run_dir) from err
    finally:
        trainer.close()


def _new_run(
    config: str | Path | Config | None, overrides: list[Any], name: str | None, runs_dir: Path
) -> tuple[Config, Path]:
    """Load and check a config, then create its run directory (nothing is created for a
    config that fails its checks)."""
    from league.game_config import check_fits, pin_teams, resolve_game
    from league.store import new_run

    if isinstance(config, Config):
        cfg, source = config, "the config"
        if overrides:
            raise TypeError("overrides apply to a config file or name, not a Config")
    else:
        path = find_config(None if config is None else str(config))
        cfg, source = load_config(path, overrides), str(path)
    if name:
        cfg = cfg.model_copy(update={"name": name})
    with blame_overrides(source, overrides):  # an error at a --set key names the flag
        spec = resolve_game(cfg, source=source)
        cfg = pin_teams(cfg, spec)  # the run keeps the teams inferred now
        check_fits(cfg, spec, source=source)
    return cfg, new_run(cfg, runs_dir)


@dataclass
class Matchup:
    """A's results against B, with what `league eval` reports beside them."""

    a: str
    """Player A as resolved (`latest` becomes `role@id`)."""
    b: str
    game: str
    stats: Any
    """A's `MatchStats`."""
    baseline: Any = None
    """A game of one team (B never sits against A): B's `MatchStats` playing it alone,
    for comparison (None otherwise)."""
    recorded: bool | None = None
    """Whether the games were stored in the run (False: it is read-only; None: no run)."""

    def to_json(self) -> dict[str, Any]:
        """The matchup as `league eval --json` prints it."""
        out = {"a": self.a, "b": self.b, "game": self.game, **self.stats.to_json()}
        if self.baseline is not None:
            out |= {"mode": "cooperative", "baseline": {"player": self.b}}
            out["baseline"] |= self.baseline.to_json()
        if self.recorded is not None:
            out["recorded"] = self.recorded
        return out


def matchup(
    a: str,
    b: str,
    *,
    run: str | Path | None = None,
    game: str | None = None,
    games: int = 100,
    greedy: bool = False,
    random_opening: int = 0,
    seed: int = 0,
    workers: int | None = 0,
    address: str | None = None,
    baseline: bool = True,
    bot_timeout: float | None = DEFAULT_BOT_TIMEOUT,
) -> Matchup:
    """Play `games` games of A against B (seats alternating) and return the `Matchup`
    (`league eval` prints it). Players are named as the CLI names them: a snapshot id of
    `run`, `latest`, `random`, `scripted`, `mcts:N`, ... The games are recorded in the
    run where it can be written. In a game of one team each plays alone, and B's games
    (`baseline`, unless False) give A's figure something to compare with."""
    from league.evaluation import Arena

    arena = Arena.open(run, game, read_only=None)
    arena.address, arena.bot_timeout = address, bot_timeout
    try:
        pa, pb = arena.resolve(a), arena.resolve(b)
        settings = dict(
            games=games,
            greedy=greedy,
            random_opening=random_opening,
            seed=seed,
            workers=workers,
        )
        stats = arena.play(pa, pb, **settings)
        alone = arena.play(pb, pa, **settings) if arena.one_team and baseline else None
    finally:
        arena.close()
    recorded = arena.records if arena.registry is not None else None
    return Matchup(str(pa), str(pb), arena.spec.name, stats, alone, recorded)


def evaluate(a: str, b: str, **options: Any) -> Any:
    """A's `MatchStats` against B (`score`, `interval`, `wins`, `draws`, `losses`, ...):
    `matchup` without the rest; the same options."""
    return matchup(a, b, baseline=False, **options).stats


def tournament(
    run: str | Path,
    *,
    top: int = 5,
    games: int = 20,
    seed: int = 0,
    bots: Sequence[str] = (),
    workers: int | None = 0,
    address: str | None = None,
    plots: bool = False,
    video: bool = False,
    bot_timeout: float | None = DEFAULT_BOT_TIMEOUT,
) -> Any:
    """Round-robin the `top` newest snapshots of `run` and the bots (random, the game's
    scripted bot, `bots`), store the games in the run, and return the leaderboard
    (`rows`: player, rating and its interval; random = 0; `game`). A game of one team is
    ranked by mean return instead. `plots`: draw it under the run's `plots/` (the board's
    `plots` lists the files); `video`: attach a clip of the newest snapshot against the
    one before it to the run's TensorBoard (the board's `clip` says what)."""
    from league.evaluation import Arena, plot_leaderboard, plot_returns, return_ranking
    from league.evaluation import tournament as round_robin

    arena = Arena.open(run, None)
    arena.address, arena.bot_timeout = address, bot_timeout
    try:
        rank = return_ranking if arena.one_team else round_robin
        board = rank(arena, top=top, games=games, seed=seed, workers=workers, bots=tuple(bots))
        board.game = arena.spec.name
        if plots:
            plot = plot_returns if arena.one_team else plot_leaderboard
            board.plots = [str(p) for p in plot(board, Path(run) / "plots")]
        if video:
            board.clip = _tournament_clip(arena, seed)
    finally:
        arena.close()
    return board


def _tournament_clip(arena: Any, seed: int) -> str | None:
    """Attach a clip of the newest main snapshot against the one before it (same agent) to
    the run's TensorBoard; return what was attached (None: no such pair)."""
    from league.play import add_clip_to_tensorboard, record_clip
    from league.store import TENSORBOARD_DIR
    from league.store.events import EventWriter  # a failure names the event file
    from matchmaking import MAIN

    # The main agent's progress, not an exploiter's: exploiters are reset and retargeted.
    newest = arena.registry.latest_snapshot(kind=MAIN)
    if newest is None:
        return None
    before = [s for s in arena.registry.snapshots(agent=newest["agent"]) if s["id"] < newest["id"]]
    if not before:
        return None
    a, b = arena.resolve(str(newest["id"])), arena.resolve(str(before[-1]["id"]))
    clip = record_clip(arena.spec, arena.info, arena.factory, arena.weights, a, b, seed=seed)
    writer = EventWriter(str(arena.registry.run_dir / TENSORBOARD_DIR))
    try:
        add_clip_to_tensorboard(writer, "tournament/replay", clip, newest["iteration"], fps=8)
    finally:
        writer.close()
    return f"{clip.title}: {clip.summary} (TensorBoard tag tournament/replay)"


@dataclass
class Player:
    """A trained snapshot that acts on a game's observations, one at a time."""

    name: str
    """The snapshot, as `role@id`."""
    policy: Any
    member_of: dict[str, int]
    greedy: bool
    states: dict[str | None, np.ndarray] = field(default_factory=dict)
    """A recurrent policy's memory, per agent (cleared by `reset`)."""

    def reset(self) -> None:
        """Forget the episode (call it before each new one; only a recurrent policy
        remembers)."""
        self.states.clear()

    def act(
        self, observation: Any, action_mask: np.ndarray | None = None, *, agent: str | None = None
    ) -> Any:
        """The action for one observation: the PettingZoo observation as the env gives it
        (a dict holding `observation` and `action_mask`, or the array itself, with
        `action_mask` beside it where the game has one), after the preprocessing the
        run's config names, if any (Atari's: use the env League builds, `envs.GameEnv`).
        `agent` names the acting agent: in a game whose teams have several members its
        place in the team is an input, and a recurrent policy keeps a memory per agent."""
        from envs.adapter import split_observation
        from envs.rules import env_action

        obs, mask = split_observation(observation, {})
        if action_mask is not None:
            mask = np.asarray(action_mask, dtype=bool)
        member = self.member_of.get(agent, 0) if agent is not None else 0
        out = self.policy.act(
            np.asarray(obs)[None],
            np.array([member]),
            None if mask is None else mask[None],
            self.states.get(agent),
            greedy=self.greedy,
        )
        if out.state is not None:
            self.states[agent] = out.state
        action = out.action[0]
        return env_action(action.item() if action.ndim == 0 else action, self.policy.spaces)


def load_player(run: str | Path, name: str = LATEST, *, greedy: bool = True) -> Player:
    """A snapshot of `run` (`latest`: the main agent's newest, or a snapshot id) ready to
    act; `greedy` takes the most likely action, else it samples as in training."""
    from league.evaluation import Arena, EvalError

    arena = Arena.open(run, None, read_only=True)
    try:
        player = arena.resolve(name)
        if not player.is_snapshot:
            raise EvalError(f"{name!r} is not a snapshot of {run}: load_player loads snapshots")
        policy = arena.factory(player.role)
        policy.load_state_dict(arena.weights[player])
        policy.eval()
        with contextlib.suppress(AttributeError):
            policy.requires_grad_(False)
        return Player(str(player), policy, dict(arena.info.member_of), greedy)
    finally:
        arena.close()
