from __future__ import annotations

import json
import math

import numpy as np
import pytest

import matchmaking.nash as nash_module
from matchmaking import (
    NashSampler,
    NashSolution,
    OpponentSampler,
    PlayerId,
    nash_averaging,
    payoff_matrix,
    solve_zero_sum,
)

LATEST = PlayerId.latest("main")
RPS = [[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]]
# Rock-paper-scissors where rock beating scissors (and losing to it) counts double.
WEIGHTED_RPS = [[0.0, -1.0, 2.0], [1.0, 0.0, -1.0], [-2.0, 1.0, 0.0]]


def snap(i: int) -> PlayerId:
    """Snapshot i of the samplers' role."""
    return PlayerId.of_snapshot("main", i)


def _filled(n: int = 3, **kwargs: object) -> NashSampler:
    """Build a Nash sampler holding snapshots 0..n-1."""
    sampler = NashSampler(**kwargs)
    for i in range(n):
        sampler.add(i)
    return sampler


def _weighted_rps_sampler(**kwargs: object) -> NashSampler:
    """Build a sampler whose pool 0, 1, 2 plays WEIGHTED_RPS (Nash mixture 1/4, 1/2, 1/4)."""
    sampler = _filled(3, **kwargs)
    sampler.set_pair(0, 1, -1.0)
    sampler.set_pair(0, 2, 2.0)
    sampler.set_pair(1, 2, -1.0)
    return sampler


def _entropy(p: np.ndarray) -> float:
    """Return the Shannon entropy of a probability vector."""
    q = p[p > 0.0]
    return float(-(q * np.log(q)).sum())


# --------------------------------------------------------------- solve_zero_sum
def test_rock_paper_scissors_is_uniform() -> None:
    """Give both players the uniform strategy and value 0 in rock-paper-scissors."""
    solution = solve_zero_sum(np.array(RPS))
    assert isinstance(solution, NashSolution)
    np.testing.assert_allclose(solution.row, [1 / 3] * 3, atol=1e-9)
    np.testing.assert_allclose(solution.col, [1 / 3] * 3, atol=1e-9)
    assert math.isclose(solution.value, 0.0, abs_tol=1e-12)
    with pytest.raises(AttributeError):
        solution.value = 1.0  # type: ignore[misc]


def test_strictly_dominated_strategy_gets_zero_weight() -> None:
    """Give a strictly dominated strategy weight exactly 0 (not merely a small one)."""
    # Row 3, (-1, -2, 0), pays less than rock, (0, -1, 1), against every column.
    payoff = np.array([*RPS, [-1.0, -2.0, 0.0]])
    solution = solve_zero_sum(payoff)
    assert solution.row[3] == 0.0
    np.testing.assert_allclose(solution.row[:3], [1 / 3] * 3, atol=1e-9)
    np.testing.assert_allclose(solution.col, [1 / 3] * 3, atol=1e-9)
    assert math.isclose(solution.value, 0.0, abs_tol=1e-12)


def test_weighted_rps_hand_solved() -> None:
    """Match the unique mixed equilibrium (1/4, 1/2, 1/4) of a weighted RPS.

    The game is antisymmetric, so its value is 0 and an interior equilibrium p
    makes every column pay exactly 0 against it:
    column 0: p1 - 2 p2 = 0, column 1: -p0 + p2 = 0, column 2: 2 p0 - p1 = 0,
    so p0 = p2 and p1 = 2 p0, and with p0 + p1 + p2 = 1, p = (1/4, 1/2, 1/4).
    """
    solution = solve_zero_sum(np.array(WEIGHTED_RPS))
    np.testing.assert_allclose(solution.row, [0.25, 0.5, 0.25], atol=1e-9)
    np.testing.assert_allclose(solution.col, [0.25, 0.5, 0.25], atol=1e-9)
    assert math.isclose(solution.value, 0.0, abs_tol=1e-12)


