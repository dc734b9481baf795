"""Who acts in an episode: the learning policies, snapshots and bots."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from agents import ActorCritic, ActOutput
from envs import GameInfo, Spaces

LATEST = "latest"
RANDOM = "random"
OPPONENT_LATEST = -1
"""`Batch.opponent` value when the opponent was the latest version."""
OPPONENT_BOT = -2
"""`Batch.opponent` value when the opponent was a bot."""


def policy_key(role: str, version: str | int) -> str:
    """Name a policy player: `main@latest`, `main@12` (snapshot 12)."""
    return f"{role}@{version}"


def parse_key(key: str) -> tuple[str, str | int]:
    """Split a player key into (role, "latest" | snapshot id); bots give (key, "")."""
    role, sep, version = key.partition("@")
    if not sep:
        return key, ""
    return role, (LATEST if version == LATEST else int(version))


class PolicyPlayer:
    """Act with a network (sampling by default, argmax when greedy)."""

    def __init__(self, policy: ActorCritic, *, version: int, greedy: bool = False) -> None:
        self.policy, self.version, self.greedy = policy, version, greedy

    def act(self, obs: np.ndarray, member: np.ndarray, mask: np.ndarray | None) -> ActOutput:
        """Pick actions for a batch of agents."""
        return self.policy.act(obs, member, mask, greedy=self.greedy)


class RandomPlayer:
    """Pick uniformly among legal actions (or uniformly in a Box)."""

    version = -1

    def __init__(self, spaces: Spaces, rng: np.random.Generator) -> None:
        self.spaces, self.rng = spaces, rng

    def act(self, obs: np.ndarray, member: np.ndarray, mask: np.ndarray | None) -> ActOutput:
        """Pick actions for a batch of agents."""
        n, sp = len(obs), self.spaces
        if sp.discrete:
            legal = np.ones((n, sp.n_actions)) if mask is None else mask.astype(float)
            noise = self.rng.random(legal.shape) * legal
            action = noise.argmax(1)
        else:
            low = np.array(sp.action_low, dtype=np.float32).reshape(sp.action_shape)
            high = np.array(sp.action_high, dtype=np.float32).reshape(sp.action_shape)
            action = self.rng.uniform(low, high, size=(n, *sp.action_shape)).astype(np.float32)
        zeros = np.zeros(n, dtype=np.float32)
        return ActOutput(action, zeros, zeros, np.zeros((n, sp.n_actions), dtype=np.float32))


@dataclass
class PolicyFactory:
    """Build an untrained network for a role of a game (weights come later)."""

    info: GameInfo
    hidden: tuple[int, ...]
    kind: str

    def __call__(self, role: str) -> ActorCritic:
        # Building a network must not advance the global torch RNG (which samples
        # actions): a resumed run builds its players at a different time.
        with torch.random.fork_rng(devices=[]):
            return ActorCritic(
                self.info.role_spaces[role],
                n_members=self.info.max_team_size,
                hidden=self.hidden,
                kind=self.kind,
            )


class PlayerPool:
    """Resolve player keys to players: latest policies, cached snapshots, bots.

    Snapshot weights are handed in by the caller (the driver reads them from the
    registry); networks for them are built on first use and kept in a bounded
    LRU cache.
    """

    def __init__(
        self,
        factory: Callable[[str], ActorCritic],
        *,
        info: GameInfo,
        rng: np.random.Generator,
        cache_size: int = 16,
    ) -> None:
        self.factory, self.info, self.rng = factory, info, rng
        self.latest: dict[str, PolicyPlayer] = {}
        self.weights: dict[str, Mapping[str, torch.Tensor]] = {}
        self.cache_size = cache_size
        self._cache: OrderedDict[str, PolicyPlayer] = OrderedDict()
        self._bots: dict[str, RandomPlayer] = {}

    def set_latest(self, role: str, state: Mapping[str, torch.Tensor], version: int) -> None:
        """Load the learner's current weights for `role`."""
        if role not in self.latest:
            self.latest[role] = PolicyPlayer(self.factory(role), version=version)
        player = self.latest[role]
        player.policy.load_state_dict(state)
        player.version = version

    def add_snapshot(self, key: str, state: Mapping[str, torch.Tensor]) -> None:
        """Make a snapshot's weights available under its key."""
        self.weights[key] = state

    def get(self, key: str, role: str) -> PolicyPlayer | RandomPlayer:
        """Return the player for a key, seated on a team of `role`."""
        key_role, version = parse_key(key)
        if version == LATEST:
            return self.latest[key_role]
        if version == "":
            if key != RANDOM:
                raise KeyError(f"unknown player {key!r}")
            bot = f"{key}#{role}"
            if bot not in self._bots:
                self._bots[bot] = RandomPlayer(self.info.role_spaces[role], self.rng)
            return self._bots[bot]
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if key not in self.weights:
            raise KeyError(f"no weights were handed in for snapshot player {key!r}")
        policy = self.factory(key_role)
        policy.load_state_dict(self.weights[key])
        player = PolicyPlayer(policy, version=int(version))
        self._cache[key] = player
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return player
