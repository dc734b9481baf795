"""Exact evaluation of policies on small OpenSpiel games (Kuhn, Leduc poker) by walking the
whole game tree.

`InfoStates.of(game)` walks the tree once (cached per game) and collects every decision
information state: its key, player, information-state tensor and legal-action mask. The
tensor is exactly what the game's environment shows the player to move, so a network's
whole policy is one batched call: `policy_table(states, fn)` gives its table `probs[N, A]`.

On such tables:

- `exploitability` and `nash_conv`: OpenSpiel's C++ best responses;
- `mixture_table`: the behaviour policy of a population mixture (pick a member at the start,
  play it throughout), weighted by each member's own reach of each information state;
- `expected_payoffs`: the exact payoff matrix of policies that play both seats.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyspiel

from envs.spec import GameError

PolicyFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""A batched policy: (obs[N, D] float32, mask[N, A] bool) -> probs[N, A]."""

MAX_NODES = 2_000_000
"""The largest game tree `InfoStates.of` walks (Leduc poker has 9,457 nodes)."""

SIZING_SECONDS = 30.0
"""How long `count_nodes` may count before it gives up (2,000,000 nodes of phantom
tic-tac-toe: about 3 s)."""

_CACHE: dict[str, InfoStates] = {}


@dataclass(frozen=True, eq=False)
class _Tree:
    """The game tree flattened breadth first: a parent comes before its children and the
    nodes of depth d are `bounds[d]:bounds[d + 1]`; the root is node 0."""

    parent: np.ndarray
    """[M] int64: each node's parent (-1 at the root)."""
    actor: np.ndarray
    """[M] int64: the player whose action led to the node (-1 for chance and the root)."""
    column: np.ndarray
    """[M] int64: `info * A + action` of that decision (0 after chance and at the root)."""
    chance: np.ndarray
    """[M] float64: the product of the chance probabilities from the root."""
    bounds: tuple[int, ...]
    """The node ranges of the depths."""
    terminals: np.ndarray
    """[Z] int64: the terminal nodes."""
    returns: np.ndarray
    """[Z, P] float64: each terminal's returns."""
    rep_node: np.ndarray
    """[N] int64: a node of each information state."""


@dataclass(frozen=True, eq=False)
class InfoStates:
    """Every decision information state of a game, and its flattened tree.

    Row i of `obs`, `mask`, of a policy table is the information state `keys[i]`, where
    `players[i]` moves; `states[i]` is one of its histories.
    """

    game: Any
    """The `pyspiel.Game`."""
    keys: tuple[str, ...]
    index: dict[str, int]
    players: np.ndarray
    """[N] int64."""
    obs: np.ndarray
    """[N, D] float32, read-only: `state.information_state_tensor(player)`."""
    mask: np.ndarray
    """[N, A] bool, read-only: `state.legal_actions_mask(player)`."""
    legal: tuple[tuple[int, ...], ...]
    states: tuple[Any, ...]
    tree: _Tree

    @property
    def size(self) -> int:
        """N, the number of information states."""
        return len(self.keys)

    @property
    def num_actions(self) -> int:
        """A, the game's number of distinct actions."""
        return self.mask.shape[1]

    @classmethod
    def of(cls, game: Any, *, seconds: float = SIZING_SECONDS) -> InfoStates:
        """The information states of a `pyspiel.Game` or game string (built once per game,
        after `count_nodes` sized its tree within `seconds`)."""
        game = _load(game)
        name = str(game)
        if name not in _CACHE:
            _check_walkable(game)
            count_nodes(game, seconds=seconds)
            _CACHE[name] = _TreeBuilder(game).build()
        return _CACHE[name]


def count_nodes(game: Any, *, limit: int = MAX_NODES, seconds: float = SIZING_SECONDS) -> int:
    """The number of nodes of a game's tree, counted depth first (memory: one path's
    states and their siblings); GameError past `limit` nodes or `seconds` of counting.

    Building the tree keeps every node and information state (a 2,000,000-node tree
    took over 10 GB and 80 s); counting first refuses such a game in seconds.
    """
    deadline, name = time.monotonic() + seconds, str(game).removesuffix("()")
    stack, nodes = [game.new_initial_state()], 0
    while stack:
        state = stack.pop()
        nodes += 1
        if nodes > limit:
            raise GameError(
                f"game {name!r} has more than {limit:,} nodes: too many to walk exactly"
            )
        if not nodes % 4096 and time.monotonic() > deadline:
            raise GameError(
                f"game {name!r}: its tree could not be sized within {seconds:g} s "
                f"(over {nodes:,} nodes so far): too big to walk exactly"
            )
        if state.is_terminal():
            continue
        if state.is_chance_node():
            stack.extend(state.child(a) for a, _ in state.chance_outcomes())
        else:
            stack.extend(state.child(a) for a in state.legal_actions())
    return nodes


