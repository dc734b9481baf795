from __future__ import annotations

import json
import math

import numpy as np
import pytest

from matchmaking import OpponentSampler, PayoffTable, PFSPSampler, PlayerId, pfsp_weights

LATEST = PlayerId.latest("main")


def snap(i: int) -> PlayerId:
    """Snapshot i of the samplers' role."""
    return PlayerId.of_snapshot("main", i)


def _filled(n: int = 3, **kwargs: object) -> PFSPSampler:
    """Build a PFSP sampler holding snapshots 0..n-1."""
    sampler = PFSPSampler(**kwargs)
    for i in range(n):
        sampler.add(i)
    return sampler


# ---------------------------------------------------------------- PayoffTable
def test_unplayed_pair_gets_prior() -> None:
    """Report the prior (0.5 by default) and zero games for pairs that never played."""
    table = PayoffTable()
    assert table.win_rate("a", "b") == 0.5
    assert table.games("a", "b") == 0.0
    assert table.players == []
    table.update("a", "b", 1.0)
    assert table.win_rate("a", "c") == 0.5
    assert PayoffTable(prior=0.3).win_rate("x", "y") == 0.3


def test_payoff_decay_hand_computed() -> None:
    """Decay the pair's counts in both directions before adding each game."""
    table = PayoffTable(decay=0.5)
    table.update("a", "b", 1.0)  # a: wins 1, draws 0, games 1
    assert table.win_rate("a", "b") == 1.0
    assert table.win_rate("b", "a") == 0.0
    table.update("a", "b", 0.5)  # a: wins 0.5, draws 1, games 1.5; b: wins 0
    assert math.isclose(table.win_rate("a", "b"), (0.5 + 0.5) / 1.5)
    assert math.isclose(table.win_rate("b", "a"), 0.5 / 1.5)
    table.update("b", "a", 1.0)  # a: wins 0.25, draws 0.5, games 1.75; b: wins 1
    assert math.isclose(table.games("a", "b"), 1.75)
    assert math.isclose(table.games("b", "a"), 1.75)
    assert math.isclose(table.win_rate("a", "b"), (0.25 + 0.25) / 1.75)
    assert math.isclose(table.win_rate("b", "a"), (1.0 + 0.25) / 1.75)
    assert math.isclose(table.win_rate("a", "b") + table.win_rate("b", "a"), 1.0)
    assert table.players == ["a", "b"]


def test_payoff_table_rejects_bad_arguments() -> None:
    """Raise ValueError naming the bad argument."""
    with pytest.raises(ValueError, match="decay"):
        PayoffTable(decay=0.0)
    with pytest.raises(ValueError, match="prior"):
        PayoffTable(prior=1.5)
    table = PayoffTable()
    with pytest.raises(ValueError, match="score_a"):
        table.update("a", "b", 2.0)
    with pytest.raises(ValueError, match="differ"):
        table.update("a", "a", 1.0)
    with pytest.raises(ValueError, match="b must be a str"):
        table.update("a", 3, 1.0)  # type: ignore[arg-type]


def test_payoff_table_state_round_trip() -> None:
    """Restore identical rates and counts from a JSON round trip of state_dict."""
    table = PayoffTable(decay=0.9, prior=0.4)
    for a, b, s in [("x", "y", 1.0), ("y", "z", 0.5), ("x", "y", 0.0), ("z", "x", 1.0)]:
        table.update(a, b, s)
    state = json.loads(json.dumps(table.state_dict()))
    restored = PayoffTable()
    restored.load_state_dict(state)
    assert restored.decay == 0.9 and restored.prior == 0.4
    assert restored.players == table.players
    for a in ("x", "y", "z"):
        for b in ("x", "y", "z"):
            assert restored.win_rate(a, b) == table.win_rate(a, b)
            assert restored.games(a, b) == table.games(a, b)
    bad = json.loads(json.dumps(state))
    bad["pairs"] = bad["pairs"][:1]
    with pytest.raises(ValueError, match="reverse"):
        restored.load_state_dict(bad)
    assert restored.players == table.players


# ---------------------------------------------------------------- pfsp_weights
@pytest.mark.parametrize(
    ("weighting", "expected"),
    [
        ("squared", [0.64 / 0.9, 0.25 / 0.9, 0.01 / 0.9]),
        ("variance", [0.32, 0.5, 0.18]),
        ("linear", [0.8 / 1.4, 0.5 / 1.4, 0.1 / 1.4]),
        ("linear_capped", [5 / 11, 5 / 11, 1 / 11]),
    ],
)
def test_pfsp_weights_hand_values(weighting: str, expected: list[float]) -> None:
    """Match hand-computed PFSP probabilities for win rates 0.2, 0.5 and 0.9."""
    weights = pfsp_weights([0.2, 0.5, 0.9], weighting)
    np.testing.assert_allclose(weights, expected, rtol=1e-12)
    assert math.isclose(weights.sum(), 1.0)


@pytest.mark.parametrize(
    ("weighting", "rates"),
    [("squared", [1.0, 1.0]), ("variance", [0.0, 1.0, 1.0]), ("linear", [1.0] * 4)],
)
def test_pfsp_all_zero_weights_fall_back_to_uniform(weighting: str, rates: list[float]) -> None:
    """Return uniform probabilities when every weight is zero."""
    np.testing.assert_allclose(pfsp_weights(rates, weighting), 1.0 / len(rates))