def test_non_square_game_hand_solved() -> None:
    """Solve a 2 x 3 game whose column player has a continuum of optimal strategies.

    Row p = (x, 1 - x) earns 5x - 2, 2 - 3x and 1 - x against the columns;
    the first two cross at x = 1/2, where all three pay 1/2: row (1/2, 1/2),
    value 1/2. Column q holds both rows to 1/2 iff 3 q0 - q1 <= 1/2 and
    1 - 3 q0 + q1 <= 1/2, i.e. q1 = 3 q0 - 1/2 and q2 = 3/2 - 4 q0 for q0 in
    [1/6, 3/8]. Maximum entropy along that segment: d/dq0 of -sum q log q is
    -log q0 - 3 log q1 + 4 log q2 = 0, i.e. q2**4 == q0 * q1**3.
    """
    solution = solve_zero_sum(np.array([[3.0, -1.0, 0.0], [-2.0, 2.0, 1.0]]))
    np.testing.assert_allclose(solution.row, [0.5, 0.5], atol=1e-9)
    assert math.isclose(solution.value, 0.5, abs_tol=1e-9)
    q0, q1, q2 = solution.col
    assert math.isclose(q0 + q1 + q2, 1.0)
    assert math.isclose(q1, 3 * q0 - 0.5, abs_tol=1e-9)
    assert 1 / 6 < q0 < 3 / 8
    assert math.isclose(q2**4, q0 * q1**3, rel_tol=1e-5)
    # Strictly more entropy than the segment's midpoint.
    mid = 0.5 * (1 / 6 + 3 / 8)
    assert _entropy(solution.col) > _entropy(np.array([mid, 3 * mid - 0.5, 1.5 - 4 * mid]))


def test_identical_strategies_share_weight_equally() -> None:
    """Split weight evenly between duplicated strategies (the maximum-entropy equilibrium)."""
    # RPS with rock twice for the row player: any split of 1/3 between the rocks is optimal.
    payoff = np.array([RPS[0], RPS[0], RPS[1], RPS[2]])
    solution = solve_zero_sum(payoff)
    np.testing.assert_allclose(solution.row, [1 / 6, 1 / 6, 1 / 3, 1 / 3], atol=1e-7)
    np.testing.assert_allclose(solution.col, [1 / 3] * 3, atol=1e-7)
    # Two equally good pure strategies against a column player who cannot hurt either.
    solution = solve_zero_sum(np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0]]))
    np.testing.assert_allclose(solution.row, [0.5, 0.5, 0.0], atol=1e-7)
    assert math.isclose(solution.value, 1.0, abs_tol=1e-9)


def test_saddle_point_and_trivial_games() -> None:
    """Return pure strategies at a saddle point and handle 1 x 1 and constant games."""
    solution = solve_zero_sum(np.array([[2.0, 3.0], [1.0, 4.0]]))  # saddle at (0, 0)
    np.testing.assert_allclose(solution.row, [1.0, 0.0])
    np.testing.assert_allclose(solution.col, [1.0, 0.0])
    assert math.isclose(solution.value, 2.0, abs_tol=1e-9)
    one = solve_zero_sum(np.array([[5.0]]))
    assert one.row.tolist() == [1.0] and one.col.tolist() == [1.0] and one.value == 5.0
    flat = solve_zero_sum(np.full((3, 2), 7.0))
    np.testing.assert_allclose(flat.row, [1 / 3] * 3)
    np.testing.assert_allclose(flat.col, [0.5, 0.5])
    assert math.isclose(flat.value, 7.0)


@pytest.mark.parametrize("seed", range(5))
def test_random_games_give_optimal_strategies(seed: int) -> None:
    """Return strategies that guarantee the value for both players in random games."""
    rng = np.random.default_rng(seed)
    m, n = rng.integers(2, 12, size=2)
    payoff = rng.integers(-2, 3, size=(m, n)).astype(float) * 10.0 + 3.0
    solution = solve_zero_sum(payoff)
    for strategy in (solution.row, solution.col):
        assert math.isclose(strategy.sum(), 1.0) and strategy.min() >= 0.0
        assert np.all((strategy == 0.0) | (strategy >= 1e-9))
    assert (payoff.T @ solution.row).min() >= solution.value - 1e-7
    assert (payoff @ solution.col).max() <= solution.value + 1e-7
    # Shifting and scaling the payoffs changes the value alike and keeps the strategies.
    moved = solve_zero_sum(payoff * 0.5 - 4.0)
    np.testing.assert_allclose(moved.row, solution.row, atol=1e-6)
    assert math.isclose(moved.value, solution.value * 0.5 - 4.0, abs_tol=1e-7)


