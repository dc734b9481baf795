"""League as a Python library: train, evaluate, rank, and act with a trained player.

For a notebook or a sweep, without shelling out to the CLI (every `league` command is
built on a function here)::

    from league import api

    summary = api.train("connect_four", name="demo", progress=True)  # RunSummary
    stats = api.evaluate("latest", "scripted", run=summary.run_dir, games=100)
    print(f"{stats.score:.2f} ({stats.interval[0]:.2f}-{stats.interval[1]:.2f})")
    board = api.tournament(summary.run_dir, top=3, games=10)  # Leaderboard
    player = api.load_player(summary.run_dir, "latest")
    action = player.act(env.observe(env.agent_selection))  # a PettingZoo observation

Errors a user can fix raise `ConfigError`, `GameError`, `RunError` or `EvalError`, all
importable from here (the CLI prints them as one line). A run directory is code, like a
notebook: opening one created by another user or machine whose config names code
outside League needs `trust_code` (`LEAGUE_TRUST_CODE=1`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from envs import GameError
from league.config import Config, ConfigError
from league.evaluation import EvalError, Leaderboard, MatchStats, ReturnBoard
from league.rollout.players import DEFAULT_BOT_TIMEOUT
from league.store import RunError
from league.store.run_dir import RunExistsError as RunExists
from matchmaking import LATEST

if TYPE_CHECKING:
    from league.evaluation import Arena
    from league.play import MatchResult
    from league.training import Trainer

__all__ = [
    "ConfigError",
    "EvalError",
    "ExploitResult",
    "Exploitability",
    "ExportResult",
    "GameError",
    "Leaderboard",
    "MatchStats",
    "MatchupResult",
    "Player",
    "ReplayResult",
    "ReturnBoard",
    "RunError",
    "RunExists",
    "RunSummary",
    "evaluate",
    "exploit",
    "exploitability",
    "export",
    "games",
    "inspect",
    "load_player",
    "matchup",
    "play",
    "replay",
    "table",
    "tournament",
    "train",
]


# ---------------------------------------------------------------- train


@dataclass(frozen=True)
class RunSummary:
    """What a training run did (`league train --json` prints `to_json()`)."""

    run_dir: Path
    game: str
    mode: str
    """`self-play`, or `cooperative` for a game of one team."""
    learner: str
    iterations: int
    env_steps: int
    agent_steps: int
    episodes: int
    seconds: float
    gamma: float
    snapshots: int
    last_snapshot: dict[str, int]
    """Each league agent's newest snapshot id."""
    agents: dict[str, dict[str, Any]]
    """Each league agent's kind, freezes, resets and learned steps."""
    workers: int
    device: str
    precision: str
    env_errors: int
    worker_restarts: int
    workers_lost: int
    asynchronous: bool
    stale_fragments: int
    abandoned_episodes: int
    interrupted: bool
    stopped_by: str | None
    """The signal that stopped the run early (SIGINT, SIGTERM), else None."""
    aborted: bool
    """A second signal stopped it mid-iteration: the last checkpoint is kept."""
    resume: str | None
    """How to continue a stopped run."""
    metrics: dict[str, float] = field(default_factory=dict)
    """The last iteration's metrics (TensorBoard's scalars)."""

    @staticmethod
    def from_json(data: dict[str, Any]) -> RunSummary:
        """The summary from the trainer's JSON-able dict."""
        values = {k: v for k, v in data.items() if k != "async"}
        return RunSummary(
            **{**values, "run_dir": Path(data["run_dir"]), "asynchronous": data["async"]}
        )

    def to_json(self) -> dict[str, Any]:
        """The summary as `league train --json` prints it."""
        out = dataclasses.asdict(self)
        out["run_dir"] = str(self.run_dir)
        out["async"] = out.pop("asynchronous")
        return {**{k: v for k, v in out.items() if k != "metrics"}, "metrics": out["metrics"]}