def test_pfsp_weights_edge_cases() -> None:
    """Return an empty array for no candidates and reject unknown weightings or bad rates."""
    assert pfsp_weights([]).shape == (0,)
    with pytest.raises(ValueError, match="'cubic'"):
        pfsp_weights([0.5], "cubic")
    with pytest.raises(ValueError, match="win_rates"):
        pfsp_weights([1.5])


# ----------------------------------------------------------------- PFSPSampler
def test_pfsp_sampler_latest_about_p_latest() -> None:
    """Draw "latest" 80% +/- 2% of the time from a non-empty pool."""
    sampler = _filled(5)
    rng = np.random.default_rng(0)
    draws = [sampler.sample(rng) for _ in range(10_000)]
    frac = sum(d == LATEST for d in draws) / len(draws)
    assert abs(frac - 0.8) < 0.02
    assert all(d.snapshot in range(5) for d in draws if d != LATEST)


def test_pfsp_sampler_empty_pool_always_latest() -> None:
    """Return "latest" from an empty pool whatever p_latest is."""
    sampler = PFSPSampler(p_latest=0.0)
    rng = np.random.default_rng(1)
    assert all(sampler.sample(rng) == LATEST for _ in range(100))
    assert sampler.probabilities() == {}
    assert len(sampler) == 0 and sampler.pool == []


def test_pfsp_sampler_prefers_snapshots_it_loses_to() -> None:
    """Weight snapshots by (1 - win rate)^2: beaten 0, unplayed 0.25, unbeaten 1."""
    sampler = _filled(3, p_latest=0.0)
    sampler.update(snap(0), 1.0)  # OpponentSampler-style positional call
    sampler.update(snap(2), 0.0)
    probs = sampler.probabilities()
    assert sampler.win_rates() == {0: 1.0, 1: 0.5, 2: 0.0}
    np.testing.assert_allclose([probs[0], probs[1], probs[2]], [0.0, 0.2, 0.8])
    rng = np.random.default_rng(3)
    draws = [sampler.sample(rng) for _ in range(2_000)]
    counts = [draws.count(snap(i)) for i in range(3)]
    assert counts[0] == 0
    assert counts[2] > 3 * counts[1] > 0


def test_pfsp_sampler_score_counts_draws() -> None:
    """Count score=0.5 as a draw and let score override learner_won."""
    sampler = _filled(2, decay=1.0)
    sampler.update(snap(0), 0.5)
    assert sampler.win_rates()[0] == 0.5
    assert sampler.payoff.games("main@latest", "main@0") == 1.0
    sampler.update(snap(1), 0.0)
    assert sampler.win_rates()[1] == 0.0
    with pytest.raises(ValueError, match="score"):
        sampler.update(snap(0), 1.5)
    with pytest.raises(ValueError, match="PlayerId"):
        sampler.update(0, 1.0)  # type: ignore[arg-type]


def test_pfsp_sampler_ignores_unknown_ids_and_drops_oldest() -> None:
    """Ignore updates for unknown opponents and forget payoffs of dropped snapshots."""
    sampler = _filled(2, max_pool=2)
    sampler.update(LATEST, 1.0)
    sampler.update(snap(99), 1.0)
    assert sampler.payoff.players == []
    sampler.update(snap(0), 0.0)
    sampler.add(2)
    assert sampler.pool == [1, 2]
    assert "0" not in sampler.payoff
    sampler.update(snap(0), 1.0)
    assert "0" not in sampler.payoff
    assert sampler.payoff.games("main@latest", "main@0") == 0.0


def test_pfsp_sampler_matches_opponent_sampler_interface() -> None:
    """Expose the OpponentSampler methods used by callers."""
    for name in ("add", "sample", "probabilities", "update", "state_dict", "load_state_dict"):
        assert callable(getattr(PFSPSampler, name))
        assert callable(getattr(OpponentSampler, name))
    with pytest.raises(ValueError, match="weighting"):
        PFSPSampler(weighting="cubic")
    with pytest.raises(ValueError, match="p_latest"):
        PFSPSampler(p_latest=1.5)
    with pytest.raises(ValueError, match="max_pool"):
        PFSPSampler(max_pool=0)


def test_pfsp_sampler_state_round_trip() -> None:
    """Restore configuration, pool and payoffs from a JSON round trip."""
    sampler = _filled(4, p_latest=0.3, weighting="variance", decay=0.9, max_pool=6)
    for sid, score in [(0, 1.0), (1, 0.5), (2, 0.0), (0, 0.0), (3, 1.0)]:
        sampler.update(snap(sid), score)
    state = json.loads(json.dumps(sampler.state_dict()))
    restored = PFSPSampler()
    restored.load_state_dict(state)
    assert restored.pool == sampler.pool
    assert restored.p_latest == 0.3 and restored.weighting == "variance"
    assert restored.max_pool == 6 and restored.payoff.decay == 0.9
    assert restored.probabilities() == sampler.probabilities()
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    assert [sampler.sample(rng_a) for _ in range(50)] == [restored.sample(rng_b) for _ in range(50)]
    with pytest.raises(ValueError, match="version"):
        restored.load_state_dict({**state, "version": 99})
    assert restored.pool == sampler.pool
