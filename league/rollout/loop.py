"""The one rollout loop: step many env copies of any game with batched inference.

Turn-based and simultaneous games, training and evaluation, serial and Ray
runners all go through `rollout()`. It plays the matchups a matchmaker decides
and never decides itself; it does not know which learner will read its batches.

A learning rollout leaves its episodes under way on its `Games` for the next one:
each learning stream ships fixed-length fragments (the last bootstrapping from the
value of the observation that follows), so an iteration's size is bounded whatever
the episode length, and an episode is booked in the rollout where it ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from agents import Batch
from envs import GameEnv, GameError, GameInfo, ShapingParams
from envs.adapter import BadValue
from envs.rewards import mixing_matrix, reward_components, shape_rewards, time_decay
from envs.rules import decide_outcome, env_action
from league.rollout.players import PlayerPool, ask
from league.rollout.watchdog import Overrun
from league.signals import raise_lost_stop
from matchmaking import RANDOM, Matchmaker, Matchup, PlayerId

logger = logging.getLogger(__name__)
TRACEBACKS = logging.getLogger("league.tracebacks")
"""Full tracebacks of errors the run survives, and the Ray rollout workers' log records:
to the run's log file, never the terminal."""
TRACEBACKS.propagate = False
TRACEBACKS.addHandler(logging.NullHandler())


class EnvFailure(GameError):
    """The game's env kept raising: past the error budget the run stops."""


class RolloutTimeout(EnvFailure):
    """A rollout ran past `train.rollout_timeout` seconds (an env or a bot that never
    returns); the message names the env copy and its episode's seed where one was
    being stepped."""


class WorkersLost(RuntimeError):
    """Rollout workers could not be placed on the cluster in time (a lost node), and the
    run cannot or should not go on without them (`train.on_lost_worker`)."""


_RANDOM = PlayerId.of_bot(RANDOM)


@dataclass(frozen=True)
class RolloutRequest:
    """What to play: whose matchups, how much, and how it is seeded and shaped.

    Learning (`min_steps` > 0): every env copy always has an episode under way (a new
    one starts when one ends); each learning agent's stream ships a fragment every
    `fragment_length` agent-steps (0: only when its episode ends) and at its episode's
    end; the rollout returns once `min_steps` steps have shipped, and the episodes
    still under way go on in the next learning rollout on the same `Games`.
    Evaluation (`episodes` > 0): `episodes` episodes are started and each is played
    to its end. The k-th episode a `Games` starts gets id `first_episode + k *
    episode_stride` (Ray workers use disjoint ids) and seat rotation `first_episode +
    k`, with the `first_episode` of the rollout that started it afresh. With
    `random_opening` K (evaluation) the first K env steps of each episode are played by
    the random bot; in training the matchup's `opening` says how many. Opening steps
    are never learned from.
    """

    matchmaker: Matchmaker
    shaping: ShapingParams = field(default_factory=ShapingParams)
    seed: int = 0
    min_steps: int = 0
    episodes: int = 0
    first_episode: int = 0
    episode_stride: int = 1
    random_opening: int = 0
    max_env_errors: int = 100
    """Env errors after which the rollout gives up (each one drops an episode)."""
    fragment_length: int = 0
    """Agent-steps per shipped fragment of a learning stream (0: whole episodes)."""
    nan_rewards: str = "stop"
    """What a NaN reward does: "stop" the rollout (a `BadValue`) or count as "zero"."""
    timeout: float | None = None
    """Seconds the rollout may take (None: no limit); past it `RolloutTimeout`."""
    fresh: bool = False
    """Learning: drop the episodes under way first and start new ones, as a resumed run
    does (a best response does so after each checkpoint, so that resuming is exact)."""

    def __post_init__(self) -> None:
        if self.min_steps and (self.random_opening or self.episodes):
            raise ValueError(
                "a rollout either learns (min_steps) or evaluates (episodes, random_opening)"
            )
        if self.fragment_length < 0:
            raise ValueError(f"fragment_length must be >= 0, not {self.fragment_length}")

    @property
    def learning(self) -> bool:
        """Whether this rollout collects learning steps (its episodes go on afterwards)."""
        return self.min_steps > 0

    def split(self, n: int) -> list[RolloutRequest]:
        """Divide the targets over `n` workers (own seeds, disjoint episode ids)."""
        seeds = np.random.SeedSequence(self.seed).generate_state(n)
        return [
            dataclasses.replace(
                self,
                seed=int(seeds[w]),
                min_steps=math.ceil(self.min_steps / n),
                episodes=math.ceil(self.episodes / n),
                first_episode=self.first_episode + w,
                episode_stride=n,
            )
            for w in range(n)
        ]


