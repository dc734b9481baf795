"""The one rollout loop: step many env copies of any game with batched inference.

Turn-based and simultaneous games, training and evaluation, serial and Ray
runners all go through `rollout()`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents import Batch
from envs import GameEnv, GameError, GameInfo, ShapingParams
from envs.rewards import mixing_matrix, reward_components, shape_rewards, time_decay
from league.players import (
    LATEST,
    OPPONENT_BOT,
    OPPONENT_LATEST,
    RANDOM,
    PlayerPool,
    parse_key,
    policy_key,
)
from matchmaking import OpponentSampler, PFSPSampler

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Matchup:
    """Who plays which team in one episode, and whose experience is learned from.

    `players` maps team -> player key; `focal` is the team whose result the
    matchmaking bookkeeping is about; `opponent` is the snapshot id the focal
    team faces (OPPONENT_LATEST or OPPONENT_BOT otherwise).
    """

    players: dict[str, str]
    learn: frozenset[str]
    focal: str
    opponent: int
    opening: int = 0
    """Env steps at the start in which `opening_teams` move at random (never learned from)."""
    opening_teams: frozenset[str] | None = None
    """Teams whose opening moves are random (None: every team)."""


@dataclass
class SelfPlayMatchmaker:
    """Seat the latest policy on a rotating focal team and draw every other team's opponent.

    The focal team rotates every episode, so sides are swapped and no seat bias
    is learned. Teams played by a latest version are all learned from. With
    `random_opening` K, each episode opens with k uniformly random env steps, k drawn
    from 0..K, so that self-play keeps meeting varied positions: every team moves at
    random in them (`opening_side` "all"), or only the teams facing the focal team,
    which plays and learns throughout ("opponents"). `bots` gives
    built-in bots a share of the history draws (their games teach the focal team only).
    """

    info: GameInfo
    samplers: dict[str, OpponentSampler | PFSPSampler]
    random_opening: int = 0
    bots: dict[str, float] = field(default_factory=dict)
    """Bot key -> share of the history draws that the bot plays instead of the snapshot."""
    opening_side: str = "all"
    """`all`: every team moves at random in the opening; `opponents`: all but the focal."""

    def __call__(self, episode: int, rng: np.random.Generator) -> Matchup:
        teams = list(self.info.teams)
        roles = self.info.roles
        focal = teams[episode % len(teams)]
        players, opponent = {}, OPPONENT_LATEST
        for team in teams:
            version = LATEST if team == focal else self.samplers[roles[team]].sample(rng)
            players[team] = policy_key(roles[team], version)
            if team != focal and version != LATEST:
                bot = self._bot(rng)
                players[team] = bot or players[team]
                opponent = OPPONENT_BOT if bot else int(version)
        learn = frozenset(t for t, key in players.items() if parse_key(key)[1] == LATEST)
        opening = int(rng.integers(self.random_opening + 1)) if self.random_opening else 0
        side = None if self.opening_side == "all" else frozenset(teams) - {focal}
        return Matchup(players, learn, focal, opponent, opening, side)

    def _bot(self, rng: np.random.Generator) -> str | None:
        """The bot that takes this history draw, if any."""
        if not self.bots:
            return None
        u = rng.random()
        for bot, share in self.bots.items():
            if u < share:
                return bot
            u -= share
        return None


@dataclass
class VersusMatchmaker:
    """Seat `player` on a rotating focal team and `opponent` everywhere else; learn nothing.

    A policy (`role@version`) only sits on teams of its role; bots sit anywhere.
    `latest` means each team role's latest learning policy.
    """

    info: GameInfo
    player: str
    opponent: str

    def __post_init__(self) -> None:
        self._seats = [t for t in self.info.teams if self._fits(self.player, t)]
        if not self._seats:
            raise ValueError(f"player {self.player!r} fits no team of {self.info.name!r}")
        for focal in self._seats:
            for team in self.info.teams:
                if team != focal and not self._fits(self.opponent, team):
                    raise ValueError(
                        f"{self.opponent!r} cannot play team {team!r} of {self.info.name!r} "
                        f"(that team plays role {self.info.roles[team]!r})"
                    )

    def _fits(self, key: str, team: str) -> bool:
        role, version = parse_key(key)
        return key == LATEST or version == "" or role == self.info.roles[team]

    def __call__(self, episode: int, rng: np.random.Generator) -> Matchup:
        roles = self.info.roles
        focal = self._seats[episode % len(self._seats)]

        def seat(key: str, team: str) -> str:
            return policy_key(roles[team], LATEST) if key == LATEST else key

        players = {
            t: seat(self.player if t == focal else self.opponent, t) for t in self.info.teams
        }
        return Matchup(players, frozenset(), focal, OPPONENT_BOT)


@dataclass
class Episode:
    """One finished episode: who played, the outcome, and its length."""

    id: int
    players: dict[str, str]
    learn: list[str]
    focal: str
    opponent: int
    result: dict[str, float]
    """Team -> 1 win, 0.5 draw, 0 loss (from summed env rewards); empty for one team."""
    length: int
    returns: dict[str, float]
    signature: int = 0
    """Hash of the whole move sequence: equal for replays of the same game."""
    opening: int = 0
    """Env steps the random bot opened with (not learned from)."""


@dataclass
class RolloutResult:
    """What one call of `rollout()` produced."""

    batches: dict[str, Batch]
    episodes: list[Episode]
    env_steps: int
    agent_steps: int
    env_errors: int = 0
    """Env copies that raised and were rebuilt (their partial episodes dropped)."""


class _Stream:
    """One learning agent's steps in one episode, appended as it acts."""

    __slots__ = ("bootstrap", "components", "done", "episode", "opponent", "reward", "rows", "team")

    def __init__(self, *, team: int, episode: int, opponent: int) -> None:
        self.team, self.episode, self.opponent = team, episode, opponent
        self.rows: list[tuple] = []
        self.reward: list[float] = []
        self.components: list[np.ndarray] = []
        self.done = False
        self.bootstrap = 0.0