def train(
    config: str | Path | Config | None = None,
    *,
    overrides: Sequence[str] = (),
    name: str | None = None,
    runs_dir: str | Path = "runs",
    resume: str | Path | None = None,
    address: str | None = None,
    progress: bool = False,
    trust_code: bool | None = None,
) -> RunSummary:
    """Train a new run, or continue `resume` (a run directory); return its `RunSummary`.

    `config`: a YAML file, a shipped config's name or a built-in game's, or a `Config`
    (None: connect four's); `overrides`: `key.path=value` strings as `--set` takes them
    (applied to the run's saved config when resuming); `address`: a Ray cluster to join;
    `progress`: show it on stderr (a live line on a terminal, saying what it does before
    the first iteration; in a notebook or a log a line after the first iteration, then
    every few); `trust_code`: open a run created elsewhere that names user code. A stop
    (Ctrl-C, SIGTERM) ends the run cleanly, with a checkpoint: `stopped_by` names it.
    """
    from league.progress import Progress
    from league.run import Run
    from league.store import stopped_writing
    from league.training import Trainer

    bar = Progress(enabled=progress)
    with bar:
        bar.status("loading the game")
        try:
            run = Run.for_training(
                config,
                overrides=overrides,
                name=name,
                runs_dir=runs_dir,
                resume=resume,
                trust_code=trust_code,
            )
        except RunExists as err:  # resumed from here, not with the CLI's flag
            how = f"api.train(resume={str(err.run_dir)!r})"
            raise RunExists(err.run_dir, resume=how, name="name=") from None
        assert run.dir is not None
        bar.status("starting the workers")
        trainer: Trainer | None = None
        try:
            trainer = Trainer(run, resume=resume is not None, address=address)
            total = run.config.train.iterations
            bar.start(total, trainer.counters.iteration)

            def on_iteration(metrics: dict[str, float]) -> None:
                assert trainer is not None
                bar.update(trainer.counters.iteration, trainer.counters.env_steps, metrics)

            summary = trainer.train(iterations=total, on_iteration=on_iteration)
        except OSError as err:  # a full disk: one line naming the file, and what the run kept
            raise stopped_writing(err, run.dir) from err
        finally:
            if trainer is not None:
                trainer.close()
            run.close()
    return RunSummary.from_json(summary)


# ---------------------------------------------------------------- matches


@dataclass(frozen=True)
class MatchupResult:
    """A's results against B, with what `league eval` reports beside them."""

    a: str
    """Player A as resolved (`latest` becomes `role@id`)."""
    b: str
    game: str
    stats: MatchStats
    """A's results."""
    baseline: MatchStats | None = None
    """A game of one team (B never sits against A): B's results playing it alone, for
    comparison (None otherwise)."""
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
) -> MatchupResult:
    """Play `games` games of A against B (seats alternating) and return the
    `MatchupResult` (`league eval` prints it). Players are named as the CLI names them:
    a snapshot id of `run`, `latest`, `random`, `scripted`, `mcts:N`, ... The games are
    recorded in the run where it can be written. In a game of one team each plays alone,
    and B's games (`baseline`, unless False) give A's figure something to compare with."""
    from league.evaluation import Arena

    arena = Arena.open(run, game, read_only=None, address=address, bot_timeout=bot_timeout)
    try:
        pa, pb = arena.resolve(a), arena.resolve(b)

        def play(x: Any, y: Any) -> MatchStats:
            return arena.play(
                x,
                y,
                games=games,
                greedy=greedy,
                random_opening=random_opening,
                seed=seed,
                workers=workers,
            )

        stats = play(pa, pb)
        alone = play(pb, pa) if arena.one_team and baseline else None
        recorded = arena.records if arena.registry is not None else None
    finally:
        arena.close()
    return MatchupResult(str(pa), str(pb), arena.spec.name, stats, alone, recorded)


def evaluate(a: str, b: str, **options: Any) -> MatchStats:
    """A's `MatchStats` against B (`score`, `interval`, `wins`, `draws`, `losses`, ...):
    `matchup` without the rest; the same options (`run`, `game`, `games`, `greedy`,
    `random_opening`, `seed`, `workers`, `address`)."""
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
) -> Leaderboard | ReturnBoard:
    """Round-robin the `top` newest snapshots of `run` and the bots (random, the game's
    scripted bot, `bots`), store the games in the run, and return the `Leaderboard`
    (`rows`: player, rating and its interval; random = 0; `game`). A game of one team is
    ranked by mean return instead (`ReturnBoard`). `plots`: draw it under the run's
    `plots/` (the board's `plots` lists the files); `video`: attach a clip of the newest
    snapshot against the one before it to the run's TensorBoard (the board's `clip`)."""
    from league.evaluation import Arena, plot_leaderboard, plot_returns, return_ranking
    from league.evaluation import tournament as round_robin

    arena = Arena.open(run, None, address=address, bot_timeout=bot_timeout)
    board: Leaderboard | ReturnBoard
    try:
        if arena.one_team:
            board = return_ranking(arena, top=top, games=games, seed=seed, workers=workers)
        else:
            board = round_robin(
                arena, top=top, games=games, seed=seed, workers=workers, bots=tuple(bots)
            )
        board.game = arena.spec.name
        if isinstance(board, ReturnBoard) and plots:
            board.plots = [str(p) for p in plot_returns(board, Path(run) / "plots")]
        elif isinstance(board, Leaderboard) and plots:
            board.plots = [str(p) for p in plot_leaderboard(board, Path(run) / "plots")]
        if video:
            board.clip = _tournament_clip(arena, seed)
    finally:
        arena.close()
    return board