@dataclass
class Episode:
    """One finished episode: who played, the outcome, and its length."""

    id: int
    players: dict[str, PlayerId]
    learn: list[str]
    focal: str
    result: dict[str, float]
    """Team -> 1 win, 0.5 draw, 0 loss (from summed env rewards); empty for one team."""
    length: int
    returns: dict[str, float]
    signature: int = 0
    """Hash of the whole move sequence: equal for replays of the same game."""
    opening: int = 0
    """Env steps the random bot opened with (not learned from)."""
    infos: dict[str, dict] = field(default_factory=dict)
    """Each agent's last info (what the game's `outcome` hook read), e.g. who is alive."""

    def opponents(self) -> dict[str, PlayerId]:
        """Team -> player, for every team but the focal one."""
        return {t: p for t, p in self.players.items() if t != self.focal}

    def match_row(self, iteration: int, kind: str = "eval") -> dict[str, Any]:
        """Describe the episode as a registry `matches` row."""
        return {
            "iteration": iteration,
            "kind": kind,
            "participants": sorted({str(p) for p in self.players.values()}),
            "sides": {team: str(p) for team, p in self.players.items()},
            "result": self.result,
            "length": self.length,
        }


STAGES = ("env", "inference", "bookkeeping")
"""A rollout's stages, as `RolloutResult.timings` names them."""


@dataclass
class RolloutResult:
    """What one rollout produced."""

    batches: dict[str, Batch]
    """Learner (`PlayerId.learner`: `role` or `role/agent`) -> its learning agents' steps."""
    episodes: list[Episode]
    env_steps: int
    agent_steps: int
    env_errors: int = 0
    """Env copies that raised and were rebuilt (their partial episodes dropped)."""
    abandoned: int = 0
    """Episodes under way that were dropped because a player of theirs left the pool."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds the rollout spent per stage, summed over the workers (`STAGES`): stepping
    and observing the envs, the policies' forward passes, and the rest (streams, reward
    shaping, episode books, batch building)."""

    @property
    def learn_steps(self) -> int:
        """Agent-steps shipped to the learners."""
        return sum(len(b) for b in self.batches.values())

    @staticmethod
    def merge(results: list[RolloutResult]) -> RolloutResult:
        """Join several workers' results into one."""
        keys = sorted({key for r in results for key in r.batches})
        return RolloutResult(
            batches={
                key: Batch.concat([r.batches[key] for r in results if key in r.batches])
                for key in keys
            },
            episodes=[e for r in results for e in r.episodes],
            env_steps=sum(r.env_steps for r in results),
            agent_steps=sum(r.agent_steps for r in results),
            env_errors=sum(r.env_errors for r in results),
            abandoned=sum(r.abandoned for r in results),
            timings={k: sum(r.timings.get(k, 0.0) for r in results) for k in STAGES},
        )


class Step(NamedTuple):
    """One learning agent's step, as the policy saw and chose it."""

    obs: np.ndarray
    mask: np.ndarray
    member: int
    action: Any
    logp: float
    value: float
    probs: np.ndarray
    version: int
    state: np.ndarray
    """The recurrent state the agent acted from ([0]: feed-forward)."""


class _Stream:
    """One learning agent's steps in one episode (one fragment of them), appended as it
    acts. `truncated`: cut before the agent's episode ended, `bootstrap` then holds the
    value of the observation that follows."""

    __slots__ = (
        "bootstrap",
        "components",
        "done",
        "episode",
        "reward",
        "steps",
        "team",
        "truncated",
    )

    def __init__(self, *, team: int, episode: int) -> None:
        self.team, self.episode = team, episode
        self.steps: list[Step] = []
        self.reward: list[float] = []
        self.components: list[np.ndarray] = []
        self.done = self.truncated = False
        self.bootstrap = 0.0


@dataclass
class _Running:
    """Book-keeping for one env copy's current episode."""

    id: int
    matchup: Matchup
    returns: np.ndarray
    opening: int
    streams: dict[str, _Stream] = field(default_factory=dict)
    t: int = 0
    signature: int = 0
    infos: dict[str, dict] = field(default_factory=dict)
    states: dict[str, np.ndarray] = field(default_factory=dict)
    """Agent -> its recurrent state after its last step (none yet: the initial state)."""

    def in_opening(self, team: str) -> bool:
        """The random bot moves for `team` now (never learned from)."""
        teams = self.matchup.opening_teams
        return self.t < self.opening and (teams is None or team in teams)