@pytest.mark.parametrize(
    "payoff",
    [[1.0, 2.0], [[]], [[1.0, float("nan")]], [[1.0], [float("inf")]], [["a"]], 3.0],
)
def test_solve_zero_sum_rejects_bad_payoff(payoff: object) -> None:
    """Raise ValueError naming payoff for a matrix that is not 2-D, non-empty and finite."""
    with pytest.raises(ValueError, match="payoff"):
        solve_zero_sum(payoff)  # type: ignore[arg-type]


# --------------------------------------------------------------- nash_averaging
def test_nash_averaging_transitive_population_backs_the_best() -> None:
    """Put all weight on the player who beats everyone; score players against it."""
    # Win rates: 0 beats 1 and 2, 1 beats 2; the diagonal is NaN (payoff_matrix style).
    results = [("a", "b", 1.0), ("a", "b", 0.0), ("a", "b", 1.0), ("a", "c", 1.0)]
    results += [("b", "c", 1.0), ("c", "b", 0.0), ("b", "c", 0.5)]
    win_rates = payoff_matrix(results, ["a", "b", "c"])
    weights, payoffs = nash_averaging(win_rates, centre=0.5)
    np.testing.assert_allclose(weights, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(payoffs, [0.5, 1 / 3, 0.0])


def test_nash_averaging_cycle_and_redundant_copies() -> None:
    """Weight an RPS population uniformly, and let an added copy share its original's weight."""
    weights, payoffs = nash_averaging(np.array(RPS) / 2 + 0.5, centre=0.5)
    np.testing.assert_allclose(weights, [1 / 3] * 3, atol=1e-9)
    np.testing.assert_allclose(payoffs, [0.5] * 3, atol=1e-9)
    copied = np.array(RPS)[[0, 0, 1, 2]][:, [0, 0, 1, 2]]
    weights, payoffs = nash_averaging(copied)
    np.testing.assert_allclose(weights, [1 / 6, 1 / 6, 1 / 3, 1 / 3], atol=1e-7)
    np.testing.assert_allclose(payoffs, 0.0, atol=1e-7)


def test_nash_averaging_small_populations_and_bad_arguments() -> None:
    """Handle zero and one players; reject non-square payoffs and bad centres."""
    weights, payoffs = nash_averaging(np.zeros((0, 0)))
    assert weights.shape == (0,) and payoffs.shape == (0,)
    weights, payoffs = nash_averaging(np.array([[np.nan]]), centre=0.5)
    assert weights.tolist() == [1.0] and payoffs.tolist() == [0.5]
    with pytest.raises(ValueError, match="payoff"):
        nash_averaging(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="payoff"):
        nash_averaging(np.array([[0.0, np.inf], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="centre"):
        nash_averaging(np.zeros((2, 2)), centre=float("nan"))


# ------------------------------------------------------------------ NashSampler
def test_nash_sampler_latest_about_p_latest() -> None:
    """Draw "latest" 80% +/- 2% of the time from a non-empty pool."""
    sampler = _filled(5)
    rng = np.random.default_rng(0)
    draws = [sampler.sample(rng) for _ in range(10_000)]
    frac = sum(d == LATEST for d in draws) / len(draws)
    assert abs(frac - 0.8) < 0.02
    assert all(d.snapshot in range(5) for d in draws if d != LATEST)


def test_nash_sampler_empty_pool_always_latest() -> None:
    """Return "latest" from an empty pool whatever p_latest is."""
    sampler = NashSampler(p_latest=0.0)
    rng = np.random.default_rng(1)
    assert all(sampler.sample(rng) == LATEST for _ in range(100))
    assert sampler.probabilities() == {} and sampler.nash_weights() == {}
    assert len(sampler) == 0 and sampler.pool == []
    assert sampler.payoff_matrix().shape == (0, 0)


def test_nash_sampler_draws_follow_the_nash_mixture() -> None:
    """Draw the weighted-RPS pool 1/4, 1/2, 1/4 and never a dominated snapshot."""
    sampler = _weighted_rps_sampler(p_latest=0.0)
    sampler.add(3)
    for i in range(3):
        sampler.record_pair(3, i, -1.0)  # snapshot 3 loses to everyone
    weights = sampler.nash_weights()
    assert list(weights) == [0, 1, 2, 3]
    np.testing.assert_allclose(list(weights.values()), [0.25, 0.5, 0.25, 0.0], atol=1e-9)
    rng = np.random.default_rng(2)
    draws = 20_000
    counts = np.bincount([sampler.sample(rng).snapshot for _ in range(draws)], minlength=4)
    assert counts[3] == 0
    np.testing.assert_allclose(counts[:3] / draws, [0.25, 0.5, 0.25], atol=0.015)


def test_nash_sampler_unplayed_pool_is_uniform() -> None:
    """Treat unplayed pairs as even, so a fresh pool is drawn uniformly."""
    sampler = _filled(4)
    assert all(math.isclose(p, 0.25) for p in sampler.nash_weights().values())
    assert sampler.pair_payoff(0, 1) == 0.0 and sampler.pair_games(0, 1) == 0


def test_nash_sampler_pair_results_average_and_stay_antisymmetric() -> None:
    """Average results over games in both seating orders, with M[b, a] == -M[a, b]."""
    sampler = _filled(3)
    sampler.record_pair(0, 1, 0.5)
    sampler.record_pair(1, 0, 0.25, games=3)  # 0 scores -0.25 in these three
    assert sampler.pair_games(0, 1) == sampler.pair_games(1, 0) == 4
    assert math.isclose(sampler.pair_payoff(0, 1), (0.5 - 0.75) / 4)
    assert math.isclose(sampler.pair_payoff(1, 0), -(0.5 - 0.75) / 4)
    sampler.set_pair(2, 1, 3.0)
    matrix = sampler.payoff_matrix()
    np.testing.assert_allclose(matrix, -matrix.T)
    assert matrix[2, 1] == 3.0 and matrix[1, 2] == -3.0 and matrix[0, 2] == 0.0
    sampler.set_pair(1, 2, 1.0)  # replaces the earlier value
    assert sampler.pair_payoff(2, 1) == -1.0 and sampler.pair_games(1, 2) == 1


def test_nash_sampler_pairs_missing() -> None:
    """List the pool snapshots a snapshot has no result against, oldest first."""
    sampler = _filled(4)
    assert sampler.pairs_missing(2) == [0, 1, 3]
    sampler.record_pair(2, 0, 0.0)
    sampler.set_pair(3, 2, 1.0)
    assert sampler.pairs_missing(2) == [1]
    assert sampler.pairs_missing(0) == [1, 3]
    with pytest.raises(ValueError, match="not in the pool"):
        sampler.pairs_missing(9)
    with pytest.raises(ValueError, match="snapshot_id"):
        sampler.pairs_missing("2")  # type: ignore[arg-type]


def test_nash_sampler_recomputes_only_when_results_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Solve the meta-game once per change of the pool's results, not once per draw."""
    calls = []
    real = nash_module.nash_averaging

    def counting(payoff: np.ndarray, centre: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        calls.append(payoff.shape)
        return real(payoff, centre)

    monkeypatch.setattr(nash_module, "nash_averaging", counting)
    sampler = _weighted_rps_sampler(p_latest=0.0)
    rng = np.random.default_rng(3)
    for _ in range(100):
        sampler.sample(rng)
    sampler.nash_weights()
    assert len(calls) == 1
    sampler.record_pair(0, 1, 0.5)
    sampler.record_pair(0, 99, 0.5)  # outside the pool: ignored, nothing changes
    sampler.update(snap(0), 1.0)  # the learner's results do not enter the mixture
    for _ in range(100):
        sampler.sample(rng)
    assert len(calls) == 2
    sampler.add(3)
    sampler.add(3)  # already in the pool: no change
    sampler.probabilities()
    sampler.sample(rng)
    assert calls == [(3, 3), (3, 3), (4, 4)]


def test_nash_sampler_update_is_accepted_and_ignored() -> None:
    """Validate update's arguments like the other samplers but leave the mixture alone."""
    sampler = _weighted_rps_sampler()
    before = sampler.nash_weights()
    sampler.update(snap(0), 1.0)
    sampler.update(snap(99), 0.0)
    sampler.update(LATEST, 0.5)
    assert sampler.nash_weights() == before
    assert sampler.pair_games(0, 1) == 1
    with pytest.raises(ValueError, match="score"):
        sampler.update(snap(0), 1.5)
    with pytest.raises(ValueError, match="PlayerId"):
        sampler.update(0, 1.0)  # type: ignore[arg-type]


def test_nash_sampler_drops_oldest_with_its_pair_results() -> None:
    """Forget a dropped snapshot's pair results and ignore later results naming it."""
    sampler = _weighted_rps_sampler(max_pool=3)
    sampler.add(3)
    assert sampler.pool == [1, 2, 3]
    assert 0 not in sampler
    assert sampler.pair_games(0, 1) == 0 and sampler.pair_games(0, 2) == 0
    assert sampler.pair_games(1, 2) == 1
    sampler.record_pair(0, 1, 1.0)
    assert sampler.pair_games(0, 1) == 0
    assert set(sampler.nash_weights()) == {1, 2, 3}
    assert "pairs=1" in repr(sampler)
    rng = np.random.default_rng(4)
    assert {sampler.sample(rng) for _ in range(500)} <= {LATEST, snap(1), snap(2), snap(3)}


def test_nash_sampler_matches_opponent_sampler_interface() -> None:
    """Expose the OpponentSampler methods used by callers, and method == "nash"."""
    for name in ("add", "sample", "probabilities", "update", "state_dict", "load_state_dict"):
        assert callable(getattr(NashSampler, name))
        assert callable(getattr(OpponentSampler, name))
    sampler = NashSampler(role="away", p_latest=0.5, max_pool=4)
    assert sampler.method == "nash" and sampler.role == "away"
    assert sampler.p_latest == 0.5 and sampler.max_pool == 4
    assert repr(sampler) == "NashSampler(p_latest=0.5, max_pool=4, pool_size=0, pairs=0)"
    with pytest.raises(TypeError):
        NashSampler(0.8)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"p_latest": -0.1}, "p_latest"),
        ({"p_latest": float("nan")}, "p_latest"),
        ({"max_pool": 0}, "max_pool"),
        ({"max_pool": 2.5}, "max_pool"),
    ],
)
def test_nash_sampler_argument_validation(kwargs: dict[str, object], name: str) -> None:
    """Raise ValueError naming the bad constructor argument and its value."""
    with pytest.raises(ValueError, match=name) as info:
        NashSampler(**kwargs)
    assert repr(next(iter(kwargs.values()))) in str(info.value)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((0, 0, 1.0), "different"),
        (("0", 1, 1.0), "a must"),
        ((0, True, 1.0), "b must"),
        ((0, 1, float("nan")), "payoff_a"),
        ((0, 1, "1"), "payoff_a"),
        ((0, 1, 1.0, 0), "games"),
        ((0, 1, 1.0, 1.5), "games"),
    ],
)
def test_record_pair_validation(args: tuple[object, ...], name: str) -> None:
    """Raise ValueError naming the bad record_pair argument, even for snapshots outside the pool."""
    sampler = _filled(2)
    with pytest.raises(ValueError, match=name):
        sampler.record_pair(*args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=name):
        NashSampler().record_pair(*args)  # type: ignore[arg-type]
    assert sampler.payoff_matrix().tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_set_pair_and_add_validation() -> None:
    """Raise ValueError naming the bad argument of set_pair and add."""
    sampler = _filled(2)
    with pytest.raises(ValueError, match="value"):
        sampler.set_pair(0, 1, float("inf"))
    with pytest.raises(ValueError, match="different"):
        sampler.set_pair(1, 1, 0.0)
    with pytest.raises(ValueError, match="snapshot_id"):
        sampler.add("3")  # type: ignore[arg-type]
    sampler.add(np.int64(3))  # type: ignore[arg-type]
    assert sampler.pool == [0, 1, 3] and type(sampler.pool[2]) is int