def _tournament_clip(arena: Arena, seed: int) -> str | None:
    """Attach a clip of the newest main snapshot against the one before it (same agent) to
    the run's TensorBoard; return what was attached (None: no such pair)."""
    from league.play import add_clip_to_tensorboard, record_clip
    from league.store import TENSORBOARD_DIR
    from league.store.events import EventWriter  # a failure names the event file
    from matchmaking import MAIN

    registry = arena.registry
    assert registry is not None
    # The main agent's progress, not an exploiter's: exploiters are reset and retargeted.
    newest = registry.latest_snapshot(kind=MAIN)
    if newest is None:
        return None
    before = [s for s in registry.snapshots(agent=newest["agent"]) if s["id"] < newest["id"]]
    if not before:
        return None
    a, b = arena.resolve(str(newest["id"])), arena.resolve(str(before[-1]["id"]))
    clip = record_clip(arena.spec, arena.info, arena.factory, arena.weights, a, b, seed=seed)
    writer = EventWriter(str(registry.run_dir / TENSORBOARD_DIR))
    try:
        add_clip_to_tensorboard(writer, "tournament/replay", clip, newest["iteration"], fps=8)
    finally:
        writer.close()
    return f"{clip.title}: {clip.summary} (TensorBoard tag tournament/replay)"


def table(run: str | Path) -> Leaderboard:
    """The run's leaderboard from its stored evaluation games (`league table`): every
    snapshot, those without rated games marked unrated (`rating` None), with its exact
    exploitability where the game has a tree."""
    from league.evaluation import leaderboard
    from league.run import Run

    with Run.open(run, read_only=True) as opened:
        assert opened.registry is not None
        return leaderboard(opened.registry, every_snapshot=True)


# ---------------------------------------------------------------- best responses


@dataclass(frozen=True)
class Exploitability:
    """Exact exploitability (NashConv / 2) of snapshots, in a game with a game tree."""

    game: str
    snapshots: list[dict[str, Any]]
    """Per snapshot: `id`, `exploitability`, and with `all` its `nash` weight and
    `vs_nash` score."""
    nash_mixture: float | None = None
    """The exploitability of the population's Nash mixture (with `all`)."""
    uniform_mixture: float | None = None
    """The exploitability of the population's uniform mixture (with `all`)."""

    def to_json(self) -> dict[str, Any]:
        """As `league exploitability --json` prints it."""
        from league.evaluation.leaderboard import EXPLOITABILITY

        out: dict[str, Any] = {"game": self.game, "snapshots": self.snapshots}
        for name in ("nash_mixture", "uniform_mixture"):
            value = getattr(self, name)
            if value is not None:
                out[name] = {EXPLOITABILITY: value}
        return out


def exploitability(run: str | Path, players: Sequence[str] = (LATEST,)) -> Exploitability:
    """The exact exploitability of `players` (snapshot ids, `latest`, or `all`: every
    league snapshot, with the Nash and uniform mixtures of them)."""
    from league.evaluation.exact import exploitability_report
    from league.evaluation.leaderboard import EXPLOITABILITY

    out = exploitability_report(run, players)
    mixtures = {
        name: out[name][EXPLOITABILITY] if name in out else None
        for name in ("nash_mixture", "uniform_mixture")
    }
    return Exploitability(out["game"], list(out["snapshots"]), **mixtures)


@dataclass(frozen=True)
class ExploitResult:
    """A best response's training and its final score against its target."""

    data: dict[str, Any]
    """What `league exploit --json` prints: `target`, `best_response`, `iterations`,
    `env_steps`, `score`, `score_95ci`, `games`, `curve`, `stopped_by`, `resume`."""

    @property
    def score(self) -> float | None:
        """The final score against the target (None: stopped before it was played)."""
        score = self.data["score"]
        return None if score is None else float(score)

    @property
    def stopped_by(self) -> str | None:
        """The signal that stopped it early, if any."""
        stopped: str | None = self.data["stopped_by"]
        return stopped

    def to_json(self) -> dict[str, Any]:
        """As `league exploit --json` prints it."""
        return dict(self.data)


