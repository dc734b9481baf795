"""Exact exploitability, mixtures and payoffs on whole OpenSpiel game trees, checked against
OpenSpiel's own (Python) algorithms."""

from __future__ import annotations

import numpy as np
import pyspiel
import pytest
import torch
from open_spiel.python import policy
from open_spiel.python.algorithms import cfr, expected_game_score, policy_aggregator
from open_spiel.python.algorithms import exploitability as os_exploitability

from envs.game_tree import (
    InfoStates,
    PolicyFn,
    expected_payoffs,
    exploitability,
    mixture_table,
    nash_conv,
    policy_table,
    table_from_openspiel,
    uniform_table,
)
from envs.spec import GameError

GAMES = ["kuhn_poker", "leduc_poker"]


def _python_policy(states: InfoStates, table: np.ndarray) -> policy.TabularPolicy:
    """The table as OpenSpiel's Python tabular policy."""
    result = policy.TabularPolicy(states.game)
    for key, row in zip(states.keys, table, strict=True):
        result.policy_for_key(key)[:] = row
    return result


def _random_table(states: InfoStates, seed: int) -> np.ndarray:
    """A random policy with full support on the legal actions."""
    probs = np.random.default_rng(seed).random(states.mask.shape) + 0.05
    probs *= states.mask
    return probs / probs.sum(axis=1, keepdims=True)


def _deterministic_table(states: InfoStates, seed: int) -> np.ndarray:
    """A random pure policy."""
    scores = np.random.default_rng(seed).random(states.mask.shape) * states.mask
    return np.eye(states.num_actions)[scores.argmax(axis=1)]


def _always_raise(states: InfoStates) -> np.ndarray:
    """Bet or raise (action 1 in Kuhn, 2 in Leduc) where legal, else call (action 1)."""
    raise_action = states.num_actions - 1
    action = np.where(states.mask[:, raise_action], raise_action, 1)
    return np.eye(states.num_actions)[action]