class Games:
    """Env copies and the episodes under way on them, kept from one rollout to the next.

    A runner keeps one for learning (its episodes go on across iterations) and one for
    evaluation (idle between rollouts), so evaluating never disturbs training games.
    """

    def __init__(self, envs: list[GameEnv]) -> None:
        self.envs = envs
        self.running: dict[int, _Running] = {}
        self.started = 0
        """Episodes started since numbering began (see `RolloutRequest`)."""
        self.first: int | None = None
        self.stride = 1

    def drop_episodes(self) -> None:
        """Forget the episodes under way and their numbering (what a resumed run loses)."""
        self.running.clear()
        self.first = None

    def number_from(self, request: RolloutRequest) -> None:
        """Number the next episodes afresh from `request.first_episode`."""
        self.first, self.stride, self.started = request.first_episode, request.episode_stride, 0

    def close(self) -> None:
        """Close every env copy (the episodes under way are dropped)."""
        self.running.clear()
        for env in self.envs:
            with contextlib.suppress(Exception):
                env.close()


class _Acting(NamedTuple):
    """An agent that must act now, in env copy `env`."""

    env: int
    agent: str
    obs: np.ndarray
    mask: np.ndarray | None


def rollout(
    games: Games | list[GameEnv],
    pool: PlayerPool,
    request: RolloutRequest,
    rng: np.random.Generator,
) -> RolloutResult:
    """Play what `request` asks on `games` (a list of envs: fresh games) with `pool`.

    Each step groups the acting agents of all copies by (player, role, opening)
    and runs one batched forward pass per group; rewards are shaped per env step
    and added to each learning agent's latest step, so a turn-based agent's step
    collects the rewards of the moves that follow it until it acts again. An env
    that raises is rebuilt and its partial episode dropped (`env_errors`).
    """
    start = time.perf_counter()
    loop = _Loop(games if isinstance(games, Games) else Games(games), pool, request, rng)
    for i in range(len(loop.envs)):
        if i not in loop.running and loop.wanted():
            loop.start(i)
    while loop.running and not loop.enough():
        raise_lost_stop()
        actions = loop.choose_actions(loop.acting_groups())
        for i, acts in actions.items():
            loop.step(i, acts)
    loop.bootstrap_truncated()
    result = loop.result()
    spent = loop.timings
    spent["bookkeeping"] = time.perf_counter() - start - spent["env"] - spent["inference"]
    result.timings = spent
    return result