def exploit(run: str | Path, target: str = LATEST, **options: Any) -> ExploitResult:
    """Train a best response to `target` (a snapshot id or `latest`) and score it: the
    higher its final score, the more exploitable the target. The options are those of
    `league.training.exploit.exploit`: `iterations` (of the run's size), `games` (the
    final scoring's), `score_every`, `workers`, `seed`, `random_opening`, `on_iteration`
    (called with each scoring), `address`, `resume` (continue the run's unfinished one)."""
    from league.training.exploit import exploit as best_response

    return ExploitResult(best_response(run, target, **options))


# ---------------------------------------------------------------- games


def inspect(
    env: str,
    *,
    kwargs: dict[str, Any] | None = None,
    episodes: int = 3,
    write_config: str | Path | None = None,
) -> dict[str, Any]:
    """What League detects in a game (`package.module:callable`, `openspiel:NAME` or a
    built-in name): its API kind, teams and the evidence for them, spaces, PettingZoo's
    API test, random episodes' lengths and rewards, warnings. `write_config`: write a
    starter config there (loaded back before it is reported as written)."""
    from envs.openspiel import OPENSPIEL_PREFIX
    from league.config import parse_config
    from league.game_config import resolve_game
    from league.inspect import inspect_game, starter_config
    from league.inspect import write_config as write

    kwargs = dict(kwargs or {})
    game: dict[str, Any] = {"name": env, "kwargs": kwargs}
    if env.startswith(OPENSPIEL_PREFIX):
        game = {"name": env.removeprefix(OPENSPIEL_PREFIX), "env": env, "kwargs": kwargs}
    elif ":" in env:
        game = {"name": env.partition(":")[0].rsplit(".", 1)[-1], "env": env, "kwargs": kwargs}
    source = "league inspect"
    spec = resolve_game(parse_config({"game": game}, source=source), source=source)
    report = inspect_game(spec, episodes=episodes)
    if write_config is not None:
        if ":" not in env:
            raise ConfigError("--write-config needs an import path package.module:callable")
        config = starter_config(env, kwargs, report)
        write(Path(write_config), config, header=f"written by: league inspect {env}")
        report["config_written"] = str(write_config)
    return report


def games(*, details: bool = False) -> list[dict[str, Any]]:
    """The built-in games and those other packages register: each one's name, the
    shipped config that trains it, its description and its bots; with `details` also its
    API kind, teams and symmetry (which builds each game once)."""
    from envs import list_games
    from league.config import shipped_config_of_game

    out = []
    for spec in list_games():
        entry: dict[str, Any] = {
            "name": spec.name,
            "config": shipped_config_of_game(spec.name),
            "description": spec.description,
            "bots": list(spec.named_bots()),
        }
        if details:
            info = spec.info()
            entry.update(
                api=info.api,
                teams={t: list(m) for t, m in info.teams.items()},
                symmetric=info.symmetric,
            )
        out.append(entry)
    return out


# ---------------------------------------------------------------- using a trained agent


@dataclass(frozen=True)
class ExportResult:
    """A file written by `export`, and what it holds."""

    out: Path
    format: str
    player: str
    """The snapshot (`role@id`), or a mixture's name."""
    meta: dict[str, Any]
    """The description stored with it (the game, inputs and outputs, or a table's
    information states and exploitability)."""

    def to_json(self) -> dict[str, Any]:
        """As `league export --json` prints it."""
        return {"out": str(self.out), **self.meta}

    def line(self) -> str:
        """The file in one line."""
        meta = self.meta
        if self.format == "table":
            what = (
                f"{meta['player']} of {meta['game']}, {meta['states']} information states, "
                f"exploitability {meta['exploitability']:.4f}"
            )
        else:
            what = (
                f"{self.player} of {meta['game']}, inputs {', '.join(meta['inputs'])} -> "
                f"outputs {', '.join(meta['outputs'])}"
            )
        return f"wrote {self.out} ({self.format}): {what}"


