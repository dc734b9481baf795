"""Who acts in an episode: the learning policies, snapshots and bots."""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from agents import ALGORITHMS, ActorCritic, ActOutput
from envs import GameEnv, GameInfo, Spaces
from envs.mcts import mcts_action
from league.rollout.frozen import FREEZE_AFTER, FrozenPolicy, GraphTemplate, can_freeze, choose
from league.rollout.watchdog import Overrun, watchdog
from league.user_code import UserCodeError, load_callable
from matchmaking import RANDOM, SCRIPTED, PlayerId, mcts_simulations

if TYPE_CHECKING:
    from league.config import ModelConfig


class PolicyPlayer:
    """Act with a network (sampling by default, argmax when greedy).

    A player given an `rng` draws its actions with it and, where it can, acts through
    ONNX Runtime (`league.rollout.frozen`) after `freeze_after` eager calls with its
    current weights: a snapshot after `FREEZE_AFTER` (its weights never change), a
    learning policy at once (`load` hands it new weights every iteration). `template`
    gives the network's exported graph. Without an `rng` the network acts eagerly,
    drawing with torch's generator.
    """

    def __init__(
        self,
        policy: ActorCritic,
        *,
        version: int,
        greedy: bool = False,
        rng: np.random.Generator | None = None,
        template: Callable[[], GraphTemplate] | None = None,
        freeze_after: int = FREEZE_AFTER,
    ) -> None:
        self.policy, self.version, self.greedy = policy, version, greedy
        self.rng = rng if rng is not None and can_freeze(policy) else None
        """Draws the actions of a player that can freeze (None: it stays eager)."""
        self.template = (
            template if template is not None else functools.partial(GraphTemplate, policy)
        )
        self.freeze_after = freeze_after
        self.calls = 0
        self.frozen: FrozenPolicy | None = None

    @property
    def state_size(self) -> int:
        """Floats of recurrent state per agent (0: feed-forward)."""
        return self.policy.state_size

    def load(self, state: Mapping[str, torch.Tensor], version: int) -> None:
        """Take new weights (a learning policy's, broadcast each iteration)."""
        self.policy.load_state_dict(state)
        self.version, self.calls, self.frozen = version, 0, None

    def act(
        self,
        obs: np.ndarray,
        member: np.ndarray,
        mask: np.ndarray | None,
        state: np.ndarray | None = None,
    ) -> ActOutput:
        """Pick actions for a batch of agents (stepping their recurrent `state`)."""
        if self.rng is None:
            return self.policy.act(obs, member, mask, state, greedy=self.greedy)
        if self.frozen is None:
            self.calls += 1
            if self.calls > self.freeze_after:
                self.frozen = FrozenPolicy(self.policy, self.rng, self.template())
        if self.frozen is not None:
            return self.frozen.act(obs, member, mask, state, greedy=self.greedy)
        out = self.policy.act(obs, member, mask, state, greedy=True)
        return choose(out.probs, out.value, out.state, self.rng, self.greedy)


DEFAULT_BOT_TIMEOUT = 10.0
"""Seconds a user's bot file may take per move (`--bot-timeout`): past it the command
ends with one line naming the bot (its games so far are kept)."""


class BotError(RuntimeError):
    """A scripted or user bot failed: it raised or returned an illegal action."""


