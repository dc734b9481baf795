"""Describe a game: how to build it, who plays on which team, what its spaces are."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv

# SuperSuit wrappers that a game or config may name in `preprocessing`.
# Each entry maps the config name to the SuperSuit function name.
_PREPROCESSORS = {
    "color_reduction": "color_reduction_v0",
    "resize": "resize_v1",
    "frame_stack": "frame_stack_v1",
    "frame_skip": "frame_skip_v0",
    "dtype": "dtype_v0",
    "normalize_obs": "normalize_obs_v0",
    "max_observation": "max_observation_v0",
    "pad_observations": "pad_observations_v0",
    "pad_action_space": "pad_action_space_v0",
    "one_hot": "one_hot_observations",
}
"""Preprocessing step name -> SuperSuit wrapper (or this module's own, for `one_hot`)."""

# An image observation: a 3-D uint8 box at least this many pixels high and wide.
_MIN_IMAGE_SIDE = 16


class GameError(ValueError):
    """A game cannot be built or used as configured."""


@dataclass(frozen=True)
class Mirror:
    """A symmetry of a board game: flip the observation along `obs_axis` (an axis of one
    agent's observation, e.g. 1 for the columns of an [H, W, C] board) and action `a`
    becomes `actions[a]`. Flipping twice is the identity, so `actions` is its own inverse.

    With `model.mirror` the network plays a position and its mirror image alike: what it
    learns about a threat on the left it knows on the right.
    """

    obs_axis: int
    actions: tuple[int, ...]

    def check(self, game: str, spaces: Spaces) -> None:
        """Raise GameError unless this mirror fits a team's spaces."""
        n = len(self.actions)
        if not spaces.discrete:
            raise GameError(f"game {game!r}: a mirror needs a Discrete action space")
        if not 0 <= self.obs_axis < len(spaces.obs_shape):
            raise GameError(
                f"game {game!r}: mirror obs_axis {self.obs_axis} is not an axis of its "
                f"observations {spaces.obs_shape}"
            )
        if n != spaces.n_actions or sorted(self.actions) != list(range(n)):
            raise GameError(
                f"game {game!r}: mirror actions {list(self.actions)} are not a permutation "
                f"of its {spaces.n_actions} actions"
            )
        if any(self.actions[a] != b for b, a in enumerate(self.actions)):
            raise GameError(
                f"game {game!r}: mirror actions {list(self.actions)} do not undo themselves"
            )


def check_action_axes(game: str, axes: Sequence[int], spaces: Spaces) -> None:
    """Raise GameError unless a game's `action_axes` fit a team's spaces: a Discrete
    action per position of those (distinct, spatial) axes of an [H, W, C] observation."""
    if not spaces.discrete or len(spaces.obs_shape) != 3:
        raise GameError(
            f"game {game!r}: action_axes need a Discrete action space and [H, W, C] "
            f"observations, not {spaces.obs_shape}"
        )
    if not axes or len(set(axes)) != len(axes) or any(a not in (0, 1) for a in axes):
        raise GameError(
            f"game {game!r}: action_axes {list(axes)} must be distinct board axes (0, 1)"
        )
    positions = int(np.prod([spaces.obs_shape[a] for a in axes]))
    if positions != spaces.n_actions:
        raise GameError(
            f"game {game!r}: action_axes {list(axes)} give {positions} positions of its "
            f"observations {spaces.obs_shape}, but it has {spaces.n_actions} actions"
        )


@dataclass(frozen=True)
class GameSpec:
    """Everything the league needs to know to build and play a game.

    `make(**kwargs)` returns a PettingZoo AEC or Parallel env. `teams` maps a team
    name to its agent ids (None: inferred from agent names; `resolve_game` infers them
    from random play instead, `envs.teams`). `preprocessing` is a
    list of `(supersuit_wrapper_name, kwargs)` applied in order. `components` lists
    the numeric `info` fields the game reports that reward shaping may weight.
    """

    name: str
    make: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    teams: Mapping[str, Sequence[str]] | None = None
    symmetric: bool | None = None
    preprocessing: Sequence[tuple[str, Mapping[str, Any]]] = ()
    components: Sequence[str] = ()
    description: str = ""
    bot: Callable[[np.ndarray, np.ndarray | None], Any] | None = None
    """A scripted bot `act(observation, action_mask) -> action`, if the game has one: the
    player called `scripted`, a fixed rung of the rating ladder."""
    bots: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    """More of the game's bots by name (e.g. connect four's `tactical`), played wherever a
    bot is named, like `scripted`; a bot that takes an `rng` keyword gets a seeded one."""
    outcome: Callable[[dict[str, float], dict[str, dict]], dict[str, float]] | None = None
    """`outcome(team_returns, final_infos) -> {team: 1 | 0.5 | 0}`; None: from returns."""
    clone: Callable[[Any], Any] | None = None
    """`clone(env) -> env`: an independent copy of a PettingZoo env in its state, for
    search bots (`mcts:N`); None: a deep copy."""
    mirror: Mirror | None = None
    """The game's left-right symmetry (an `envs.spec.Mirror`), if it has one: what
    `model.mirror` builds into the network."""
    action_axes: tuple[int, ...] | None = None
    """The observation axes whose positions the actions enumerate, row-major (connect
    four: (1,), action c is column c; tic-tac-toe: (0, 1), action 3i + j is cell [i, j]):
    what `model.action_head: spatial` reads each action's logit from. None: no such map."""
    text_board: Any = None
    """How `league play` draws the game and names moves (an `envs.boards.TextBoard`);
    None: the env's `ansi` render or the observation, moves by action index."""
    team_evidence: Any = None
    """How `teams` were inferred from random play (an `envs.teams.TeamEvidence`), when
    they were; None: given, or inferred from agent names alone."""

    def named_bots(self) -> dict[str, Callable[..., Any]]:
        """The game's own bots by name: `scripted` (if it has one) and its other `bots`."""
        return {**({"scripted": self.bot} if self.bot is not None else {}), **self.bots}

    def create(self) -> AECEnv | ParallelEnv:
        """Build one env copy with the preprocessing applied."""
        env = self.make(**dict(self.kwargs))
        if not isinstance(env, (AECEnv, ParallelEnv)):
            raise GameError(
                f"game {self.name!r}: its factory returned {type(env).__name__}, "
                "not a PettingZoo AECEnv or ParallelEnv"
            )
        return apply_preprocessing(env, self.preprocessing, game=self.name)

    def render_modes(self) -> list[str]:
        """The render modes the game's env lists in its metadata."""
        env = self.create()
        try:
            return list(env.metadata.get("render_modes", []))
        finally:
            env.close()

    def info(self) -> GameInfo:
        """Build one copy and read its agents, teams and spaces."""
        env = self.create()
        try:
            return GameInfo.from_env(env, self)
        finally:
            env.close()


def with_padding(spec: GameSpec) -> GameSpec:
    """Return the spec, plus the preprocessing that lets a team share one network.

    (Multi)Discrete observations are one-hot encoded; padding makes every agent's
    observation and action space the same size (extra discrete actions mean action 0).
    """
    env = spec.create()
    try:
        discrete = any(_one_hot_sizes(env.observation_space(a)) for a in env.possible_agents)
    finally:
        env.close()
    if discrete and "one_hot" not in [name for name, _ in spec.preprocessing]:
        spec = dataclasses.replace(spec, preprocessing=(*spec.preprocessing, ("one_hot", {})))
    env = spec.create()
    try:
        agents = tuple(env.possible_agents)
        teams = _resolve_teams(spec, agents)
        for members in teams.values():
            obs = [_obs_space(env, a) for a in members]
            act = [env.action_space(a) for a in members]
            if any(o != obs[0] for o in obs) or any(a != act[0] for a in act):
                names = [name for name, _ in spec.preprocessing]
                extra = [
                    (name, {})
                    for name in ("pad_observations", "pad_action_space")
                    if name not in names
                ]
                return dataclasses.replace(spec, preprocessing=(*spec.preprocessing, *extra))
    finally:
        env.close()
    return spec


def _obs_space(env: AECEnv | ParallelEnv, agent: str) -> spaces.Space:
    space = env.observation_space(agent)
    if isinstance(space, spaces.Dict) and "observation" in space.spaces:
        return space["observation"]
    return space


def _resolve_teams(spec: GameSpec, agents: Sequence[str]) -> dict[str, tuple[str, ...]]:
    if spec.teams:
        return {name: tuple(_expand(members, agents)) for name, members in spec.teams.items()}
    return {name: tuple(m) for name, m in infer_teams(agents).items()}


def apply_preprocessing(
    env: AECEnv | ParallelEnv, steps: Sequence[tuple[str, Mapping[str, Any]]], *, game: str
) -> AECEnv | ParallelEnv:
    """Wrap `env` with the named SuperSuit wrappers, in order."""
    if not steps:
        return env
    import supersuit

    for name, kwargs in steps:
        if name not in _PREPROCESSORS:
            raise GameError(
                f"game {game!r}: unknown preprocessing step {name!r}; "
                f"known: {', '.join(sorted(_PREPROCESSORS))}"
            )
        wrap = (
            one_hot_observations if name == "one_hot" else getattr(supersuit, _PREPROCESSORS[name])
        )
        env = wrap(env, **dict(kwargs))
    return env


def one_hot_observations(env: AECEnv | ParallelEnv) -> AECEnv | ParallelEnv:
    """Turn Discrete and MultiDiscrete observations into one-hot float vectors.

    A Discrete(n) observation becomes a Box of n zeros and a one; MultiDiscrete(nvec)
    the concatenation of one such block per dimension. Other observations pass as they are.
    """
    import supersuit

    def space(old: spaces.Space) -> spaces.Space:
        sizes = _one_hot_sizes(old)
        if sizes is None:
            return old
        return spaces.Box(0.0, 1.0, shape=(int(sum(sizes)),), dtype=np.float32)

    def observation(obs: Any, old: spaces.Space) -> Any:
        sizes = _one_hot_sizes(old)
        if sizes is None:
            return obs
        start = np.ravel(getattr(old, "start", 0))
        index = np.ravel(np.asarray(obs, dtype=np.int64)) - start
        out = np.zeros(int(sum(sizes)), dtype=np.float32)
        out[np.concatenate(([0], np.cumsum(sizes)[:-1])) + index] = 1.0
        return out

    return supersuit.observation_lambda_v0(env, observation, space)


def _one_hot_sizes(space: spaces.Space) -> list[int] | None:
    """The block sizes of a (Multi)Discrete space's one-hot encoding (None: not one)."""
    if isinstance(space, spaces.Discrete):
        return [int(space.n)]
    if isinstance(space, spaces.MultiDiscrete):
        return [int(n) for n in np.ravel(space.nvec)]
    return None


_INDEXED = re.compile(r"^(.*?)_?(\d+)$")


def name_prefix(agent: str) -> str:
    """An agent's name before its trailing index (`adversary` for `adversary_2`)."""
    match = _INDEXED.match(agent)
    return match.group(1) if match else agent


def infer_teams(agents: Sequence[str]) -> dict[str, list[str]]:
    """Group agents into teams by the name before their trailing index.

    Names are a guess: `envs.teams.infer_from_play` checks them against the rewards
    random play pays (what `league.game_config.resolve_game` uses when a config gives no teams).

    `adversary_0..2`, `agent_0` give two teams (a `leadadversary_0` joins the
    adversaries); agents that are all `player_N`
    are each a team of their own (one-against-one board games); any other single
    group is one cooperative team.
    """
    groups: dict[str, list[str]] = {}
    for agent in agents:
        groups.setdefault(name_prefix(agent), []).append(agent)
    if len(groups) == 1 and next(iter(groups)) == "player" and len(agents) > 1:
        return {agent: [agent] for agent in agents}
    # A leader joins its kind: `leadadversary_0` goes with `adversary_*` (MPE naming).
    for prefix in list(groups):
        home = next((q for q in groups if q != prefix and prefix.endswith(q)), None)
        if home is not None:
            groups[home] = groups.pop(prefix) + groups[home]
    return groups


@dataclass(frozen=True)
class Spaces:
    """The spaces one team's members share (padded to agree, if need be).

    | field        | meaning                                                      |
    |--------------|--------------------------------------------------------------|
    | obs_shape    | shape of one agent's observation (the `observation` entry)   |
    | obs_dtype    | its numpy dtype name                                         |
    | image        | True when the observation is an image (a CNN reads it)       |
    | has_mask     | True when the game reports legal-action masks                |
    | n_actions    | discrete action count (0 for continuous; MultiDiscrete: sum) |
    | action_shape | continuous action shape (() for discrete)                    |
    """

    obs_shape: tuple[int, ...]
    obs_dtype: str
    image: bool
    has_mask: bool
    n_actions: int
    action_shape: tuple[int, ...] = ()
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()
    nvec: tuple[int, ...] = ()
    """Choices per dimension of a MultiDiscrete action (n_actions is their sum)."""

    @property
    def discrete(self) -> bool:
        """Return True for a (single) Discrete action space."""
        return self.n_actions > 0 and not self.nvec

    @property
    def multi(self) -> bool:
        """Return True for a MultiDiscrete action space."""
        return bool(self.nvec)


@dataclass(frozen=True)
class GameInfo:
    """What one env copy reports: API kind, agents, teams and their spaces.

    `roles` maps each team to the learning policy that plays it: one role
    ("main") shared by every team of a symmetric game, one per team otherwise.
    """

    name: str
    api: str
    agents: tuple[str, ...]
    teams: dict[str, tuple[str, ...]]
    symmetric: bool
    spaces: dict[str, Spaces]
    mirror: Mirror | None = None
    """The game's mirror symmetry (checked against every team's spaces), if any."""
    action_axes: tuple[int, ...] | None = None
    """The observation axes the actions enumerate (checked likewise), if the game says."""

    @property
    def roles(self) -> dict[str, str]:
        """Map each team to the role whose policy it plays."""
        if self.symmetric:
            return {team: "main" for team in self.teams}
        return {team: team for team in self.teams}

    def opponent_roles(self, role: str) -> list[str]:
        """The roles a team of `role` plays against: the other teams' (its own in a
        symmetric game), sorted."""
        others = {r for r in self.roles.values() if r != role}
        return sorted(others) or [role]

    @property
    def role_spaces(self) -> dict[str, Spaces]:
        """Map each role to its spaces."""
        return {role: self.spaces[team] for team, role in self.roles.items()}

    @property
    def team_of(self) -> dict[str, str]:
        """Map each agent to its team."""
        return {agent: team for team, members in self.teams.items() for agent in members}

    @property
    def member_of(self) -> dict[str, int]:
        """Map each agent to its index within its team."""
        return {a: i for members in self.teams.values() for i, a in enumerate(members)}

    @property
    def max_team_size(self) -> int:
        """Return the size of the largest team."""
        return max(len(members) for members in self.teams.values())

    @staticmethod
    def from_env(env: AECEnv | ParallelEnv, spec: GameSpec) -> GameInfo:
        """Read a built env's spaces and resolve its teams."""
        api = "parallel" if isinstance(env, ParallelEnv) else "aec"
        agents = tuple(env.possible_agents)
        if not agents:
            raise GameError(f"game {spec.name!r} has no agents")
        teams = _resolve_teams(spec, agents)
        placed = [a for members in teams.values() for a in members]
        missing = sorted(set(agents) - set(placed))
        if missing:
            raise GameError(f"game {spec.name!r}: agents {missing} are on no team")
        doubled = sorted({a for a in placed if placed.count(a) > 1})
        if doubled:
            raise GameError(f"game {spec.name!r}: agents {doubled} are on more than one team")
        per_agent = {agent: _agent_spaces(env, agent, spec.name) for agent in agents}
        team_spaces = {}
        for team, members in teams.items():
            first = members[0]
            for agent in members[1:]:
                if per_agent[agent] != per_agent[first]:
                    raise GameError(
                        f"game {spec.name!r}: team {team!r} members {first!r} and {agent!r} "
                        f"have different spaces ({per_agent[first]} vs {per_agent[agent]}); "
                        "add 'pad_observations' / 'pad_action_space' to preprocessing"
                    )
            team_spaces[team] = per_agent[first]
        sizes = {len(m) for m in teams.values()}
        same_spaces = len(set(team_spaces.values())) == 1
        symmetric = (
            spec.symmetric if spec.symmetric is not None else (len(sizes) == 1 and same_spaces)
        )
        if symmetric and not same_spaces:
            raise GameError(
                f"game {spec.name!r} is configured symmetric but its teams have different spaces"
            )
        if spec.mirror is not None:
            for team_space in team_spaces.values():
                spec.mirror.check(spec.name, team_space)
        if spec.action_axes is not None:
            for team_space in team_spaces.values():
                check_action_axes(spec.name, spec.action_axes, team_space)
        return GameInfo(
            name=spec.name,
            api=api,
            agents=agents,
            teams=teams,
            symmetric=bool(symmetric),
            spaces=team_spaces,
            mirror=spec.mirror,
            action_axes=spec.action_axes,
        )


def _agent_spaces(env: AECEnv | ParallelEnv, agent: str, game: str) -> Spaces:
    """Read one agent's observation and action spaces."""
    space = env.observation_space(agent)
    has_mask = False
    if isinstance(space, spaces.Dict) and "observation" in space.spaces:
        has_mask = "action_mask" in space.spaces
        space = space["observation"]
    if not isinstance(space, spaces.Box):
        raise GameError(
            f"game {game!r}: agent {agent!r} has observation space {space}; only Box "
            "observations (optionally in a Dict with 'observation' and 'action_mask') "
            "are supported"
        )
    act = env.action_space(agent)
    nvec: tuple[int, ...] = ()
    if isinstance(act, spaces.Discrete):
        n_actions, action_shape, low, high = int(act.n), (), (), ()
    elif isinstance(act, spaces.MultiDiscrete) and act.nvec.ndim == 1:
        nvec = tuple(int(n) for n in act.nvec)
        n_actions, action_shape, low, high = sum(nvec), (len(nvec),), (), ()
    elif isinstance(act, spaces.Box):
        n_actions, action_shape = 0, tuple(act.shape)
        low = tuple(float(x) for x in np.ravel(act.low))
        high = tuple(float(x) for x in np.ravel(act.high))
    else:
        raise GameError(
            f"game {game!r}: agent {agent!r} has action space {act}; supported: Discrete, "
            "MultiDiscrete (one-dimensional), Box"
        )
    shape = tuple(space.shape)
    image = len(shape) == 3 and space.dtype == np.uint8 and min(shape[:2]) >= _MIN_IMAGE_SIDE
    return Spaces(
        obs_shape=shape,
        obs_dtype=str(space.dtype),
        image=image,
        has_mask=has_mask,
        n_actions=n_actions,
        action_shape=action_shape,
        action_low=low,
        action_high=high,
        nvec=nvec,
    )


def _expand(patterns: Sequence[str], agents: Sequence[str]) -> list[str]:
    """Resolve agent ids or regular expressions against the env's agents."""
    out: list[str] = []
    for pattern in patterns:
        if pattern in agents:
            out.append(pattern)
            continue
        hits = [a for a in agents if re.fullmatch(pattern, a)]
        if not hits:
            raise GameError(f"team member {pattern!r} matches no agent; agents are {list(agents)}")
        out.extend(h for h in hits if h not in out)
    return out