def _linear_softmax(seed: int, dim: int, actions: int) -> PolicyFn:
    """A stand-in for a network: masked softmax of a fixed random linear map of obs."""
    weights = np.random.default_rng(seed).normal(size=(dim, actions))

    def fn(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        logits = np.where(mask, obs @ weights, -np.inf)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    return fn


def _decision_states(state: pyspiel.State):
    """Every decision history of the game below `state`."""
    if state.is_terminal():
        return
    if state.is_chance_node():
        actions = [a for a, _ in state.chance_outcomes()]
    else:
        yield state
        actions = state.legal_actions()
    for action in actions:
        yield from _decision_states(state.child(action))


@pytest.fixture(scope="session")
def kuhn_cfr() -> np.ndarray:
    """A near-Nash Kuhn table: 1000 iterations of OpenSpiel's tabular CFR."""
    game = pyspiel.load_game("kuhn_poker")
    solver = cfr.CFRSolver(game)
    for _ in range(1000):
        solver.evaluate_and_update_policy()
    return table_from_openspiel(InfoStates.of(game), solver.average_policy())


def test_the_walk_finds_every_information_state():
    kuhn, leduc = InfoStates.of("kuhn_poker"), InfoStates.of("leduc_poker")
    assert (kuhn.size, leduc.size) == (12, 936)
    assert leduc.obs.shape == (936, 30) and leduc.obs.dtype == np.float32
    assert leduc.mask.shape == (936, 3) and leduc.mask.dtype == bool
    assert InfoStates.of(pyspiel.load_game("leduc_poker")) is leduc
    for state in _decision_states(leduc.game.new_initial_state()):
        player = state.current_player()
        row = leduc.index[state.information_state_string(player)]
        assert leduc.players[row] == player
        assert leduc.obs[row].tolist() == pytest.approx(state.information_state_tensor(player))
        assert leduc.mask[row].tolist() == [bool(m) for m in state.legal_actions_mask(player)]


@pytest.mark.parametrize(("game", "value"), [("kuhn_poker", 0.458333), ("leduc_poker", 2.373611)])
def test_uniform_random_has_openspiels_exploitability(game, value):
    table = uniform_table(InfoStates.of(game))
    assert exploitability(game, table) == pytest.approx(value, abs=1e-6)
    assert nash_conv(game, table) == pytest.approx(2 * value, abs=2e-6)


def test_cfr_on_kuhn_is_nearly_unexploitable(kuhn_cfr):
    assert exploitability("kuhn_poker", kuhn_cfr) < 0.01


@pytest.mark.parametrize("game", GAMES)
def test_always_raise_matches_openspiels_python_exploitability(game):
    states = InfoStates.of(game)
    table = _always_raise(states)
    expected = os_exploitability.exploitability(states.game, _python_policy(states, table))
    assert exploitability(game, table) == pytest.approx(expected, abs=1e-9)
    assert expected > 0.1


@pytest.mark.parametrize("game", GAMES)
def test_a_batched_policy_fn_gives_the_per_state_probabilities(game):
    states = InfoStates.of(game)
    fn = _linear_softmax(0, states.obs.shape[1], states.num_actions)
    table = policy_table(states, fn)
    assert np.allclose(table.sum(axis=1), 1.0) and not table[~states.mask].any()
    for state in _decision_states(states.game.new_initial_state()):
        player = state.current_player()
        obs = np.asarray([state.information_state_tensor(player)], dtype=np.float32)
        mask = np.asarray([state.legal_actions_mask(player)], dtype=bool)
        row = table[states.index[state.information_state_string(player)]]
        assert row == pytest.approx(fn(obs, mask)[0], abs=1e-12)


def test_policy_table_renormalises_and_takes_torch_tensors():
    states = InfoStates.of("leduc_poker")
    table = policy_table(states, lambda obs, mask: torch.ones(mask.shape) * 2.0)
    assert np.allclose(table, uniform_table(states))


def test_policy_table_refuses_bad_outputs():
    states = InfoStates.of("kuhn_poker")
    with pytest.raises(ValueError, match="shape"):
        policy_table(states, lambda obs, mask: np.ones((3, 2)))
    with pytest.raises(ValueError, match="negative"):
        policy_table(states, lambda obs, mask: -np.ones(mask.shape))
    with pytest.raises(ValueError, match="NaN"):
        policy_table(states, lambda obs, mask: np.full(mask.shape, np.nan))
    leduc = InfoStates.of("leduc_poker")
    with pytest.raises(ValueError, match="no probability on a legal action"):
        policy_table(leduc, lambda obs, mask: np.eye(3)[np.zeros(len(mask), int)] * ~mask)


def test_games_without_exact_exploitability_are_refused():
    three = pyspiel.load_game("kuhn_poker", {"players": 3})
    table = uniform_table(InfoStates.of(three))
    with pytest.raises(GameError, match="3 players"):
        exploitability(three, table)
    with pytest.raises(GameError, match="3 players"):
        nash_conv(three, table)
    with pytest.raises(GameError, match="not a sequential"):
        InfoStates.of("matrix_rps")
    with pytest.raises(GameError, match="cannot load"):
        InfoStates.of("no_such_game")


@pytest.mark.parametrize("game", GAMES)
def test_a_mixture_of_one_policy_is_that_policy(game):
    states = InfoStates.of(game)
    table = _random_table(states, 1)
    assert np.allclose(mixture_table(states, [table], [1.0]), table)
    assert np.allclose(mixture_table(states, [table, table], [0.2, 0.8]), table)


@pytest.mark.parametrize("k", [2, 3])
def test_mixtures_match_openspiels_policy_aggregator(k):
    states = InfoStates.of("kuhn_poker")
    tables = [_random_table(states, 10 * k + i) for i in range(k)]
    weights = np.random.default_rng(k).random(k)
    weights /= weights.sum()
    members = [_python_policy(states, t) for t in tables]
    aggregator = policy_aggregator.PolicyAggregator(states.game)
    expected = aggregator.aggregate([0, 1], [members, members], [list(weights), list(weights)])
    mixed = mixture_table(states, tables, weights)
    assert mixed == pytest.approx(table_from_openspiel(states, expected), abs=1e-12)
    assert not np.allclose(mixed, np.einsum("k,kna->na", weights, np.stack(tables)))


@pytest.mark.parametrize("game", GAMES)
def test_a_mixture_of_pure_policies_is_as_exploitable_as_openspiels_aggregate(game):
    states = InfoStates.of(game)
    tables = [_deterministic_table(states, 3), _always_raise(states)]
    weights = [0.3, 0.7]
    members = [_python_policy(states, t) for t in tables]
    aggregator = policy_aggregator.PolicyAggregator(states.game)
    aggregate = aggregator.aggregate([0, 1], [members, members], [weights, weights])
    expected = os_exploitability.exploitability(states.game, aggregate)
    assert exploitability(game, mixture_table(states, tables, weights)) == pytest.approx(expected)


def test_mixtures_refuse_bad_weights():
    states = InfoStates.of("kuhn_poker")
    table = uniform_table(states)
    with pytest.raises(ValueError, match="shape"):
        mixture_table(states, [table, table], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        mixture_table(states, [table, table], [1.0, -0.5])
    with pytest.raises(ValueError, match="no policy tables"):
        mixture_table(states, [], [])


@pytest.mark.parametrize("game", GAMES)
def test_payoffs_are_antisymmetric(game):
    states = InfoStates.of(game)
    tables = [uniform_table(states), _always_raise(states)]
    tables += [_random_table(states, seed) for seed in range(4)]
    payoffs = expected_payoffs(states, tables)
    assert payoffs.shape == (6, 6)
    assert np.allclose(payoffs, -payoffs.T, atol=1e-12)
    assert np.allclose(np.diag(payoffs), 0.0, atol=1e-12)
    assert np.abs(payoffs).max() > 0.01


@pytest.mark.parametrize("game", GAMES)
def test_payoffs_match_openspiels_policy_value(game):
    states = InfoStates.of(game)
    a, b, c = _random_table(states, 5), _always_raise(states), _deterministic_table(states, 6)
    payoffs = expected_payoffs(states, [a], [b, c])
    root = states.game.new_initial_state()
    for j, other in enumerate([b, c]):
        mine, theirs = _python_policy(states, a), _python_policy(states, other)
        seat0 = expected_game_score.policy_value(root, [mine, theirs])[0]
        seat1 = expected_game_score.policy_value(root, [theirs, mine])[1]
        assert payoffs[0, j] == pytest.approx(0.5 * (seat0 + seat1), abs=1e-12)


def test_cfr_does_not_lose_on_average(kuhn_cfr):
    states = InfoStates.of("kuhn_poker")
    others = [uniform_table(states), _always_raise(states)]
    others += [_deterministic_table(states, seed) for seed in range(20)]
    payoffs = expected_payoffs(states, [kuhn_cfr], others)
    assert payoffs.shape == (1, 22)
    assert payoffs.min() >= -0.01
    assert payoffs[0, 0] > 0


def test_a_tree_is_counted_before_it_is_built():
    from envs.game_tree import count_nodes

    assert count_nodes(pyspiel.load_game("kuhn_poker")) == 58
    assert count_nodes(pyspiel.load_game("leduc_poker")) == 9457
    with pytest.raises(GameError, match="'leduc_poker' has more than 1,000 nodes"):
        count_nodes(pyspiel.load_game("leduc_poker"), limit=1000)
    with pytest.raises(GameError, match="could not be sized within 0 s"):
        count_nodes(pyspiel.load_game("leduc_poker"), seconds=0)