def test_nash_sampler_state_round_trip() -> None:
    """Restore configuration, pool and pair results from a JSON round trip."""
    sampler = _weighted_rps_sampler(p_latest=0.3, max_pool=6)
    sampler.add(3)
    sampler.record_pair(3, 0, 0.25, games=2)
    sampler.record_pair(1, 3, -0.5)
    state = json.loads(json.dumps(sampler.state_dict(), allow_nan=False))
    restored = NashSampler()
    restored.load_state_dict(state)
    assert restored.pool == sampler.pool
    assert restored.p_latest == 0.3 and restored.max_pool == 6
    np.testing.assert_array_equal(restored.payoff_matrix(), sampler.payoff_matrix())
    assert restored.pair_games(0, 3) == 2
    assert restored.pairs_missing(2) == [3]
    assert restored.nash_weights() == sampler.nash_weights()
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    assert [sampler.sample(rng_a) for _ in range(50)] == [restored.sample(rng_b) for _ in range(50)]
    unbounded = NashSampler()
    assert "max_pool" not in unbounded.state_dict()


def test_nash_sampler_state_dict_is_plain_json() -> None:
    """Use only str keys and int/float/str/list values in the state dict."""
    state = _weighted_rps_sampler(max_pool=5).state_dict()

    def check(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                assert isinstance(key, str)
                check(item)
        elif isinstance(value, list):
            for item in value:
                check(item)
        else:
            assert type(value) in (int, float, str)

    check(state)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"version": 99}, "version"),
        ({"pool": [0, 0, 1]}, "duplicate"),
        ({"pairs": "none"}, "pairs"),
        ({"pairs": [[0, 1, 1.0]]}, "total, games"),
        ({"pairs": [[0, 9, 1.0, 1]]}, "outside"),
        ({"pairs": [[0, 1, 1.0, 1], [1, 0, 1.0, 1]]}, "duplicate pair"),
        ({"pairs": [[0, 1, float("nan"), 1]]}, "total"),
        ({"pairs": [[0, 1, 1.0, 0]]}, "games"),
        ({"pairs": [[2, 2, 1.0, 1]]}, "different"),
        ({"p_latest": 2.0}, "p_latest"),
    ],
)
def test_nash_sampler_load_rejects_malformed(change: dict[str, object], match: str) -> None:
    """Reject malformed state and leave the sampler unchanged."""
    sampler = _weighted_rps_sampler()
    good = sampler.state_dict()
    before = sampler.nash_weights()
    with pytest.raises(ValueError, match=match):
        sampler.load_state_dict({**good, **change})
    with pytest.raises(ValueError, match="missing key 'pairs'"):
        sampler.load_state_dict({k: v for k, v in good.items() if k != "pairs"})
    assert sampler.pool == [0, 1, 2]
    assert sampler.nash_weights() == before
    assert sampler.state_dict() == good


def test_nash_sampler_loads_pairs_in_either_order() -> None:
    """Accept a stored pair written from the higher id's point of view."""
    sampler = _filled(2)
    state = sampler.state_dict()
    sampler.load_state_dict({**state, "pairs": [[1, 0, 3.0, 2]]})
    assert sampler.pair_payoff(0, 1) == -1.5 and sampler.pair_games(0, 1) == 2
    assert sampler.state_dict()["pairs"] == [[0, 1, -3.0, 2]]
