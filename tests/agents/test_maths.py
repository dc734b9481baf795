from __future__ import annotations

import numpy as np
import pytest

from agents import Schedule, gae


def test_gae_matches_hand_computed_values():
    # Two streams: [r=1, r=0, r=2 (done, terminal)] and [r=-1 (done, truncated, V_T=0.5)].
    rewards = np.array([1.0, 0.0, 2.0, -1.0])
    values = np.array([0.5, 0.2, 1.0, 0.3])
    dones = np.array([False, False, True, True])
    bootstrap = np.array([0.0, 0.0, 0.0, 0.5])
    gamma, lam = 0.9, 0.8
    # By hand, backwards through stream 1:
    d2 = 2.0 - 1.0  # terminal: no successor value
    d1 = 0.0 + 0.9 * 1.0 - 0.2
    d0 = 1.0 + 0.9 * 0.2 - 0.5
    a2 = d2
    a1 = d1 + 0.9 * 0.8 * a2
    a0 = d0 + 0.9 * 0.8 * a1
    # Stream 2, truncated: bootstrap from V(s_T) = 0.5.
    a3 = -1.0 + 0.9 * 0.5 - 0.3
    adv, ret = gae(rewards, values, dones, bootstrap, gamma=gamma, lam=lam)
    np.testing.assert_allclose(adv, [a0, a1, a2, a3], rtol=1e-6)
    np.testing.assert_allclose(ret, np.array([a0, a1, a2, a3]) + values, rtol=1e-6)


def test_gae_with_lambda_one_is_discounted_return_minus_value():
    rewards = np.array([1.0, 1.0, 1.0])
    values = np.array([0.1, 0.2, 0.3])
    adv, ret = gae(rewards, values, np.array([0, 0, 1], bool), np.zeros(3), gamma=0.5, lam=1.0)
    np.testing.assert_allclose(ret, [1 + 0.5 + 0.25, 1 + 0.5, 1.0], rtol=1e-6)


def test_linear_schedule():
    s = Schedule(0.0, 1.0, steps=10)
    assert s.value(0) == 0.0
    assert s.value(5) == pytest.approx(0.5)
    assert s.value(10) == 1.0
    assert s.value(50) == 1.0  # holds at the end


def test_horizon_schedule_interpolates_the_horizon():
    s = Schedule(0.998, 0.9997, steps=100, interpolation="horizon")
    assert s.value(0) == pytest.approx(0.998)
    assert s.value(100) == pytest.approx(0.9997)
    h0, h1 = 1 / (1 - 0.998), 1 / (1 - 0.9997)
    mid = s.value(50)
    assert 1 / (1 - mid) == pytest.approx((h0 + h1) / 2)
    # Equal steps in horizon move gamma towards 1 faster than equal steps in gamma.
    assert mid > Schedule(0.998, 0.9997, steps=100).value(50)


def test_constant_schedule_and_validation():
    assert Schedule(0.3, 0.3).value(7) == 0.3
    assert Schedule(0.0, 1.0, steps=0).value(0) == 1.0
    with pytest.raises(ValueError, match="interpolation"):
        Schedule(0.9, 0.99, steps=1, interpolation="cosine")
    with pytest.raises(ValueError, match="below 1"):
        Schedule(0.9, 1.0, steps=1, interpolation="horizon")
