"""Who plays with whom: teams from the rewards random play pays, and from agent names.

Names alone guess wrong: Hanabi's `player_0` and `player_1` share one score, and in
MPE's `simple_crypto` `alice_0` and `bob_0` are partners against `eve_0`. The rewards
say so. `infer_from_play` plays a few random episodes and counts, for every pair of
agents, the steps where both were paid the same non-zero reward and the steps where
they were paid differently:

- two agents always paid alike, on at least `MIN_ALIKE` rewarded steps, are partners
  (all agents alike: one cooperative team);
- agents with the same name before their index (`adversary_0`, `adversary_1`) stay
  together even when they are paid differently, since team-mates often get rewards of
  their own (a collision penalty, a fall);
- the teams are the agents joined by either rule.

Where the evidence is thin (no reward paid, or teams never paid differently but too
rarely alike to be called partners) the result says so in `warnings`: `league
inspect` prints them, and `game.teams` in a config overrides the inference.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv

from envs.spec import GameError, infer_teams, name_prefix

if TYPE_CHECKING:
    from envs.spec import GameSpec

log = logging.getLogger(__name__)

MIN_ALIKE = 3
"""Rewarded steps two agents must be paid alike (and never differently) to be partners."""
MAX_EPISODES = 8
"""Random episodes played at most."""
MAX_STEPS = 2000
"""Env steps (agent moves in a turn-based game) random play may take in all."""


@dataclass(frozen=True)
class TeamEvidence:
    """What random play showed about who shares rewards with whom, and the teams it gives."""

    agents: tuple[str, ...]
    episodes: int
    """Random episodes played to their end."""
    steps: int
    """Env steps played in all (a turn-based game: agent moves)."""
    paid: dict[str, int]
    """Agent -> steps at which it was paid a non-zero reward."""
    alike: list[list[str]]
    """Groups of two or more agents always paid alike, on at least `MIN_ALIKE` rewarded steps."""
    teams: dict[str, list[str]]
    source: str
    """What decided the teams: "rewards", "names" or "names and rewards"."""
    warnings: list[str]
    """Why the teams may be wrong (empty when the evidence is clear)."""

    def to_json(self) -> dict[str, Any]:
        """The evidence as `league inspect` reports it."""
        return {
            "finished_episodes": self.episodes,
            "env_steps": self.steps,
            "rewarded_steps": dict(self.paid),
            "paid_alike": [list(g) for g in self.alike],
            "teams_from": self.source,
        }


def infer_from_play(
    spec: GameSpec, *, seed: int = 0, episodes: int = MAX_EPISODES, max_steps: int = MAX_STEPS
) -> TeamEvidence:
    """Play random episodes of the game (its env as built, no preprocessing) and infer
    its teams from the rewards paid, agent names filling in what they leave open.

    Play stops once every two agents that names put apart have been paid differently
    (nothing more can join them), or at the end of an episode once each such pair is
    either told apart or joined, or after `episodes` episodes or `max_steps` steps."""
    env = spec.make(**dict(spec.kwargs))
    try:
        agents = tuple(env.possible_agents)
        tally = _Tally(agents)
        names = infer_teams(agents)
        finished = 0
        for rewards in _random_steps(env, np.random.default_rng(seed), seed):
            if rewards is None:  # an episode ended
                finished += 1
                if finished >= episodes or tally.settled(names):
                    break
                continue
            tally.add(rewards)
            if tally.steps >= max_steps or tally.told_apart(names):
                break
    finally:
        env.close()
    return tally.evidence(names, finished)


def with_inferred_teams(spec: GameSpec) -> GameSpec:
    """The spec with its teams inferred from random play (a spec with teams is returned
    as it is); the evidence rides along as `spec.team_evidence`."""
    if spec.teams is not None:
        return spec
    try:
        evidence = infer_from_play(spec)
    except GameError:  # the game refused its settings: that one line is the whole story
        raise
    except Exception as err:  # a broken env is reported where the run builds it
        log.warning("game %r: random play raised %r; teams from agent names", spec.name, err)
        return spec
    return dataclasses.replace(spec, teams=evidence.teams, team_evidence=evidence)


class _Tally:
    """Pairwise counts of rewards paid alike (non-zero) and paid differently."""

    def __init__(self, agents: Sequence[str]) -> None:
        self.agents = tuple(agents)
        self.index = {a: i for i, a in enumerate(self.agents)}
        n = len(self.agents)
        self.alike = np.zeros((n, n), np.int64)
        self.differ = np.zeros((n, n), np.int64)
        self.paid = np.zeros(n, np.int64)
        self.steps = 0

    def add(self, rewards: Mapping[str, Any]) -> None:
        """Count one env step's rewards (agents absent from `rewards` are not compared)."""
        r = np.full(len(self.agents), np.nan)
        for agent, value in rewards.items():
            if agent in self.index:
                r[self.index[agent]] = float(value)
        present = ~np.isnan(r)
        both = present[:, None] & present[None, :]
        equal = (r[:, None] == r[None, :]) & both
        nonzero = present & (np.nan_to_num(r) != 0)
        self.alike += equal & nonzero[:, None]
        self.differ += both & ~equal
        self.paid += nonzero
        self.steps += 1

    def partners(self) -> np.ndarray:
        """[n, n] True where two agents were paid alike often enough and never differently."""
        return (self.differ == 0) & (self.alike >= MIN_ALIKE)

    def _apart(self, names: Mapping[str, Sequence[str]]) -> np.ndarray:
        """[n, n] True where names put two agents on different teams."""
        group = np.zeros(len(self.agents), np.int64)
        for g, members in enumerate(names.values()):
            group[[self.index[a] for a in members]] = g
        return group[:, None] != group[None, :]

    def told_apart(self, names: Mapping[str, Sequence[str]]) -> bool:
        """True when every two agents that names put apart were paid differently."""
        return bool(np.all(~self._apart(names) | (self.differ > 0)))

    def settled(self, names: Mapping[str, Sequence[str]]) -> bool:
        """True when every two agents that names put apart are told apart or joined."""
        return bool(np.all(~self._apart(names) | (self.differ > 0) | self.partners()))

    def evidence(self, names: Mapping[str, Sequence[str]], episodes: int) -> TeamEvidence:
        """Join agents that names or rewards put together; say what is left unclear."""
        n = len(self.agents)
        by_names = _components(n, [[self.index[a] for a in m] for m in names.values()])
        partners = self.partners()
        pairs = [[i, j] for i in range(n) for j in range(i + 1, n) if partners[i, j]]
        by_rewards = _components(n, pairs)
        final = _components(n, [*([self.index[a] for a in m] for m in names.values()), *pairs])
        teams = {_team_name(c, self.agents, names): [self.agents[i] for i in c] for c in final}
        if not self.paid.any():
            source = "names"
        elif final == by_rewards:
            source = "rewards"
        elif final == by_names:
            source = "names"
        else:
            source = "names and rewards"
        return TeamEvidence(
            agents=self.agents,
            episodes=episodes,
            steps=self.steps,
            paid={a: int(self.paid[i]) for i, a in enumerate(self.agents)},
            alike=[[self.agents[i] for i in c] for c in by_rewards if len(c) > 1],
            teams=teams,
            source=source,
            warnings=self._warnings(teams, episodes, joined=final != by_names),
        )

    def _warnings(
        self, teams: Mapping[str, list[str]], episodes: int, *, joined: bool
    ) -> list[str]:
        """Why the teams may be wrong: no reward to go by, partners judged on part of one
        episode, or teams never paid differently yet too rarely alike to be joined."""
        if len(teams) == 1 and not joined:
            return []  # the names make one team: no reward can split it
        if not self.paid.any():
            return [
                f"random play paid no reward in {self.steps} steps: the teams come from "
                "the agent names alone; set game.teams if they are wrong"
            ]
        out = []
        if episodes == 0 and joined:
            out.append(
                f"agents were joined on rewards from part of one episode ({self.steps} steps, "
                "none ended): set game.teams if they are opponents"
            )
        names = list(teams)
        for x, tx in enumerate(names):
            for ty in names[x + 1 :]:
                ix = [self.index[a] for a in teams[tx]]
                iy = [self.index[a] for a in teams[ty]]
                if self.differ[np.ix_(ix, iy)].any():
                    continue
                seen = int(self.alike[np.ix_(ix, iy)].max())
                out.append(
                    f"teams {tx!r} and {ty!r} were never paid differently in random play, but "
                    f"alike on only {seen} of the {MIN_ALIKE} rewarded steps that make partners: "
                    "they may be one team; set game.teams to say"
                )
        return out