@dataclass
class _Running:
    """Book-keeping for one env copy's current episode."""

    id: int
    matchup: Matchup
    streams: dict[str, _Stream] = field(default_factory=dict)
    t: int = 0
    returns: np.ndarray | None = None
    signature: int = 0
    infos: dict[str, dict] = field(default_factory=dict)
    opening: int = 0


def rollout(
    envs: list[GameEnv],
    pool: PlayerPool,
    matchmaker: Callable[[int, np.random.Generator], Matchup],
    *,
    shaping: ShapingParams,
    rng: np.random.Generator,
    min_steps: int = 0,
    episodes: int = 0,
    first_episode: int = 0,
    episode_stride: int = 1,
    max_env_errors: int = 100,
    random_opening: int = 0,
) -> RolloutResult:
    """Play whole episodes on `envs` until `min_steps` learning steps and `episodes` episodes.

    New episodes start while either target is unmet; every started episode is
    played to its end, so each agent's stream is complete. The k-th episode
    started here gets id `first_episode + k * episode_stride` (workers use
    disjoint ids) and seat rotation `first_episode + k`. An env that raises is
    rebuilt and its partial episode dropped (counted in `env_errors`). With
    `random_opening` K (evaluation), the first K env steps of each episode are
    played by the random bot; in training the matchup's `opening` says how many.
    Opening steps are never learned from.
    """
    if random_opening and min_steps:
        raise ValueError("random_opening is for evaluation; it cannot be combined with learning")
    info = envs[0].info
    agents = list(info.agents)
    team_of, member_of, roles = info.team_of, info.member_of, info.roles
    team_ids = {team: i for i, team in enumerate(info.teams)}
    team_index = np.array([team_ids[team_of[a]] for a in agents])
    names = shaping.components
    weights = shaping.weight_vector()
    mix = mixing_matrix(team_index, tau=shaping.tau, zero_sum=shaping.zero_sum)
    no_mask = np.zeros(0, dtype=bool)
    out: dict[str, list[_Stream]] = {role: [] for role in set(roles.values())}
    # Streams cut off by a time limit, with their final observation and member, per role.
    cut: dict[str, list[tuple[_Stream, np.ndarray, int]]] = {role: [] for role in out}
    finished: list[Episode] = []
    running: dict[int, _Running] = {}
    started = collected = env_steps = agent_steps = env_errors = 0

    def start(i: int) -> None:
        nonlocal started
        matchup = matchmaker(first_episode + started, rng)
        running[i] = _Running(
            first_episode + started * episode_stride,
            matchup,
            returns=np.zeros(len(agents)),
            opening=max(random_opening, matchup.opening),
        )
        started += 1
        guarded(i, lambda: envs[i].reset(seed=int(rng.integers(2**31))))

    def guarded(i: int, call: Callable[[], Any]) -> Any:
        """Run an env call; on an exception rebuild the env and drop its episode."""
        nonlocal env_errors, collected
        try:
            return call()
        except Exception:
            env_errors += 1
            logger.warning(
                "env copy %d raised; rebuilding it and dropping its episode", i, exc_info=True
            )
            run = running.pop(i, None)
            if run is not None:
                collected -= sum(len(s.rows) for s in run.streams.values())
            with contextlib.suppress(Exception):
                envs[i].close()
            envs[i] = GameEnv(envs[i].spec, envs[i].info)
            if env_errors > max_env_errors:
                raise
            if wanted():
                start(i)
            return None

    def wanted() -> bool:
        return collected < min_steps or started < episodes

    for i in range(len(envs)):
        if wanted():
            start(i)

    while running:
        # Gather the acting agents of every running copy, grouped by player.
        groups: dict[tuple[str, str], list[tuple[int, str, np.ndarray, np.ndarray | None]]] = {}
        for i, run in list(running.items()):
            observed = guarded(i, lambda i=i: [(a, *envs[i].observe(a)) for a in envs[i].acting()])
            for agent, obs, mask in observed or ():
                role = roles[team_of[agent]]
                opening = run.t < run.opening and (
                    run.matchup.opening_teams is None or team_of[agent] in run.matchup.opening_teams
                )
                key = RANDOM if opening else run.matchup.players[team_of[agent]]
                groups.setdefault((key, role, opening), []).append((i, agent, obs, mask))
        actions: dict[int, dict[str, Any]] = {i: {} for i in running}
        for (key, role, opening), items in groups.items():
            player = pool.get(key, role)
            spaces = info.role_spaces[role]
            obs = np.stack([it[2] for it in items])
            member = np.array([member_of[it[1]] for it in items], dtype=np.int64)
            mask = None
            if spaces.discrete:
                mask = np.stack(
                    [
                        it[3] if it[3] is not None else np.ones(spaces.n_actions, dtype=bool)
                        for it in items
                    ]
                )
            act = player.act(obs, member, mask)
            # Python scalars once per batch: indexing numpy per agent is slow.
            chosen = act.action.tolist() if spaces.discrete else act.action
            logp, value = act.logp.tolist(), act.value.tolist()
            for j, (i, agent, _, _) in enumerate(items):
                action = chosen[j]
                if spaces.discrete:
                    actions[i][agent] = action
                elif spaces.multi:
                    actions[i][agent] = np.asarray(action, dtype=np.int64)
                else:
                    actions[i][agent] = np.clip(
                        action,
                        np.reshape(spaces.action_low, spaces.action_shape),
                        np.reshape(spaces.action_high, spaces.action_shape),
                    ).astype(np.float32)
                run = running[i]
                run.signature = hash(
                    (
                        run.signature,
                        agent,
                        actions[i][agent].tobytes()
                        if isinstance(actions[i][agent], np.ndarray)
                        else actions[i][agent],
                    )
                )
                agent_steps += 1
                if not opening and team_of[agent] in run.matchup.learn:
                    stream = run.streams.get(agent)
                    if stream is None:
                        stream = run.streams[agent] = _Stream(
                            team=team_ids[team_of[agent]],
                            episode=run.id,
                            opponent=run.matchup.opponent,
                        )
                    stream.rows.append(
                        (
                            obs[j],
                            mask[j] if mask is not None else no_mask,
                            member[j],
                            action,
                            logp[j],
                            value[j],
                            act.probs[j],
                            player.version,
                        )
                    )
                    stream.reward.append(0.0)
                    stream.components.append(np.zeros(len(names)))
                    collected += 1

        for i in list(running):
            run = running.get(i)
            if run is None or not actions.get(i):
                continue
            res = guarded(i, lambda i=i, act=actions[i]: envs[i].step(act))
            if res is None:
                continue
            env_steps += 1
            comps = reward_components(names, agents, res.rewards, res.infos)
            shaped = shape_rewards(comps, weights, mix, decay=time_decay(shaping, run.t))
            run.t += 1
            run.returns += comps[:, 0]
            run.infos.update(res.infos)
            for k, agent in enumerate(agents):
                stream = run.streams.get(agent)
                if stream is not None and stream.rows and not stream.done:
                    stream.reward[-1] += shaped[k]
                    stream.components[-1] += comps[k]
            for agent in res.terminated:
                if agent in run.streams:
                    run.streams[agent].done = True
            for agent, final_obs in res.truncated.items():
                stream = run.streams.get(agent)
                if stream is not None and stream.rows and not stream.done:
                    stream.done = True
                    # V(final obs) is computed in one batch per role after the loop.
                    cut[roles[team_of[agent]]].append((stream, final_obs, member_of[agent]))
            if res.over:
                finished.append(_finish(run, info, agents, envs[i].spec.outcome))
                for agent, stream in run.streams.items():
                    if stream.rows:
                        stream.done = True
                        out[roles[team_of[agent]]].append(stream)
                del running[i]
                if wanted():
                    start(i)

    for role, items in cut.items():
        if items:
            values = pool.latest[role].policy.value_of(
                np.stack([it[1] for it in items]), np.array([it[2] for it in items], dtype=np.int64)
            )
            for (stream, _, _), value in zip(items, values.tolist(), strict=True):
                stream.bootstrap = value
    batches = {role: _to_batch(streams) for role, streams in out.items() if streams}
    return RolloutResult(batches, finished, env_steps, agent_steps, env_errors)