def _load(game: Any) -> Any:
    """A `pyspiel.Game` from a game or its string; GameError if OpenSpiel has no such game."""
    if isinstance(game, str):
        try:
            return pyspiel.load_game(game)
        except pyspiel.SpielError as error:
            raise GameError(f"game {game!r}: OpenSpiel cannot load it ({error})") from None
    return game


def _check_walkable(game: Any) -> None:
    """Raise GameError unless the game's whole tree can be walked here."""
    kind = game.get_type()
    if kind.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        reason = "it is not a sequential (turn-based) game"
    elif kind.chance_mode == pyspiel.GameType.ChanceMode.SAMPLED_STOCHASTIC:
        reason = "its chance outcomes are sampled, not enumerable"
    elif not (kind.provides_information_state_string and kind.provides_information_state_tensor):
        reason = "it has no information-state strings and tensors"
    else:
        return
    raise GameError(f"game {str(game)!r}: cannot walk its game tree: {reason}")


class _TreeBuilder:
    """Walks a game tree breadth first into an `InfoStates`."""

    def __init__(self, game: Any) -> None:
        _check_walkable(game)
        self.game = game
        self.num_actions = game.num_distinct_actions()
        self.index: dict[str, int] = {}
        self.players: list[int] = []
        self.obs: list[list[float]] = []
        self.masks: list[list[int]] = []
        self.legal: list[tuple[int, ...]] = []
        self.states: list[Any] = []
        self.rep_node: list[int] = []
        self.parent: list[int] = []
        self.actor: list[int] = []
        self.column: list[int] = []
        self.chance: list[float] = []
        self.terminals: list[int] = []
        self.returns: list[list[float]] = []

    def build(self) -> InfoStates:
        """Walk the tree, depth by depth, and pack what it found."""
        level = [(self.game.new_initial_state(), -1, -1, 0, 1.0)]
        bounds = [0]
        while level:
            following = []
            for state, parent, actor, column, chance in level:
                node = len(self.parent)
                self.parent.append(parent)
                self.actor.append(actor)
                self.column.append(column)
                self.chance.append(chance)
                following.extend(self._children(state, node, chance))
            bounds.append(len(self.parent))
            if len(self.parent) + len(following) > MAX_NODES:
                raise GameError(
                    f"game {str(self.game)!r}: its tree has over {MAX_NODES} nodes, "
                    "too many to walk exactly"
                )
            level = following
        return self._pack(tuple(bounds))

    def _children(self, state: Any, node: int, chance: float) -> list[tuple]:
        """A node's children as (state, parent, actor, column, chance); records terminals."""
        if state.is_terminal():
            self.terminals.append(node)
            self.returns.append(state.returns())
            return []
        if state.is_chance_node():
            return [(state.child(a), node, -1, 0, chance * p) for a, p in state.chance_outcomes()]
        player = state.current_player()
        base = self._info(state, player, node) * self.num_actions
        return [(state.child(a), node, player, base + a, chance) for a in state.legal_actions()]

    def _info(self, state: Any, player: int, node: int) -> int:
        """The row of the state's information state, added on its first visit."""
        key = state.information_state_string(player)
        row = self.index.get(key)
        if row is None:
            row = self.index[key] = len(self.players)
            self.players.append(player)
            self.obs.append(state.information_state_tensor(player))
            self.masks.append(state.legal_actions_mask(player))
            self.legal.append(tuple(state.legal_actions(player)))
            self.states.append(state)
            self.rep_node.append(node)
        return row

    def _pack(self, bounds: tuple[int, ...]) -> InfoStates:
        """The arrays of what the walk found."""
        if not self.players:
            raise GameError(f"game {str(self.game)!r}: no player ever moves")
        obs = np.asarray(self.obs, dtype=np.float32)
        mask = np.asarray(self.masks, dtype=bool)
        obs.setflags(write=False)
        mask.setflags(write=False)
        tree = _Tree(
            parent=np.asarray(self.parent, dtype=np.int64),
            actor=np.asarray(self.actor, dtype=np.int64),
            column=np.asarray(self.column, dtype=np.int64),
            chance=np.asarray(self.chance, dtype=np.float64),
            bounds=bounds,
            terminals=np.asarray(self.terminals, dtype=np.int64),
            returns=np.asarray(self.returns, dtype=np.float64),
            rep_node=np.asarray(self.rep_node, dtype=np.int64),
        )
        return InfoStates(
            game=self.game,
            keys=tuple(self.index),
            index=dict(self.index),
            players=np.asarray(self.players, dtype=np.int64),
            obs=obs,
            mask=mask,
            legal=tuple(self.legal),
            states=tuple(self.states),
            tree=tree,
        )


