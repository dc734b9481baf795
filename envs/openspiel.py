"""OpenSpiel games (`pyspiel`) as PettingZoo AEC envs: kuhn_poker, leduc_poker and others.

Written over pyspiel itself rather than Shimmy, whose wrapper (2.0.1, under PettingZoo
1.27) truncates every game after its first move and observes the observation tensor,
which in Leduc poker forgets the betting history. Here an agent observes its
information-state tensor: perfect recall, so a feed-forward policy can express any
behaviour strategy. Chance nodes are sampled inside the env with its own seeded rng.

Exact exploitability (computed elsewhere) needs a 2-player game whose utility is
`ZERO_SUM` or `CONSTANT_SUM`; the env itself plays n-player general-sum games too.
"""

from __future__ import annotations

import copy
import difflib
import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import AECEnv

from envs.spec import GameError, GameSpec

if TYPE_CHECKING:
    import pyspiel

OPENSPIEL_PREFIX = "openspiel:"
"""`game.env: "openspiel:NAME"` in a config plays OpenSpiel game NAME."""


class OpenSpielEnv(AECEnv):
    """A turn-based pyspiel game as a PettingZoo AEC env; agents `player_0..player_{n-1}`.

    `game` is the loaded `pyspiel.Game`, `state` the current `pyspiel.State`. Each agent
    observes `{"observation": information_state_tensor (flat), "action_mask": legal actions}`
    (all zeros when it is not the agent's turn). Rewards are the changes of
    `state.returns()`, so terminal-only and per-step reward models both work.
    """

    def __init__(self, game: pyspiel.Game, render_mode: str | None = None) -> None:
        super().__init__()
        if render_mode not in (None, "ansi"):
            raise GameError(f"game {game}: render_mode {render_mode!r} is not None or 'ansi'")
        self.game = game
        self.render_mode = render_mode
        self.metadata = {
            "name": f"openspiel_{game.get_type().short_name}",
            "render_modes": ["ansi"],
            "is_parallelizable": False,
        }
        self.possible_agents = [f"player_{i}" for i in range(game.num_players())]
        n_actions = game.num_distinct_actions()
        size = game.information_state_tensor_size()  # flat: phantom_ttt's shape is [1, 108]
        obs = spaces.Dict(
            {
                "observation": spaces.Box(-np.inf, np.inf, (size,), np.float32),
                "action_mask": spaces.Box(0, 1, (n_actions,), np.int8),
            }
        )
        self.observation_spaces = {a: obs for a in self.possible_agents}
        self.action_spaces = {a: spaces.Discrete(n_actions) for a in self.possible_agents}
        self.np_random, self.np_random_seed = seeding.np_random(None)
        self.state = game.new_initial_state()

    def observation_space(self, agent: str) -> spaces.Space:
        """The agent's observation space (the same for every agent)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        """The agent's action space: one Discrete over the game's distinct actions."""
        return self.action_spaces[agent]

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        """The agent's information-state tensor and legal-action mask."""
        player = self.possible_agents.index(agent)
        live = not self.state.is_terminal() and self.state.current_player() == player
        mask = np.zeros(self.game.num_distinct_actions(), np.int8)
        if live:
            mask[:] = self.state.legal_actions_mask(player)
        return {
            "observation": np.asarray(self.state.information_state_tensor(player), np.float32),
            "action_mask": mask,
        }

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        """Start a new game; `seed` reseeds the rng that samples chance outcomes."""
        if seed is not None:
            self.np_random, self.np_random_seed = seeding.np_random(seed)
        self.agents = list(self.possible_agents)
        self.state = self.game.new_initial_state()
        self._returns = np.zeros(len(self.agents))
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {} for a in self.agents}
        self.agent_selection = self.agents[0]  # kept should chance end the game at once
        self._advance()

    def step(self, action: Any) -> None:
        """Play the selected agent's action, then any chance outcomes that follow."""
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        legal = self.state.legal_actions()
        if action is None or int(action) not in legal:
            raise ValueError(
                f"game {self.game}: action {action} is illegal for {agent}; legal: {legal}"
            )
        self._cumulative_rewards[agent] = 0.0
        self.state.apply_action(int(action))
        self._advance()
        self._accumulate_rewards()

    def _advance(self) -> None:
        """Sample chance nodes, then pay the change in returns and select who moves."""
        while self.state.is_chance_node():
            outcomes, probs = zip(*self.state.chance_outcomes(), strict=True)
            p = np.asarray(probs, np.float64)
            self.state.apply_action(int(outcomes[self.np_random.choice(len(p), p=p / p.sum())]))
        returns = np.asarray(self.state.returns(), np.float64)
        paid = zip(self.possible_agents, returns - self._returns, strict=True)
        self.rewards = {a: float(r) for a, r in paid}
        self._returns = returns
        if self.state.is_terminal():
            self.terminations = {a: True for a in self.possible_agents}
        else:
            self.agent_selection = self.possible_agents[self.state.current_player()]

    def render(self) -> str | None:
        """The game state as text (`ansi`), or None without a render mode."""
        return str(self.state) if self.render_mode == "ansi" else None

    def close(self) -> None:
        """Nothing to release."""