def export(
    run: str | Path, player: str = LATEST, *, out: str | Path, format: str = "onnx"
) -> ExportResult:
    """Write a snapshot of `run` as `format`: `onnx` or `torchscript` (a policy that runs
    without League), or `table` (JSON action probabilities per information state, in a
    game with a game tree; `player` may then be `mixture:nash` or `mixture:uniform`)."""
    out = Path(out)
    if format == "table":
        from league.evaluation.exact import export_table

        return ExportResult(out, format, player, export_table(run, player, out))
    from league.export import export_policy

    if player.startswith("mixture:"):
        raise EvalError(f"{player}: a mixture of snapshots exports only as --format table")
    loaded = load_player(run, player)
    meta = export_policy(loaded.policy, loaded.spec, loaded.name, fmt=format, out=out)
    return ExportResult(out, format, loaded.name, meta)


@dataclass(frozen=True)
class ReplayResult:
    """One match written as an animation (`league replay`)."""

    out: Path
    a: str
    b: str
    game: str
    frames: int
    length: int
    result: str
    title: str

    def to_json(self) -> dict[str, Any]:
        """As `league replay --json` prints it."""
        out = dataclasses.asdict(self)
        del out["title"]
        return {**out, "out": str(self.out)}


def replay(
    a: str,
    b: str,
    *,
    out: str | Path,
    run: str | Path | None = None,
    game: str | None = None,
    seed: int = 0,
    greedy: bool = False,
    fps: float = 8.0,
) -> ReplayResult:
    """Play A against B once and write the match as a GIF or an MP4."""
    from league.evaluation import Arena
    from league.play import record_clip, write_animation

    arena = Arena.open(run, game, read_only=True)
    try:
        pa, pb = arena.resolve(a), arena.resolve(b)
        clip = record_clip(
            arena.spec, arena.info, arena.factory, arena.weights, pa, pb, seed=seed, greedy=greedy
        )
        written = write_animation(clip.frames, Path(out), fps=fps)
    finally:
        arena.close()
    return ReplayResult(
        written,
        str(pa),
        str(pb),
        arena.spec.name,
        len(clip.frames),
        clip.match.length,
        clip.summary,
        clip.title,
    )


@dataclass(frozen=True)
class HumanGame:
    """A game a person played at the terminal (`league play`)."""

    match: MatchResult | None
    """The match (None: the person quit)."""
    seat: str | None
    """The person's team."""
    opponent: str
    recorded_in: Path | None
    """The run the game was stored in (None: no run, or it is read-only)."""
    read_only: bool
    quit_reason: str = ""


def play(
    opponent: str | None = None,
    *,
    run: str | Path | None = None,
    game: str | None = None,
    seat: int = 0,
    seed: int = 0,
    greedy: bool = False,
    bot_timeout: float | None = DEFAULT_BOT_TIMEOUT,
    stdin: TextIO,
    stdout: TextIO,
) -> HumanGame:
    """A person plays a turn-based game against `opponent` (default: the run's latest
    snapshot, else the game's scripted bot, else random), moves read from `stdin`; the
    game is recorded in the run where it can be written."""
    from league.evaluation import Arena
    from league.play import Quit, play_human
    from matchmaking import HUMAN, RANDOM, SCRIPTED

    # A read-only run: not recorded.
    arena = Arena.open(run, game, read_only=None, bot_timeout=bot_timeout)
    try:
        if opponent is None:
            scripted = SCRIPTED if arena.spec.bot is not None else RANDOM
            opponent = LATEST if arena.registry is not None else scripted
        player = arena.resolve(opponent)
        try:
            match = play_human(
                arena, player, seat=seat, seed=seed, greedy=greedy, stdin=stdin, stdout=stdout
            )
        except Quit as why:
            return HumanGame(None, None, str(player), None, False, str(why))
        mine = next(t for t, p in match.players.items() if p.bot == HUMAN)
        registry = arena.registry
        if registry is not None and arena.records:
            registry.add_matches([match.match_row(mine)])
            return HumanGame(match, mine, str(player), registry.run_dir, False)
        return HumanGame(match, mine, str(player), None, registry is not None)
    finally:
        arena.close()


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
    spec: Any = None
    """The game (`envs.GameSpec`)."""

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
    from league.evaluation import Arena

    arena = Arena.open(run, None, read_only=True)
    try:
        player = arena.resolve(name)
        if not player.is_snapshot:
            raise EvalError(
                f"{name!r} is not a snapshot of {run}: only a snapshot of the run can be "
                "exported or loaded"
            )
        policy = arena.factory(player.role)
        policy.load_state_dict(arena.weights[player])
        policy.eval()
        with contextlib.suppress(AttributeError):
            policy.requires_grad_(False)
        return Player(str(player), policy, dict(arena.info.member_of), greedy, spec=arena.spec)
    finally:
        arena.close()