class FunctionPlayer:
    """Act with a function `act(observation, action_mask) -> action`, one agent at a time.

    `observation` is the agent's raw observation (its `observation` entry when the
    game gives a dict) and `action_mask` the legal-action mask or None.
    """

    version = -1
    state_size = 0

    def __init__(
        self,
        act: Callable[..., Any],
        spaces: Spaces,
        *,
        name: str,
        rng: np.random.Generator | None = None,
        role: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.spaces, self.name, self.timeout = spaces, name, timeout
        """`timeout`: seconds a move may take (None: no limit); past it a `BotError`."""
        # A bot that takes an `rng` keyword draws from the pool's seeded generator; one that
        # takes `role` is told the role of the team it plays (a game whose teams differ).
        given = {"rng": rng, "role": role}
        keywords = {k: v for k, v in given.items() if v is not None and _takes(act, k)}
        self.fn = functools.partial(act, **keywords) if keywords else act

    def act(self, obs: np.ndarray, member: np.ndarray, mask: np.ndarray | None) -> ActOutput:
        """Call the function for each agent and check that each action is legal."""
        sp = self.spaces
        actions = []
        for j in range(len(obs)):
            legal = None if mask is None or not sp.has_mask else mask[j]
            try:
                with watchdog(self.timeout, "--bot-timeout"):
                    action = self.fn(obs[j], legal)
            except Overrun as late:
                raise BotError(f"bot {self.name}: its move {late}") from None
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
    path, sep, _ = spec.rpartition(":")
    if not sep or not path.endswith(".py"):
        raise BotError(f"bot {spec!r} is not of the form path/to/bot.py:function")
    try:
        return load_callable(spec)
    except UserCodeError as err:
        raise BotError(f"bot {err}") from err


def _takes(fn: Callable[..., Any], keyword: str) -> bool:
    """Whether a bot function accepts this keyword argument (`rng`, `role`)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    param = params.get(keyword)
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)


def is_bot_file(key: str) -> bool:
    """Return True for a player key naming a user's bot file (`path.py:function`)."""
    return ".py:" in key


class RandomPlayer:
    """Pick uniformly among legal actions (or uniformly in a Box)."""

    version = -1
    state_size = 0

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


class SearchPlayer:
    """Search the game itself for each move (`mcts:N`): it reads the env copies, not just
    the observations, so the loops hand it the games (see `ask`)."""

    version = -1
    state_size = 0

    def __init__(self, simulations: int, spaces: Spaces, rng: np.random.Generator) -> None:
        self.simulations, self.spaces, self.rng = simulations, spaces, rng

    def search(self, games: list[GameEnv]) -> ActOutput:
        """The move of the one acting agent of each game."""
        action = np.array([mcts_action(g, self.simulations, self.rng) for g in games])
        zeros = np.zeros(len(games), dtype=np.float32)
        probs = np.zeros((len(games), self.spaces.n_actions), dtype=np.float32)
        return ActOutput(action, zeros, zeros, probs)


Actor = PolicyPlayer | RandomPlayer | FunctionPlayer | SearchPlayer


def ask(
    actor: Any,
    games: list[GameEnv],
    obs: np.ndarray,
    member: np.ndarray,
    mask: np.ndarray | None,
    state: np.ndarray | None = None,
) -> ActOutput:
    """An actor's actions for one agent of each game: a searcher reads the games, every
    other actor the observations (what both rollout loops call). A recurrent actor
    (`state_size` > 0) steps each agent's `state` [B, S] (None: an episode's start) and
    returns the new one in `ActOutput.state`."""
    if isinstance(actor, SearchPlayer):
        return actor.search(games)
    if actor.state_size:
        return actor.act(obs, member, mask, state)
    return actor.act(obs, member, mask)


@dataclass
class PolicyFactory:
    """Build an untrained network for a role of a game (weights come later), as the
    config's `model` section describes it (its one description: `ModelConfig`)."""

    info: GameInfo
    model: ModelConfig = field(default_factory=lambda: _model_config())
    q_head: bool = False
    """Add a Q head (the learner needs one): rollout workers build the same network."""

    @classmethod
    def from_config(cls, info: GameInfo, model: ModelConfig, algo: str = "ppo") -> PolicyFactory:
        """The factory for a config's `model` section and its `learner.algo`."""
        return cls(info, model, ALGORITHMS[algo].q_head)

    @property
    def recurrent(self) -> bool:
        """Whether the networks carry a state from step to step (an LSTM)."""
        return self.model.recurrent is not None

    def __call__(self, role: str) -> ActorCritic:
        m, rec = self.model, self.model.recurrent
        if m.mirror and self.info.mirror is None:
            raise ValueError(f"model.mirror: game {self.info.name!r} has no mirror symmetry")
        spatial = m.action_head == "spatial"
        if spatial and self.info.action_axes is None:
            raise ValueError(f"model.action_head: game {self.info.name!r} gives no action_axes")
        # Building a network must not advance the global torch RNG (which samples
        # actions): a resumed run builds its players at a different time.
        with torch.random.fork_rng(devices=[]):
            return ActorCritic(
                self.info.role_spaces[role],
                n_members=self.info.max_team_size,
                hidden=tuple(m.hidden),
                kind=m.kind,
                channels=m.channels,
                conv_layers=m.conv_layers,
                q_head=self.q_head,
                lstm=rec.size if rec is not None else 0,
                chunk_length=rec.chunk_length if rec is not None else 1,
                mirror=self.info.mirror if m.mirror else None,
                action_axes=self.info.action_axes if spatial else None,
            )


def _model_config() -> ModelConfig:
    """The config's default `model` section."""
    from league.config import ModelConfig

    return ModelConfig()


class PlayerPool:
    """Resolve players to actors: latest policies, cached snapshots, bots.

    Snapshot weights are handed in by the caller (the driver reads them from the
    registry); networks for them are built on first use and kept in a bounded
    LRU cache. An evicted snapshot's network is kept for the next snapshot of its role
    to load its weights into: a league exploiter's opponents, drawn from every frozen
    player, miss the cache most of the time, and building networks (orthogonal
    initialisation) took 12 of the 75 s a profiled league rollout spent collecting.
    """

    def __init__(
        self,
        factory: Callable[[str], ActorCritic],
        *,
        info: GameInfo,
        rng: np.random.Generator,
        cache_size: int = 16,
        bots: Mapping[str, Callable[..., Any]] | None = None,
        greedy: bool = False,
        bot_timeout: float | None = DEFAULT_BOT_TIMEOUT,
    ) -> None:
        self.factory, self.info, self.rng = factory, info, rng
        self.bots, self.greedy = dict(bots or {}), greedy
        """The game's own bots by name (`GameSpec.named_bots`: `scripted`, ...)."""
        self.bot_timeout = bot_timeout
        """Seconds a user's bot file (`path/to/bot.py:act`) may take per move."""
        self.latest: dict[str, PolicyPlayer] = {}
        """Learner (`PlayerId.learner`) -> its learning policy."""
        self.weights: Mapping[PlayerId, Mapping[str, torch.Tensor]] = {}
        self.cache_size = cache_size
        self._cache: OrderedDict[PlayerId, PolicyPlayer] = OrderedDict()
        self._spare: dict[str, list[ActorCritic]] = {}
        """Role -> networks of evicted snapshots, to load the next snapshot's weights into."""
        self._bots: dict[tuple[str, str], RandomPlayer | FunctionPlayer | SearchPlayer] = {}
        self._templates: dict[str, GraphTemplate] = {}

    def set_latest(self, learner: str, state: Mapping[str, torch.Tensor], version: int) -> None:
        """Load a learner's current weights (`learner`: its key, `role` or `role/agent`)."""
        if learner not in self.latest:
            role = PlayerId.of_learner(learner).role
            self.latest[learner] = PolicyPlayer(
                self.factory(role),
                version=version,
                greedy=self.greedy,
                rng=self.rng,
                template=functools.partial(self.template, role),
                freeze_after=0,
            )
        self.latest[learner].load(state, version)

    def set_snapshots(self, weights: Mapping[PlayerId, Mapping[str, torch.Tensor]]) -> None:
        """Hand in the snapshots that may be played (weights by player); forget all others."""
        self.weights = weights
        for key in [k for k in self._cache if k not in weights]:
            self._evict(key)

    def has(self, player: PlayerId) -> bool:
        """Whether `player` can act now (a bot, a loaded learner, a handed-in snapshot)."""
        if player.is_latest:
            return player.learner in self.latest
        return player.is_bot or player in self._cache or player in self.weights

    def get(self, player: PlayerId, role: str) -> Actor:
        """Return the actor for `player`, seated on a team of `role`."""
        if player.is_latest:
            return self.latest[player.learner]
        if player.is_bot:
            if (player.bot, role) not in self._bots:
                self._bots[player.bot, role] = self._make_bot(player.bot, role)
            return self._bots[player.bot, role]
        if player in self._cache:
            self._cache.move_to_end(player)
            return self._cache[player]
        if player not in self.weights:
            raise KeyError(f"no weights were handed in for snapshot player {player}")
        while len(self._cache) >= self.cache_size:
            self._evict(next(iter(self._cache)))
        spare = self._spare.get(player.role)
        policy = spare.pop() if spare else self.factory(player.role)
        policy.load_state_dict(self.weights[player])
        actor = PolicyPlayer(
            policy,
            version=int(player.snapshot),
            greedy=self.greedy,
            rng=self.rng,
            template=functools.partial(self.template, player.role),
        )
        self._cache[player] = actor
        return actor

    def template(self, role: str) -> GraphTemplate:
        """The exported graph of a role's network (exported on first use: every
        snapshot and learning policy of the role acts through sessions built from it)."""
        if role not in self._templates:
            self._templates[role] = GraphTemplate(self.factory(role))
        return self._templates[role]

    def _evict(self, player: PlayerId) -> None:
        """Drop a snapshot from the cache, keeping its network for the next one."""
        actor = self._cache.pop(player)
        self._spare.setdefault(player.role, []).append(actor.policy)

    def _make_bot(self, key: str, role: str) -> RandomPlayer | FunctionPlayer | SearchPlayer:
        """Build the bot called `key` for a team of `role`."""
        spaces = self.info.role_spaces[role]
        if key == RANDOM:
            return RandomPlayer(spaces, self.rng)
        simulations = mcts_simulations(key)
        if simulations is not None:
            return SearchPlayer(simulations, spaces, self.rng)
        if key in self.bots:
            return FunctionPlayer(
                self.bots[key], spaces, name=f"{key} ({self.info.name})", rng=self.rng, role=role
            )
        if key == SCRIPTED:
            raise BotError(f"game {self.info.name!r} has no scripted bot")
        if is_bot_file(key):
            return FunctionPlayer(
                load_bot_file(key),
                spaces,
                name=key.rpartition(":")[0],
                rng=self.rng,
                role=role,
                timeout=self.bot_timeout,
            )
        raise KeyError(f"unknown player {key!r}")
