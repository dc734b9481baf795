from __future__ import annotations

import json
import math

import numpy as np
import pytest

from matchmaking import OpponentSampler, PlayerId

LATEST = PlayerId.latest("main")


def snap(i: int) -> PlayerId:
    """Snapshot i of the samplers' role."""
    return PlayerId.of_snapshot("main", i)


def _filled(n: int = 5, **kwargs: object) -> OpponentSampler:
    """Build a sampler holding snapshots 0..n-1."""
    sampler = OpponentSampler(**kwargs)
    for i in range(n):
        sampler.add(i)
    return sampler


def test_latest_drawn_about_p_latest() -> None:
    """Draw "latest" 80% +/- 2% of the time from a non-empty pool."""
    sampler = _filled(5)
    rng = np.random.default_rng(0)
    draws = [sampler.sample(rng) for _ in range(10_000)]
    frac = sum(d == LATEST for d in draws) / len(draws)
    assert abs(frac - 0.8) < 0.02
    assert all(d == LATEST or d.snapshot in range(5) for d in draws)
    assert all(d.role == "main" for d in draws)


def test_empty_pool_always_latest() -> None:
    """Return "latest" whatever p_latest is when the pool is empty."""
    sampler = OpponentSampler(p_latest=0.0)
    rng = np.random.default_rng(1)
    assert all(sampler.sample(rng) == LATEST for _ in range(200))
    assert sampler.probabilities() == {}
    assert len(sampler) == 0
    assert sampler.pool == []


def test_p_latest_zero_never_latest_with_pool() -> None:
    """Never draw "latest" from a non-empty pool when p_latest is 0."""
    sampler = _filled(3, p_latest=0.0)
    rng = np.random.default_rng(2)
    assert all(sampler.sample(rng) != LATEST for _ in range(500))


def test_beaten_snapshot_probability_drops_others_rise() -> None:
    """Lower a beaten snapshot's probability by the OpenAI Five rule and raise the others."""
    sampler = _filled(4, quality_lr=0.1)
    before = sampler.probabilities()
    assert all(math.isclose(p, 0.25) for p in before.values())
    sampler.update(snap(2), 1.0)
    after = sampler.probabilities()
    assert after[2] < before[2]
    for i in (0, 1, 3):
        assert after[i] > before[i]
    assert math.isclose(sum(after.values()), 1.0)
    # q_2 -= lr / (N * p_2) = 0.1 / (4 * 0.25)
    assert math.isclose(sampler.scores()[2], -0.1)


def test_loss_or_unknown_id_changes_nothing() -> None:
    """Leave scores untouched when the learner loses or the id is unknown."""
    sampler = _filled(3)
    before = sampler.scores()
    sampler.update(snap(1), 0.0)
    sampler.update(snap(99), 1.0)
    assert sampler.scores() == before


def test_new_snapshot_enters_at_pool_max() -> None:
    """Give a new snapshot the current maximum score of the pool (0.0 for the first)."""
    sampler = OpponentSampler(quality_lr=0.5)
    sampler.add(10)
    assert sampler.scores() == {10: 0.0}
    sampler.add(11)
    sampler.update(snap(10), 1.0)
    sampler.update(snap(11), 1.0)
    sampler.update(snap(11), 1.0)
    scores = sampler.scores()
    assert max(scores.values()) < 0.0
    top = max(scores.values())
    sampler.add(12)
    assert sampler.scores()[12] == top
    probs = sampler.probabilities()
    assert probs[12] == max(probs.values())


def test_add_is_idempotent() -> None:
    """Ignore a second add of an id already in the pool."""
    sampler = _filled(3, quality_lr=0.2)
    sampler.update(snap(1), 1.0)
    before = sampler.scores()
    sampler.add(1)
    assert sampler.scores() == before
    assert sampler.pool == [0, 1, 2]
    assert len(sampler) == 3


def test_uniform_method_draws_uniformly() -> None:
    """Draw history snapshots uniformly under method="uniform" despite score updates."""
    n = 5
    sampler = _filled(n, p_latest=0.0, method="uniform", quality_lr=1.0)
    for _ in range(3):
        sampler.update(snap(0), 1.0)
    assert all(math.isclose(p, 1 / n) for p in sampler.probabilities().values())
    rng = np.random.default_rng(3)
    draws = 10_000
    counts = np.bincount([sampler.sample(rng).snapshot for _ in range(draws)], minlength=n)
    expected = draws / n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    # 4 degrees of freedom: the 0.999 quantile is about 18.5.
    assert chi2 < 18.5