def _finish(run: _Running, info: GameInfo, agents: list[str], outcome: Callable | None) -> Episode:
    """Decide the outcome: the game's `outcome` hook, else the highest summed env reward."""
    returns = {
        team: float(sum(run.returns[agents.index(a)] for a in members))
        for team, members in info.teams.items()
    }
    result: dict[str, float] = {}
    if outcome is not None and len(returns) > 1:
        got = outcome(dict(returns), dict(run.infos))
        if (
            not isinstance(got, dict)
            or set(got) != set(returns)
            or not all(isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in got.values())
        ):
            raise GameError(
                f"game {info.name!r}: outcome hook returned {got!r}; it must map every team "
                f"({sorted(returns)}) to 1 (win), 0.5 (draw) or 0 (loss)"
            )
        result = {team: float(v) for team, v in got.items()}
    elif len(returns) > 1:
        best = max(returns.values())
        winners = [t for t, r in returns.items() if r == best]
        for team in returns:
            if len(winners) == len(returns):
                result[team] = 0.5
            else:
                result[team] = (1.0 / len(winners)) if team in winners else 0.0
    m = run.matchup
    return Episode(
        id=run.id,
        players=dict(m.players),
        learn=sorted(m.learn),
        focal=m.focal,
        opponent=m.opponent,
        result=result,
        length=run.t,
        returns=returns,
        signature=run.signature,
        opening=min(run.opening, run.t),
    )