def _normalised(states: InfoStates, table: Any, what: str = "policy table") -> np.ndarray:
    """A float64 copy of `table` [N, A], zero on illegal actions, rows summing to 1."""
    probs = np.array(table, dtype=np.float64)
    shape = (states.size, states.num_actions)
    if probs.shape != shape:
        raise ValueError(f"{what}: shape {probs.shape}, expected {shape} (info states, actions)")
    if not np.isfinite(probs).all():
        raise ValueError(f"{what}: has NaN or infinite probabilities")
    if (probs < 0).any():
        raise ValueError(f"{what}: has negative probabilities")
    probs[~states.mask] = 0.0
    total = probs.sum(axis=1)
    empty = np.flatnonzero(total <= 0)
    if empty.size:
        key = states.keys[empty[0]]
        raise ValueError(
            f"{what}: no probability on a legal action in {empty.size} information "
            f"states, e.g. {key!r}"
        )
    return probs / total[:, None]


def _stacked(states: InfoStates, tables: Sequence[Any]) -> np.ndarray:
    """The normalised tables as one [K, N, A] array."""
    if len(tables) == 0:
        raise ValueError("no policy tables")
    return np.stack([_normalised(states, t, f"policy table {k}") for k, t in enumerate(tables)])


def policy_table(states: InfoStates, fn: PolicyFn) -> np.ndarray:
    """The table probs[N, A] of a batched policy, from one call on all information states.

    Illegal actions get 0 and each row is renormalised over the legal ones; ValueError if
    `fn` returns the wrong shape, non-finite or negative numbers, or no legal mass in a row.
    """
    probs = fn(states.obs.copy(), states.mask.copy())
    if hasattr(probs, "detach"):  # a torch tensor, without importing torch
        probs = probs.detach().cpu().numpy()
    return _normalised(states, probs, "policy function output")


def uniform_table(states: InfoStates) -> np.ndarray:
    """The uniform random policy's table."""
    mask = states.mask.astype(np.float64)
    return mask / mask.sum(axis=1, keepdims=True)


def table_from_openspiel(states: InfoStates, os_policy: Any) -> np.ndarray:
    """The table of an OpenSpiel policy (anything with `action_probabilities(state)`, e.g.
    a CFR average policy), read at one history of each information state."""
    probs = np.zeros((states.size, states.num_actions))
    for row, state in enumerate(states.states):
        for action, p in os_policy.action_probabilities(state).items():
            probs[row, action] = p
    return _normalised(states, probs, "OpenSpiel policy")


def _policy_dict(states: InfoStates, table: Any) -> dict[str, list[tuple[int, float]]]:
    """The table as OpenSpiel's {info state: [(action, probability), ...]}."""
    rows = _normalised(states, table).tolist()
    return {
        key: [(a, row[a]) for a in legal]
        for key, legal, row in zip(states.keys, states.legal, rows, strict=True)
    }


def check_two_player_zero_sum(game: Any) -> None:
    """Raise GameError unless the game is for two players and zero- or constant-sum."""
    utility = game.get_type().utility
    sums = (pyspiel.GameType.Utility.ZERO_SUM, pyspiel.GameType.Utility.CONSTANT_SUM)
    if game.num_players() != 2:
        reason = f"it has {game.num_players()} players, not 2"
    elif utility not in sums:
        reason = f"its utility is {utility.name.lower()}, not zero- or constant-sum"
    else:
        return
    raise GameError(f"game {str(game)!r}: no exact exploitability: {reason}")


