from __future__ import annotations

import numpy as np
import pytest

from envs import ShapingParams
from envs.rewards import mixing_matrix, reward_components, shape_rewards, time_decay

# Four agents: team 0 = agents 0, 1; team 1 = agents 2, 3.
TEAMS = np.array([0, 0, 1, 1])


def shape(comps, weights, teams, *, tau=0.0, zero_sum=False, decay=1.0):
    """Shape one step as the rollout does: mixing matrix, then `shape_rewards`."""
    return shape_rewards(
        comps, weights, mixing_matrix(teams, tau=tau, zero_sum=zero_sum), decay=decay
    )


def test_weighted_components_from_reward_and_info():
    names = ("env", "kills")
    comps = reward_components(
        names,
        ["a", "b"],
        {"a": 1.0},
        {"a": {"kills": 2, "note": "text"}, "b": {"kills": 1.5}},
    )
    np.testing.assert_array_equal(comps, [[1.0, 2.0], [0.0, 1.5]])
    shaped = shape(comps, np.array([1.0, 0.5]), np.array([0, 1]))
    np.testing.assert_allclose(shaped, [2.0, 0.75])


def test_team_spirit_blends_own_and_team_mean():
    comps = np.array([[4.0], [0.0], [1.0], [1.0]])
    w = np.array([1.0])
    np.testing.assert_allclose(shape(comps, w, TEAMS, tau=0.0), [4, 0, 1, 1])
    np.testing.assert_allclose(shape(comps, w, TEAMS, tau=1.0), [2, 2, 1, 1])
    np.testing.assert_allclose(shape(comps, w, TEAMS, tau=0.5), [3, 1, 1, 1])


def test_zero_sum_subtracts_the_enemy_mean():
    comps = np.array([[4.0], [0.0], [1.0], [3.0]])
    shaped = shape(comps, np.array([1.0]), TEAMS, zero_sum=True)
    # team 0 minus enemy mean 2; team 1 minus enemy mean 2.
    np.testing.assert_allclose(shaped, [2, -2, -1, 1])
    assert shaped.sum() == pytest.approx(0.0)


def test_team_spirit_then_zero_sum_then_decay():
    comps = np.array([[4.0], [0.0], [1.0], [3.0]])
    shaped = shape(comps, np.array([1.0]), TEAMS, tau=1.0, zero_sum=True, decay=0.5)
    # team means 2 and 2 -> zero-sum gives 0 everywhere.
    np.testing.assert_allclose(shaped, [0, 0, 0, 0])
    shaped = shape(
        np.array([[2.0], [2.0], [0.0], [0.0]]),
        np.array([1.0]),
        TEAMS,
        tau=1.0,
        zero_sum=True,
        decay=0.5,
    )
    np.testing.assert_allclose(shaped, [1, 1, -1, -1])


def test_time_decay_factor():
    p = ShapingParams(decay_base=0.6, decay_period=100)
    assert time_decay(p, 0) == 1.0
    assert time_decay(p, 100) == pytest.approx(0.6)
    assert time_decay(p, 200) == pytest.approx(0.36)
    assert time_decay(ShapingParams(), 10_000) == 1.0


def test_components_order_puts_env_first():
    p = ShapingParams(weights={"proximity": 0.1, "env": 1.0})
    assert p.components == ("env", "proximity")
    np.testing.assert_allclose(p.weight_vector(), [1.0, 0.1])


def test_uneven_teams_team_spirit_then_zero_sum():
    # Three chasers against one runner (simple_tag's shape).
    comps = np.array([[3.0], [0.0], [0.0], [2.0]])
    shaped = shape(comps, np.array([1.0]), np.array([0, 0, 0, 1]), tau=0.5, zero_sum=True)
    # tau 0.5: chasers' mean 1 -> [2, 0.5, 0.5], runner alone keeps 2;
    # zero-sum: chasers minus 2, runner minus the chasers' mean (1).
    np.testing.assert_allclose(shaped, [0.0, -1.5, -1.5, 1.0])