def _to_batch(streams: list[_Stream]) -> Batch:
    """Flatten streams into one Batch (streams stay contiguous, done at each end)."""
    rows = [row for s in streams for row in s.rows]
    cols = list(zip(*rows, strict=True))
    n = len(rows)
    done = np.zeros(n, dtype=bool)
    bootstrap = np.zeros(n, dtype=np.float32)
    pos = 0
    for s in streams:
        pos += len(s.rows)
        done[pos - 1] = True
        bootstrap[pos - 1] = s.bootstrap
    return Batch(
        obs=np.stack(cols[0]),
        mask=np.stack(cols[1]),
        member=np.asarray(cols[2], dtype=np.int64),
        action=np.asarray(cols[3]),
        logp=np.asarray(cols[4], dtype=np.float32),
        value=np.asarray(cols[5], dtype=np.float32),
        probs=np.stack(cols[6]).astype(np.float32),
        reward=np.asarray([r for s in streams for r in s.reward], dtype=np.float32),
        components=np.stack([c for s in streams for c in s.components]).astype(np.float32),
        done=done,
        bootstrap=bootstrap,
        version=np.asarray(cols[7], dtype=np.int64),
        team=np.repeat([s.team for s in streams], [len(s.rows) for s in streams]),
        episode=np.repeat([s.episode for s in streams], [len(s.rows) for s in streams]),
        opponent=np.repeat([s.opponent for s in streams], [len(s.rows) for s in streams]),
    )


def match_row(episode: Episode, iteration: int, kind: str = "eval") -> dict[str, Any]:
    """Describe an episode as a registry `matches` row."""
    return {
        "iteration": iteration,
        "kind": kind,
        "participants": sorted(set(episode.players.values())),
        "sides": episode.players,
        "result": episode.result,
        "length": episode.length,
    }