class _Loop:
    """One `rollout()` call on a `Games`, with one method per stage."""

    def __init__(
        self,
        games: Games,
        pool: PlayerPool,
        request: RolloutRequest,
        rng: np.random.Generator,
    ) -> None:
        self.games, self.pool, self.request, self.rng = games, pool, request, rng
        self.envs, self.running = games.envs, games.running
        for env in self.envs:
            env.nan_rewards = request.nan_rewards
        if not request.learning and self.running:
            raise ValueError("an evaluation rollout needs env copies with no episode under way")
        if not request.learning or games.first is None:
            games.number_from(request)
        info = self.info = self.envs[0].info
        self.agents = list(info.agents)
        self.team_ids = {team: i for i, team in enumerate(info.teams)}
        team_index = np.array([self.team_ids[info.team_of[a]] for a in self.agents])
        shaping = request.shaping
        self.weights = shaping.weight_vector()
        self.mix = mixing_matrix(team_index, tau=shaping.tau, zero_sum=shaping.zero_sum)
        # Shipped streams per learner (`PlayerId.learner`: a role's main agent or another
        # of its agents), and those cut off by a time limit with their final observation
        # and member.
        self.streams: dict[str, list[_Stream]] = {}
        self.cut: dict[str, list[tuple[_Stream, np.ndarray, int, np.ndarray | None]]] = {}
        self.finished: list[Episode] = []
        self.shipped = self.env_steps = self.agent_steps = self.env_errors = 0
        self.timings = {"env": 0.0, "inference": 0.0}
        """Seconds in the envs (step, observe) and in forward passes so far."""
        self.abandoned = self._abandon_unplayable()

    def _abandon_unplayable(self) -> int:
        """Drop the episodes under way that a player left (a snapshot the opponent pools
        evicted between rollouts): their unshipped steps are lost, nothing is booked."""
        gone = [
            i
            for i, run in self.running.items()
            if not all(self.pool.has(p) for p in run.matchup.players.values())
        ]
        for i in gone:
            del self.running[i]
        return len(gone)

    def wanted(self) -> bool:
        """Whether another episode should start: always while learning (every env copy
        keeps playing), else until `episodes` were started."""
        return self.request.learning or self.games.started < self.request.episodes

    def enough(self) -> bool:
        """Whether a learning rollout has shipped its `min_steps` (an evaluation plays on
        until its episodes are over)."""
        return self.request.learning and self.shipped >= self.request.min_steps

    def start(self, i: int) -> None:
        """Start the next episode on env copy `i`."""
        r, g = self.request, self.games
        matchup = r.matchmaker(g.first + g.started, self.rng)
        self.running[i] = _Running(
            g.first + g.started * g.stride,
            matchup,
            returns=np.zeros(len(self.agents)),
            opening=max(r.random_opening, matchup.opening),
        )
        g.started += 1
        t = time.perf_counter()
        self.guarded(i, lambda: self.envs[i].reset(seed=int(self.rng.integers(2**31))))
        self.timings["env"] += time.perf_counter() - t

    def guarded(self, i: int, call: Callable[[], Any]) -> Any:
        """Run an env call; on an exception rebuild the env and drop its episode.

        Each error is one warning line; its full traceback goes to the `league.tracebacks`
        logger (the run directory's log file). Past `max_env_errors` the rollout stops with
        an `EnvFailure` that names the game, the exception and its last frame.
        """
        try:
            return call()
        except BadValue:
            raise  # a number no episode should learn from: the run stops
        except Overrun as late:
            env = self.envs[i]
            seed = "unseeded" if env.seed is None else f"seed {env.seed}"
            raise RolloutTimeout(
                f"game {self.info.name!r}: the rollout {late}, in env copy {i} at step {env.t} "
                f"of the episode with {seed}"
            ) from None
        except Exception as err:
            self.env_errors += 1
            where = _last_frame(err)
            logger.warning(
                "env copy %d of %s raised %s: %s (%s); rebuilt, its episode dropped",
                i,
                self.info.name,
                type(err).__name__,
                err,
                where,
            )
            TRACEBACKS.warning("env copy %d of %s raised", i, self.info.name, exc_info=True)
            if self.env_errors > self.request.max_env_errors:
                raise EnvFailure(
                    f"game {self.info.name!r}: the env raised {self.env_errors} times in one "
                    f"rollout, last {type(err).__name__}: {err} ({where}); stopping"
                ) from None
            self.running.pop(i, None)  # its unshipped steps are lost
            with contextlib.suppress(Exception):
                self.envs[i].close()
            self.envs[i] = GameEnv(self.envs[i].spec, self.envs[i].info)
            self.envs[i].nan_rewards = self.request.nan_rewards
            if self.wanted():
                self.start(i)
            return None

    def acting_groups(self) -> dict[tuple[PlayerId, str, bool], list[_Acting]]:
        """Group the agents that act now by (player, role, opening)."""
        info = self.info
        groups: dict[tuple[PlayerId, str, bool], list[_Acting]] = {}
        for i, run in list(self.running.items()):
            env = self.envs[i]
            t = time.perf_counter()
            observed = self.guarded(i, lambda env=env: [(a, *env.observe(a)) for a in env.acting()])
            self.timings["env"] += time.perf_counter() - t
            for agent, obs, mask in observed or ():
                team = info.team_of[agent]
                opening = run.in_opening(team)
                player = _RANDOM if opening else run.matchup.players[team]
                groups.setdefault((player, info.roles[team], opening), []).append(
                    _Acting(i, agent, obs, mask)
                )
        return groups

    def choose_actions(
        self, groups: dict[tuple[PlayerId, str, bool], list[_Acting]]
    ) -> dict[int, dict[str, Any]]:
        """Run one forward pass per group; record learning agents' steps."""
        actions: dict[int, dict[str, Any]] = {i: {} for i in self.running}
        for (player, role, opening), items in groups.items():
            actor = self.pool.get(player, role)
            spaces = self.info.role_spaces[role]
            obs = np.stack([it.obs for it in items])
            if obs.dtype.kind == "f" and not np.isfinite(obs).all():
                self._bad_observation(items, obs)
            member = np.array([self.info.member_of[it.agent] for it in items], dtype=np.int64)
            mask = _masks(items, spaces.n_actions) if spaces.discrete else None
            state = self._states(items, actor.state_size)
            t = time.perf_counter()
            out = ask(actor, [self.envs[it.env] for it in items], obs, member, mask, state)
            self.timings["inference"] += time.perf_counter() - t
            # Python scalars once per batch: indexing numpy per agent is slow.
            chosen = out.action.tolist() if spaces.discrete else out.action
            logp, value = out.logp.tolist(), out.value.tolist()
            for j, it in enumerate(items):
                action = actions[it.env][it.agent] = env_action(chosen[j], spaces)
                run = self.running[it.env]
                if out.state is not None:
                    run.states[it.agent] = out.state[j]
                run.signature = hash((run.signature, it.agent, _hashable(action)))
                self.agent_steps += 1
                if not opening and self.info.team_of[it.agent] in run.matchup.learn:
                    step = Step(
                        obs[j],
                        _NO_MASK if mask is None else mask[j],
                        member[j],
                        chosen[j],
                        logp[j],
                        value[j],
                        out.probs[j],
                        actor.version,
                        _NO_STATE if state is None else state[j],
                    )
                    self._record(run, it.agent, step)
        return actions

    def _bad_observation(self, items: list[_Acting], obs: np.ndarray) -> None:
        """Raise `BadValue` for the first acting agent whose observation holds NaN or inf."""
        j = int(np.flatnonzero(~np.isfinite(obs.reshape(len(items), -1)).all(axis=1))[0])
        bad = obs[j][~np.isfinite(obs[j])]
        raise self.envs[items[j].env].bad(
            items[j].agent, f"an observation holding {bad[0]} ({bad.size} of {obs[j].size} values)"
        )

    def _states(self, items: list[_Acting], size: int) -> np.ndarray | None:
        """The recurrent states the acting agents act from [B, size] (None: size 0);
        an agent that has not acted yet in its episode starts from zeros."""
        if not size:
            return None
        zeros = np.zeros(size, dtype=np.float32)
        return np.stack([self.running[it.env].states.get(it.agent, zeros) for it in items])

    def _record(self, run: _Running, agent: str, step: Step) -> None:
        """Append a learning agent's step to its stream (opened on its first step).

        A stream that holds `fragment_length` steps when its agent acts again is full and
        its last reward complete: it ships, bootstrapping from the value of the
        observation the agent acts on now, and a new fragment of the stream begins.
        """
        stream = run.streams.get(agent)
        if stream is not None and len(stream.steps) == self.request.fragment_length:
            stream.truncated, stream.bootstrap = True, step.value
            self._ship(run, agent, stream)
            stream = None
        if stream is None:
            team = self.team_ids[self.info.team_of[agent]]
            stream = run.streams[agent] = _Stream(team=team, episode=run.id)
        stream.steps.append(step)
        stream.reward.append(0.0)
        stream.components.append(np.zeros(len(self.request.shaping.components)))

    def _ship(self, run: _Running, agent: str, stream: _Stream) -> None:
        """Hand a finished fragment to its learner's batch."""
        stream.done = True
        self.streams.setdefault(self._learner(run, agent), []).append(stream)
        self.shipped += len(stream.steps)

    def step(self, i: int, actions: dict[str, Any]) -> None:
        """Step env copy `i`; shape its rewards; close streams and the episode when over."""
        run = self.running.get(i)
        if run is None or not actions:
            return
        t = time.perf_counter()
        res = self.guarded(i, lambda: self.envs[i].step(actions))
        self.timings["env"] += time.perf_counter() - t
        if res is None:
            return
        self.env_steps += 1
        shaping = self.request.shaping
        comps = reward_components(shaping.components, self.agents, res.rewards, res.infos)
        shaped = shape_rewards(comps, self.weights, self.mix, decay=time_decay(shaping, run.t))
        run.t += 1
        run.returns += comps[:, 0]
        run.infos.update(res.infos)
        for k, agent in enumerate(self.agents):
            stream = run.streams.get(agent)
            if stream is not None and not stream.done:
                stream.reward[-1] += shaped[k]
                stream.components[-1] += comps[k]
        for agent in res.terminated:
            if agent in run.streams:
                run.streams[agent].done = True
        for agent, final_obs in res.truncated.items():
            stream = run.streams.get(agent)
            if stream is not None and not stream.done:
                stream.done = stream.truncated = True
                # V(final obs) is computed in one batch per learner after the loop.
                self.cut.setdefault(self._learner(run, agent), []).append(
                    (stream, final_obs, self.info.member_of[agent], run.states.get(agent))
                )
        if res.over:
            self._end_episode(i, run)

    def _end_episode(self, i: int, run: _Running) -> None:
        """Book a finished episode, hand its streams over, and start the next one."""
        self.finished.append(_finish(run, self.info, self.agents, self.envs[i].spec.outcome))
        for agent, stream in run.streams.items():
            self._ship(run, agent, stream)
        del self.running[i]
        if self.wanted():
            self.start(i)

    def _learner(self, run: _Running, agent: str) -> str:
        """The learner whose stream an agent's steps are (the latest policy on its team)."""
        return run.matchup.players[self.info.team_of[agent]].learner

    def bootstrap_truncated(self) -> None:
        """Give each stream cut by a time limit V(final observation), one batch per learner."""
        for learner, items in self.cut.items():
            if items:
                policy = self.pool.latest[learner].policy
                values = policy.value_of(
                    np.stack([it[1] for it in items]),
                    np.array([it[2] for it in items], dtype=np.int64),
                    np.stack([it[3] for it in items]) if policy.recurrent else None,
                )
                for (stream, *_), value in zip(items, values.tolist(), strict=True):
                    stream.bootstrap = value

    def result(self) -> RolloutResult:
        """The batches per learner and the finished episodes."""
        batches = {key: _to_batch(streams) for key, streams in self.streams.items() if streams}
        return RolloutResult(
            batches,
            self.finished,
            self.env_steps,
            self.agent_steps,
            self.env_errors,
            self.abandoned,
        )