def clone(env: AECEnv) -> AECEnv:
    """An independent copy of an OpenSpiel env in its state, rng included (GameSpec.clone).

    A bare OpenSpielEnv copies its pyspiel state (`state.clone()`, cheap) and shares the
    game and spaces; a wrapped one is deep-copied wrapper by wrapper.
    """
    if not isinstance(env, OpenSpielEnv):
        from envs.adapter import copy_env

        return copy_env(env)
    twin = copy.copy(env)
    twin.state = env.state.clone()
    twin.np_random = copy.deepcopy(env.np_random)
    for name in ("agents", "rewards", "_cumulative_rewards", "terminations", "truncations"):
        if hasattr(env, name):
            setattr(twin, name, copy.copy(getattr(env, name)))
    if hasattr(env, "infos"):
        twin.infos = {a: dict(info) for a, info in env.infos.items()}
    return twin


def load_game(name: str, params: dict[str, Any] | None = None) -> pyspiel.Game:
    """Load an OpenSpiel game, or raise GameError naming it and why it cannot be played.

    Refused: unknown names, games without an information-state tensor, sampled chance
    (its chance nodes cannot be walked), and fewer than 2 players. A simultaneous-move
    game is loaded turn-based (`pyspiel.load_game_as_turn_based`: players move in turn,
    none seeing the others' moves of that round) when that gives an information state.
    """
    try:
        import pyspiel
    except ImportError as err:
        raise GameError(f"game {name!r} needs OpenSpiel: pip install open-spiel ({err})") from None
    known = list(pyspiel.registered_names())
    if name not in known:
        near = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(near)}? " if near else ""
        raise GameError(
            f"game {name!r} is not an OpenSpiel game; {hint}({len(known)} known, e.g. "
            "kuhn_poker, leduc_poker, liars_dice, goofspiel; parameters go in game.kwargs "
            "or as openspiel:NAME(key=value,...))"
        )
    Type = pyspiel.GameType
    try:
        game = pyspiel.load_game(name, dict(params or {}))
        turned = game.get_type().dynamics == Type.Dynamics.SIMULTANEOUS
        if turned:
            game = pyspiel.load_game_as_turn_based(name, dict(params or {}))
    except Exception as err:  # SpielError, or a C++ exception as IndexError etc.
        raise GameError(f"OpenSpiel game {name!r} with {params or {}}: {err}") from None
    kind = game.get_type()
    why = None
    if kind.dynamics != Type.Dynamics.SEQUENTIAL:
        why = f"its dynamics are {kind.dynamics.name}, not turn-based"
    elif not kind.provides_information_state_tensor:
        why = "it gives no information-state tensor (perfect-information games give none)"
    elif kind.chance_mode == Type.ChanceMode.SAMPLED_STOCHASTIC:
        why = "its chance is sampled (SAMPLED_STOCHASTIC): chance nodes cannot be walked"
    elif game.num_players() < 2:
        why = f"it has {game.num_players()} player(s), not 2 or more"
    if why is not None:
        how = " (a simultaneous game, loaded turn-based)" if turned else ""
        raise GameError(f"OpenSpiel game {name!r}{how} cannot be played: {why}")
    return game


def load(name: str, *, render_mode: str | None = None, **params: Any) -> OpenSpielEnv:
    """Build OpenSpiel game `name` with game parameters `params` as a PettingZoo AEC env."""
    return OpenSpielEnv(load_game(name, params), render_mode=render_mode)


def game_of(env: Any) -> pyspiel.Game | None:
    """The OpenSpiel game behind a built env (under any wrappers), or None for other envs."""
    raw = getattr(env, "unwrapped", env)
    return raw.game if isinstance(raw, OpenSpielEnv) else None


def split_params(name: str) -> tuple[str, dict[str, Any]]:
    """OpenSpiel's `name(key=value,...)` as the name and its parameters (values read as
    YAML scalars: 3, 0.5, true, text); a plain name has none."""
    base, paren, rest = name.partition("(")
    if not paren:
        return name, {}
    if not rest.endswith(")"):
        raise GameError(f"game {name!r}: parameters are written NAME(key=value,...)")
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest[:-1].split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise GameError(f"game {name!r}: parameter {item!r} is not key=value")
        params[key.strip()] = yaml.safe_load(value.strip())
    return base.strip(), params


def spec_for(name: str, kwargs: dict[str, Any]) -> GameSpec:
    """A picklable GameSpec playing OpenSpiel game `name` (or `name(key=value,...)`) with
    parameters `kwargs` (GameError if the game cannot be played, or a parameter is given
    both ways)."""
    name, params = split_params(name)
    both = sorted(set(params) & set(kwargs))
    if both:
        raise GameError(f"game {name!r}: parameter(s) {both} given both in the name and kwargs")
    kwargs = {**params, **kwargs}
    game = load_game(name, kwargs)
    kind = game.get_type()
    return GameSpec(
        name=name,
        make=functools.partial(load, name),
        kwargs=dict(kwargs),
        clone=clone,
        description=(
            f"{kind.long_name} (OpenSpiel, {kind.utility.name.lower().replace('_', '-')}), "
            f"{game.num_players()} players"
        ),
    )