def test_quality_method_matches_softmax() -> None:
    """Draw history snapshots with frequencies close to the softmax probabilities."""
    sampler = _filled(4, p_latest=0.0, quality_lr=0.2)
    for _ in range(3):
        sampler.update(snap(0), 1.0)
    probs = sampler.probabilities()
    rng = np.random.default_rng(4)
    draws = 10_000
    counts = np.bincount([sampler.sample(rng).snapshot for _ in range(draws)], minlength=4)
    expected = np.array([probs[i] for i in range(4)]) * draws
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    # 3 degrees of freedom: the 0.999 quantile is about 16.3.
    assert chi2 < 16.3


@pytest.mark.parametrize("method", ["quality", "uniform"])
def test_state_dict_json_round_trip(method: str) -> None:
    """Restore from a JSON round trip and reproduce subsequent draws exactly."""
    sampler = _filled(6, p_latest=0.3, method=method, quality_lr=0.05, max_pool=8)
    rng = np.random.default_rng(5)
    for _ in range(50):
        opponent = sampler.sample(rng)
        if not opponent.is_latest:
            sampler.update(opponent, float(rng.random() < 0.6))
    state = json.loads(json.dumps(sampler.state_dict(), allow_nan=False))

    restored = OpponentSampler()
    restored.load_state_dict(state)
    assert restored.pool == sampler.pool
    assert restored.scores() == sampler.scores()
    assert restored.max_pool == 8
    assert restored.method == method

    rng_a = np.random.default_rng(6)
    rng_b = np.random.default_rng(6)
    draws_a = [sampler.sample(rng_a) for _ in range(500)]
    draws_b = [restored.sample(rng_b) for _ in range(500)]
    assert draws_a == draws_b


def test_state_dict_is_plain_json() -> None:
    """Use only str keys and int/float/str/list values in the state dict."""
    state = _filled(3).state_dict()

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


def test_load_state_dict_rejects_malformed() -> None:
    """Reject malformed state and leave the sampler unchanged."""
    sampler = _filled(2)
    good = sampler.state_dict()
    bad = dict(good, scores=[0.0])
    with pytest.raises(ValueError, match="length"):
        sampler.load_state_dict(bad)
    with pytest.raises(ValueError, match="duplicate"):
        sampler.load_state_dict(dict(good, pool=[1, 1]))
    with pytest.raises(ValueError, match="version"):
        sampler.load_state_dict(dict(good, version=999))
    assert sampler.pool == [0, 1]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"p_latest": -0.1}, "p_latest"),
        ({"p_latest": 1.5}, "p_latest"),
        ({"p_latest": float("nan")}, "p_latest"),
        ({"method": "elo"}, "method"),
        ({"quality_lr": 0.0}, "quality_lr"),
        ({"quality_lr": -1.0}, "quality_lr"),
        ({"quality_lr": float("inf")}, "quality_lr"),
        ({"max_pool": 0}, "max_pool"),
        ({"max_pool": 2.5}, "max_pool"),
    ],
)
def test_argument_validation(kwargs: dict[str, object], name: str) -> None:
    """Raise ValueError naming the bad argument and its value."""
    with pytest.raises(ValueError, match=name) as info:
        OpponentSampler(**kwargs)
    assert repr(next(iter(kwargs.values()))) in str(info.value)


def test_constructor_is_keyword_only() -> None:
    """Refuse positional constructor arguments."""
    with pytest.raises(TypeError):
        OpponentSampler(0.8)  # type: ignore[misc]


def test_add_rejects_non_int_id() -> None:
    """Raise ValueError for a snapshot id that is not an int."""
    sampler = OpponentSampler()
    with pytest.raises(ValueError, match="snapshot_id"):
        sampler.add("3")  # type: ignore[arg-type]
    sampler.add(np.int64(3))  # type: ignore[arg-type]
    assert sampler.pool == [3]
    assert type(sampler.pool[0]) is int


def test_max_pool_drops_oldest() -> None:
    """Drop the oldest snapshot when adding beyond max_pool."""
    sampler = OpponentSampler(max_pool=3)
    for i in range(5):
        sampler.add(i)
    assert sampler.pool == [2, 3, 4]
    assert len(sampler) == 3
    assert 0 not in sampler
    sampler.update(snap(0), 1.0)  # pruned id: ignored
    assert set(sampler.probabilities()) == {2, 3, 4}
    rng = np.random.default_rng(7)
    drawn = {sampler.sample(rng) for _ in range(1000)}
    assert drawn <= {LATEST, snap(2), snap(3), snap(4)}