def _components(n: int, links: Sequence[Sequence[int]]) -> list[list[int]]:
    """Connected components of 0..n-1, each linked set joined, in order of first member."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for linked in links:
        for j in linked[1:]:
            parent[root(j)] = root(linked[0])
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _team_name(
    members: Sequence[int], agents: Sequence[str], names: Mapping[str, Sequence[str]]
) -> str:
    """A name group's own name; for groups joined by rewards, their agents' common name
    (`player` for `player_0` and `player_1`) or the groups' names joined (`bob_alice`)."""
    own = {agents[i] for i in members}
    joined = [name for name, m in names.items() if set(m) <= own]
    if len(joined) == 1:
        return joined[0]
    prefixes = {name_prefix(agents[i]) for i in members}
    return prefixes.pop() if len(prefixes) == 1 else "_".join(joined)


def _random_steps(env: Any, rng: np.random.Generator, seed: int) -> Iterator[dict | None]:
    """Play random episodes without end: each env step's rewards, None after each episode."""
    for episode in itertools.count():
        if isinstance(env, AECEnv):
            env.reset(seed=seed + episode)
            for agent in env.agent_iter():
                obs, _, term, trunc, info = env.last()
                if term or trunc:
                    env.step(None)
                    continue
                env.step(_random_action(env.action_space(agent), obs, info, rng))
                yield dict(env.rewards)
        else:
            obs, infos = env.reset(seed=seed + episode)
            while env.agents:
                actions = {
                    a: _random_action(env.action_space(a), obs.get(a), infos.get(a, {}), rng)
                    for a in env.agents
                }
                obs, rewards, _, _, infos = env.step(actions)
                yield dict(rewards)
        yield None


def _random_action(space: spaces.Space, obs: Any, info: Any, rng: np.random.Generator) -> Any:
    """A uniformly random legal action (legal: the observation's or info's action mask)."""
    mask = None
    if isinstance(obs, dict) and "action_mask" in obs:
        mask = obs["action_mask"]
    elif isinstance(info, dict) and "action_mask" in info:
        mask = info["action_mask"]
    if isinstance(space, spaces.Discrete):
        legal = np.flatnonzero(mask) if mask is not None else np.arange(space.n)
        return int(space.start + rng.choice(legal if len(legal) else np.arange(space.n)))
    space.seed(int(rng.integers(2**31)))  # reproducible, even if the env builds a new space
    return space.sample()
