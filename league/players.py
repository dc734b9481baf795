"""Who acts in an episode: the learning policies, snapshots and bots."""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from agents import ActorCritic, ActOutput
from envs import GameInfo, Spaces

if TYPE_CHECKING:
    from league.config import ModelConfig

LATEST = "latest"
RANDOM = "random"
SCRIPTED = "scripted"
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


class BotError(RuntimeError):
    """A scripted or user bot failed: it raised or returned an illegal action."""


class FunctionPlayer:
    """Act with a function `act(observation, action_mask) -> action`, one agent at a time.

    `observation` is the agent's raw observation (its `observation` entry when the
    game gives a dict) and `action_mask` the legal-action mask or None.
    """

    version = -1

    def __init__(self, act: Callable[..., Any], spaces: Spaces, *, name: str) -> None:
        self.fn, self.spaces, self.name = act, spaces, name

    def act(self, obs: np.ndarray, member: np.ndarray, mask: np.ndarray | None) -> ActOutput:
        """Call the function for each agent and check that each action is legal."""
        sp = self.spaces
        actions = []
        for j in range(len(obs)):
            legal = None if mask is None or not sp.has_mask else mask[j]
            try:
                action = self.fn(obs[j], legal)
            except Exception as err:
                raise BotError(f"bot {self.name} raised {type(err).__name__}: {err}") from err
            actions.append(self._check(action, legal))
        n = len(obs)
        zeros = np.zeros(n, dtype=np.float32)
        out = np.asarray(actions, dtype=np.int64 if sp.n_actions else np.float32)
        return ActOutput(out, zeros, zeros, np.zeros((n, sp.n_actions), dtype=np.float32))

    def _check(self, action: Any, legal: np.ndarray | None) -> Any:
        sp = self.spaces
        if sp.discrete:
            try:
                a = int(action)
            except (TypeError, ValueError):
                raise BotError(
                    f"bot {self.name} returned {action!r}, not an action index"
                ) from None
            if not 0 <= a < sp.n_actions or (legal is not None and not legal[a]):
                raise BotError(
                    f"bot {self.name} returned illegal action {a}"
                    + ("" if legal is None else f" (legal: {np.flatnonzero(legal).tolist()})")
                )
            return a
        a = np.asarray(action, dtype=np.int64 if sp.multi else np.float32)
        if a.shape != sp.action_shape:
            raise BotError(
                f"bot {self.name} returned an action of shape {a.shape}, not {sp.action_shape}"
            )
        if sp.multi and ((a < 0) | (a >= np.array(sp.nvec))).any():
            raise BotError(f"bot {self.name} returned illegal action {a.tolist()} (nvec {sp.nvec})")
        return a


def load_bot_file(spec: str) -> Callable[..., Any]:
    """Load `path/to/bot.py:act` from a file; errors name the file."""
    path, sep, attr = spec.rpartition(":")
    if not sep or not path.endswith(".py"):
        raise BotError(f"bot {spec!r} is not of the form path/to/bot.py:function")
    file = Path(path)
    if not file.is_file():
        raise BotError(f"bot file {file} does not exist")
    module_spec = importlib.util.spec_from_file_location(f"league_user_bot_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:
        raise BotError(f"bot file {file} failed to import: {type(err).__name__}: {err}") from err
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise BotError(f"bot file {file} has no function {attr!r}")
    return fn


def is_bot_file(key: str) -> bool:
    """Return True for a player key naming a user's bot file (`path.py:function`)."""
    return ".py:" in key


class RandomPlayer:
    """Pick uniformly among legal actions (or uniformly in a Box)."""

    version = -1

    def __init__(self, spaces: Spaces, rng: np.random.Generator) -> None:
        self.spaces, self.rng = spaces, rng

    def act(self, obs: np.ndarray, member: np.ndarray, mask: np.ndarray | None) -> ActOutput:
        """Pick actions for a batch of agents."""
        n, sp = len(obs), self.spaces
        if sp.multi:
            action = self.rng.integers(0, np.array(sp.nvec), size=(n, len(sp.nvec)))
        elif sp.discrete:
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
    channels: int = 32

    @classmethod
    def from_config(cls, info: GameInfo, model: ModelConfig) -> PolicyFactory:
        """The factory for a config's `model` section."""
        return cls(info, tuple(model.hidden), model.kind, model.channels)

    def __call__(self, role: str) -> ActorCritic:
        # Building a network must not advance the global torch RNG (which samples
        # actions): a resumed run builds its players at a different time.
        with torch.random.fork_rng(devices=[]):
            return ActorCritic(
                self.info.role_spaces[role],
                n_members=self.info.max_team_size,
                hidden=self.hidden,
                kind=self.kind,
                channels=self.channels,
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
        bot: Callable[..., Any] | None = None,
        greedy: bool = False,
    ) -> None:
        self.factory, self.info, self.rng = factory, info, rng
        self.bot, self.greedy = bot, greedy
        self.latest: dict[str, PolicyPlayer] = {}
        self.weights: dict[str, Mapping[str, torch.Tensor]] = {}
        self.cache_size = cache_size
        self._cache: OrderedDict[str, PolicyPlayer] = OrderedDict()
        self._bots: dict[str, RandomPlayer | FunctionPlayer] = {}

    def set_latest(self, role: str, state: Mapping[str, torch.Tensor], version: int) -> None:
        """Load the learner's current weights for `role`."""
        if role not in self.latest:
            self.latest[role] = PolicyPlayer(
                self.factory(role), version=version, greedy=self.greedy
            )
        player = self.latest[role]
        player.policy.load_state_dict(state)
        player.version = version

    def add_snapshot(self, key: str, state: Mapping[str, torch.Tensor]) -> None:
        """Make a snapshot's weights available under its key."""
        self.weights[key] = state

    def set_snapshots(self, weights: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        """Hand in the snapshots that may be played (weights by key); forget all others."""
        self.weights = weights
        for key in [k for k in self._cache if k not in weights]:
            del self._cache[key]

    def get(self, key: str, role: str) -> PolicyPlayer | RandomPlayer | FunctionPlayer:
        """Return the player for a key, seated on a team of `role`."""
        key_role, version = parse_key(key)
        if version == LATEST:
            return self.latest[key_role]
        if version == "":
            bot = f"{key}#{role}"
            if bot not in self._bots:
                self._bots[bot] = self._make_bot(key, self.info.role_spaces[role])
            return self._bots[bot]
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if key not in self.weights:
            raise KeyError(f"no weights were handed in for snapshot player {key!r}")
        policy = self.factory(key_role)
        policy.load_state_dict(self.weights[key])
        player = PolicyPlayer(policy, version=int(version), greedy=self.greedy)
        self._cache[key] = player
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return player

    def _make_bot(self, key: str, spaces: Spaces) -> RandomPlayer | FunctionPlayer:
        if key == RANDOM:
            return RandomPlayer(spaces, self.rng)
        if key == SCRIPTED:
            if self.bot is None:
                raise BotError(f"game {self.info.name!r} has no scripted bot")
            return FunctionPlayer(self.bot, spaces, name=f"scripted ({self.info.name})")
        if is_bot_file(key):
            return FunctionPlayer(load_bot_file(key), spaces, name=key.rpartition(":")[0])
        raise KeyError(f"unknown player {key!r}")