def exploitability(game: Any, table: Any) -> float:
    """NashConv / 2 of a policy table (both seats play it), in the game's units: what a
    best responder wins on average over the seats beyond the game's value.

    Only for 2-player zero- or constant-sum games (GameError otherwise).
    """
    states = InfoStates.of(game)
    check_two_player_zero_sum(states.game)
    return float(pyspiel.exploitability(states.game, _policy_dict(states, table)))


def nash_conv(game: Any, table: Any) -> float:
    """NashConv of a policy table: the sum over players of what a best response gains.

    Only for 2-player zero- or constant-sum games (GameError otherwise).
    """
    states = InfoStates.of(game)
    check_two_player_zero_sum(states.game)
    return float(pyspiel.nash_conv(states.game, _policy_dict(states, table)))


def _reach(tree: _Tree, tables: np.ndarray, player: int) -> np.ndarray:
    """[M, K]: `player`'s own reach probability of every node under each of the K tables
    [K, N, A] (the product of its own action probabilities from the root)."""
    k = tables.shape[0]
    flat = np.concatenate([tables.reshape(k, -1).T, np.ones((1, k))])
    columns = np.where(tree.actor == player, tree.column, flat.shape[0] - 1)
    reach = np.empty((len(tree.parent), k))
    reach[0] = 1.0
    for lo, hi in zip(tree.bounds[1:-1], tree.bounds[2:], strict=True):
        reach[lo:hi] = reach[tree.parent[lo:hi]] * flat[columns[lo:hi]]
    return reach


def _weights(weights: Any, k: int) -> np.ndarray:
    """The mixture weights as a probability vector of length k."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (k,):
        raise ValueError(f"mixture weights: shape {w.shape}, expected ({k},), one per table")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"mixture weights: {w.tolist()} are not non-negative with a positive sum")
    return w / w.sum()


def mixture_table(states: InfoStates, tables: Sequence[Any], weights: Any) -> np.ndarray:
    """The behaviour policy that plays like the mixture: pick member k with probability
    `weights[k]` (normalised) at the start of the game and play it throughout.

    At an information state s of player p: sum_k w_k reach_k(s) pi_k(.|s) / sum_k w_k
    reach_k(s), with reach_k(s) p's own reach of s under member k; where every member's
    reach is 0, the weighted average of the members' probabilities.
    """
    stack = _stacked(states, tables)
    w = _weights(weights, stack.shape[0])
    own = np.empty((states.size, stack.shape[0]))
    for player in np.unique(states.players):
        rows = states.players == player
        own[rows] = _reach(states.tree, stack, int(player))[states.tree.rep_node[rows]]
    reach = own * w
    total = reach.sum(axis=1)
    mixed = np.einsum("nk,kna->na", reach, stack) / np.where(total > 0, total, 1.0)[:, None]
    average = np.einsum("k,kna->na", w, stack)
    return np.where(total[:, None] > 0, mixed, average)


def expected_payoffs(
    states: InfoStates, tables_a: Sequence[Any], tables_b: Sequence[Any] | None = None
) -> np.ndarray:
    """The exact payoff matrix M[i, j] of a two-player game where each policy plays both
    seats: 0.5 * (u0(a_i in seat 0, b_j in seat 1) + u1(b_j in seat 0, a_i in seat 1)),
    what a_i wins against b_j on average over the seats, in the game's units.

    `tables_b` None: the same tables as `tables_a` (a square matrix, antisymmetric in
    zero-sum games). One vectorised tree walk per table list and seat.
    """
    game = states.game
    if game.num_players() != 2:
        raise GameError(f"game {str(game)!r}: payoffs need 2 players, not {game.num_players()}")
    tree = states.tree
    a = _stacked(states, tables_a)
    b = a if tables_b is None else _stacked(states, tables_b)
    a0, a1 = (_reach(tree, a, p)[tree.terminals] for p in (0, 1))
    b0, b1 = (a0, a1) if tables_b is None else (_reach(tree, b, p)[tree.terminals] for p in (0, 1))
    weight = tree.chance[tree.terminals][:, None] * tree.returns
    seat0 = (a0 * weight[:, :1]).T @ b1
    seat1 = (a1 * weight[:, 1:]).T @ b0
    return 0.5 * (seat0 + seat1)