_NO_MASK = np.zeros(0, dtype=bool)
_NO_STATE = np.zeros(0, dtype=np.float32)


def _masks(items: list[_Acting], n_actions: int) -> np.ndarray:
    """Stack the legal-action masks (all legal where the game gives none)."""
    return np.stack(
        [it.mask if it.mask is not None else np.ones(n_actions, dtype=bool) for it in items]
    )


def _last_frame(err: BaseException) -> str:
    """`file:line in function` of the innermost frame of an exception's traceback."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return "no traceback"
    last = frames[-1]
    return f"{last.filename}:{last.lineno} in {last.name}"


def _hashable(action: Any) -> Any:
    return action.tobytes() if isinstance(action, np.ndarray) else action


def _finish(run: _Running, info: GameInfo, agents: list[str], outcome: Callable | None) -> Episode:
    """The finished episode, its outcome decided by `decide_outcome`."""
    returns = {
        team: float(sum(run.returns[agents.index(a)] for a in members))
        for team, members in info.teams.items()
    }
    result = decide_outcome(returns, run.infos, info, outcome)
    m = run.matchup
    return Episode(
        id=run.id,
        players=dict(m.players),
        learn=sorted(m.learn),
        focal=m.focal,
        result=result,
        length=run.t,
        returns=returns,
        signature=run.signature,
        opening=min(run.opening, run.t),
        infos=dict(run.infos),
    )


def _to_batch(streams: list[_Stream]) -> Batch:
    """Flatten streams into one Batch (streams stay contiguous, done at each end)."""
    steps = [step for s in streams for step in s.steps]
    cols = Step(*zip(*steps, strict=True))
    lengths = [len(s.steps) for s in streams]
    ends = np.cumsum(lengths) - 1
    n = len(steps)
    done = np.zeros(n, dtype=bool)
    done[ends] = True
    truncated = np.zeros(n, dtype=bool)
    truncated[ends] = [s.truncated for s in streams]
    bootstrap = np.zeros(n, dtype=np.float32)
    bootstrap[ends] = [s.bootstrap for s in streams]
    return Batch(
        obs=np.stack(cols.obs),
        mask=np.stack(cols.mask),
        member=np.asarray(cols.member, dtype=np.int64),
        action=np.asarray(cols.action),
        logp=np.asarray(cols.logp, dtype=np.float32),
        value=np.asarray(cols.value, dtype=np.float32),
        probs=np.stack(cols.probs).astype(np.float32),
        reward=np.asarray([r for s in streams for r in s.reward], dtype=np.float32),
        components=np.stack([c for s in streams for c in s.components]).astype(np.float32),
        done=done,
        truncated=truncated,
        bootstrap=bootstrap,
        version=np.asarray(cols.version, dtype=np.int64),
        team=np.repeat([s.team for s in streams], lengths),
        episode=np.repeat([s.episode for s in streams], lengths),
        state=np.stack(cols.state).astype(np.float32),
    )
