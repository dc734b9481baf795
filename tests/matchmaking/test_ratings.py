from __future__ import annotations

import math

import numpy as np
import pytest

from matchmaking import (
    bradley_terry,
    mean_interval,
    payoff_matrix,
    rating_intervals,
    wilson_interval,
)

TRUE_ELO = {"strong": 400.0, "middle": 0.0, "weak": -200.0}


def _tournament(games_per_pair: int = 300, seed: int = 0) -> list[tuple[str, str, float]]:
    """Simulate decisive games between every pair of TRUE_ELO players."""
    rng = np.random.default_rng(seed)
    results = []
    names = list(TRUE_ELO)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            p_a = 1.0 / (1.0 + 10.0 ** ((TRUE_ELO[b] - TRUE_ELO[a]) / 400.0))
            for k in range(games_per_pair):
                score = 1.0 if rng.random() < p_a else 0.0
                # Alternate seats so both orientations are exercised.
                results.append((a, b, score) if k % 2 else (b, a, 1.0 - score))
    return results


# ------------------------------------------------------------ mean returns
def test_mean_interval_is_the_student_t_interval_of_the_mean() -> None:
    """A game of one team is measured by mean return: t quantile 2.776 for 5 values."""
    low, high = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)
    assert low == pytest.approx(3.0 - half) and high == pytest.approx(3.0 + half)
    assert mean_interval([7.0, 7.0, 7.0]) == (7.0, 7.0)
    assert mean_interval([4.0]) is None and mean_interval([]) is None
    with pytest.raises(ValueError, match="finite"):
        mean_interval([1.0, float("nan")])


# ------------------------------------------------------------------- Wilson
def test_wilson_known_values() -> None:
    """Match textbook Wilson 95% intervals."""
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert math.isclose(high, 0.2775327998628892, rel_tol=1e-9)
    low, high = wilson_interval(5, 10)
    assert math.isclose(low, 0.2366, abs_tol=1e-4)
    assert math.isclose(high, 0.7634, abs_tol=1e-4)
    low, high = wilson_interval(10, 10)
    assert high == 1.0
    assert math.isclose(low, 1.0 - 0.2775327998628892, rel_tol=1e-9)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_fractional_and_errors() -> None:
    """Accept fractional successes and reject out-of-range arguments."""
    low, high = wilson_interval(2.5, 5)
    assert math.isclose(low + high, 1.0)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="n must be"):
        wilson_interval(1, -1)
    with pytest.raises(ValueError, match="z must be"):
        wilson_interval(1, 2, z=0.0)


# ----------------------------------------------------------- Bradley-Terry
def test_bradley_terry_recovers_simulated_ratings() -> None:
    """Order players correctly and land within 100 Elo of truth after anchoring."""
    results = _tournament()
    ratings = bradley_terry(results, anchor="weak", anchor_rating=-200.0)
    assert ratings["weak"] == -200.0
    assert ratings["strong"] > ratings["middle"] > ratings["weak"]
    for name, true in TRUE_ELO.items():
        assert abs(ratings[name] - true) < 100.0, (name, ratings[name])


def test_bradley_terry_two_player_closed_form() -> None:
    """Give 400*log10(3) Elo for a 3-1 record when the prior is negligible."""
    results = [("a", "b", 1.0), ("a", "b", 1.0), ("b", "a", 0.0), ("a", "b", 0.0)]
    ratings = bradley_terry(results, anchor="b", prior_games=1e-9, iterations=10_000)
    assert math.isclose(ratings["a"], 400.0 * math.log10(3.0), abs_tol=1e-4)
    # Two draws count as one win and one loss.
    draws = [("a", "b", 0.5), ("a", "b", 0.5), ("a", "b", 1.0), ("a", "b", 1.0)]
    assert math.isclose(bradley_terry(draws, anchor="b", prior_games=1e-9)["a"], ratings["a"])


def test_bradley_terry_prior_and_centering() -> None:
    """Keep unbeaten players finite and centre on mean 0 without an anchor."""
    ratings = bradley_terry([("a", "b", 1.0)] * 20 + [("b", "c", 1.0)] * 20)
    assert all(math.isfinite(r) for r in ratings.values())
    assert ratings["a"] > ratings["b"] > ratings["c"]
    assert math.isclose(sum(ratings.values()), 0.0, abs_tol=1e-9)
    assert list(ratings) == ["a", "b", "c"]
    assert bradley_terry([]) == {}
    with pytest.raises(ValueError, match="anchor"):
        bradley_terry([("a", "b", 1.0)], anchor="z")
    with pytest.raises(ValueError, match="prior_games"):
        bradley_terry([("a", "b", 1.0)], prior_games=0.0)
    with pytest.raises(ValueError, match="score"):
        bradley_terry([("a", "b", 2.0)])


def test_rating_intervals_contain_estimate_and_anchor_degenerate() -> None:
    """Bracket each point estimate and pin the anchor to its rating."""
    results = _tournament(games_per_pair=100, seed=1)
    ratings = bradley_terry(results, anchor="weak", anchor_rating=-200.0)
    intervals = rating_intervals(results, anchor="weak", anchor_rating=-200.0, samples=100)
    assert intervals["weak"] == (-200.0, -200.0)
    for name in ("strong", "middle"):
        low, high = intervals[name]
        assert low < ratings[name] < high
        assert high - low < 400.0
    again = rating_intervals(results, anchor="weak", anchor_rating=-200.0, samples=100)
    assert again == intervals
    with pytest.raises(ValueError, match="level"):
        rating_intervals(results, level=1.0)


# ------------------------------------------------------------ payoff_matrix
def test_payoff_matrix_values() -> None:
    """Average scores over both seatings; NaN on the diagonal and for unplayed pairs."""
    results = [("a", "b", 1.0), ("b", "a", 0.5), ("a", "c", 0.0), ("d", "a", 1.0)]
    matrix = payoff_matrix(results, ["a", "b", "c"])
    expected = np.array(
        [
            [np.nan, 0.75, 0.0],
            [0.25, np.nan, np.nan],
            [1.0, np.nan, np.nan],
        ]
    )
    np.testing.assert_array_equal(matrix, expected)
    with pytest.raises(ValueError, match="duplicate"):
        payoff_matrix(results, ["a", "a"])
