"""Players act through ONNX Runtime with the eager network's maths: frozen snapshots,
and learning policies with a session rebuilt for each broadcast of new weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from envs import builtin_game
from league.config import load_config
from league.rollout import PolicyFactory
from league.rollout import frozen as frozen_mod
from league.rollout.frozen import FREEZE_AFTER, FrozenPolicy, GraphTemplate, can_freeze, draw
from league.rollout.players import PlayerPool, PolicyPlayer
from matchmaking import PlayerId

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-5
"""Largest difference allowed between eager and ONNX Runtime probabilities and values
(float32 rounding: measured differences are about 3e-8)."""


def _policy(*overrides: str):
    config = load_config(ROOT / "configs" / "connect_four.yaml", list(overrides))
    info = builtin_game("connect_four_v3").info()
    torch.manual_seed(0)
    return PolicyFactory.from_config(info, config.model)("main"), info


def _inputs(policy, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    sp = policy.spaces
    obs = rng.integers(0, 2, (n, *sp.obs_shape)).astype(sp.obs_dtype)
    mask = rng.random((n, sp.n_actions)) > 0.4
    mask[:, 3] = True
    return obs, np.zeros(n, np.int64), mask


@pytest.mark.parametrize("n", [1, 3, 40])
def test_frozen_probabilities_values_and_greedy_actions_match_eager(n):
    policy, _ = _policy()
    obs, member, mask = _inputs(policy, n)
    want = policy.act(obs, member, mask, greedy=True)
    frozen = FrozenPolicy(policy, np.random.default_rng(0))
    got = frozen.act(obs, member, mask, greedy=True)
    np.testing.assert_allclose(got.probs, want.probs, atol=TOL)
    np.testing.assert_allclose(got.value, want.value, atol=TOL)
    np.testing.assert_array_equal(got.action, want.action)
    np.testing.assert_allclose(got.logp, want.logp, atol=1e-4)
    sampled = frozen.act(obs, member, mask)
    assert mask[np.arange(n), sampled.action].all()  # only legal actions are drawn
    np.testing.assert_allclose(
        sampled.logp, np.log(want.probs[np.arange(n), sampled.action]), atol=1e-4
    )


def test_a_recurrent_frozen_policy_steps_its_state_as_eager_does():
    policy, _ = _policy("model.recurrent={kind: lstm, size: 16}", "model.action_head=dense")
    obs, member, mask = _inputs(policy, 5)
    frozen = FrozenPolicy(policy, np.random.default_rng(0))
    want = policy.act(obs, member, mask, None)
    got = frozen.act(obs, member, mask, None)
    np.testing.assert_allclose(got.state, want.state, atol=TOL)
    obs2, _, _ = _inputs(policy, 5, seed=1)
    want2 = policy.act(obs2, member, mask, want.state)
    got2 = frozen.act(obs2, member, mask, got.state)
    np.testing.assert_allclose(got2.probs, want2.probs, atol=TOL)
    np.testing.assert_allclose(got2.state, want2.state, atol=TOL)


def test_draw_follows_the_probabilities_and_never_an_impossible_action():
    probs = np.array([[0.0, 0.2, 0.0, 0.5, 0.3, 0.0]] * 40_000, dtype=np.float32)
    actions = draw(probs, np.random.default_rng(1))
    freq = np.bincount(actions, minlength=6) / len(actions)
    np.testing.assert_allclose(freq, probs[0], atol=0.01)
    # A row whose float32 total falls short of 1, drawn at the very top of [0, 1).
    edge = np.array([[0.3, 0.3, 0.39999, 0.0]], dtype=np.float32)

    class Top:
        def random(self, shape):
            return np.full(shape, np.nextafter(1.0, 0.0))

    assert draw(edge, Top()).tolist() == [2]


def test_a_snapshot_player_freezes_after_its_first_calls_and_one_without_rng_never_does():
    policy, info = _policy()
    obs, member, mask = _inputs(policy, 4)
    want = policy.act(obs, member, mask).probs
    snapshot = PolicyPlayer(policy, version=3, rng=np.random.default_rng(0))
    for _ in range(FREEZE_AFTER):
        snapshot.act(obs, member, mask)
    assert snapshot.frozen is None
    out = snapshot.act(obs, member, mask)
    assert snapshot.frozen is not None
    np.testing.assert_allclose(out.probs, want, atol=TOL)
    eager = PolicyPlayer(policy, version=3)
    for _ in range(FREEZE_AFTER + 2):
        eager.act(obs, member, mask)
    assert eager.frozen is None


@pytest.mark.parametrize(
    "overrides",
    [(), ("model.recurrent={kind: lstm, size: 16}", "model.action_head=dense")],
    ids=["cnn", "lstm"],
)
def test_a_template_builds_sessions_for_other_weights_of_the_same_network(overrides):
    policy, info = _policy(*overrides)
    template = GraphTemplate(policy)
    # Every weight the acting graph reads is an initializer the session takes anew:
    # none was folded into a constant that would keep the first weights.
    graph_params = {k for k, _ in policy.named_parameters() if not k.startswith("q.")}
    assert graph_params <= set(template.params)
    torch.manual_seed(1)
    other = PolicyFactory.from_config(
        info, load_config(ROOT / "configs" / "connect_four.yaml", list(overrides)).model
    )("main")
    obs, member, mask = _inputs(policy, 6)
    state = np.random.default_rng(2).normal(size=(6, policy.state_size)).astype(np.float32)
    state = state if policy.state_size else None
    for net in (other, policy):
        want = net.act(obs, member, mask, state, greedy=True)
        got = FrozenPolicy(net, np.random.default_rng(0), template).act(
            obs, member, mask, state, greedy=True
        )
        np.testing.assert_allclose(got.probs, want.probs, atol=TOL)
        np.testing.assert_allclose(got.value, want.value, atol=TOL)
        if state is not None:
            np.testing.assert_allclose(got.state, want.state, atol=TOL)
    # The two networks differ (their values; fresh policies are near uniform).
    first = policy.act(obs, member, mask, state).value
    assert np.abs(other.act(obs, member, mask, state).value - first).max() > 1e-3


def test_the_pool_freezes_the_latest_policy_at_once_and_again_for_new_weights():
    policy, info = _policy()
    factory = PolicyFactory.from_config(
        info, load_config(ROOT / "configs" / "connect_four.yaml").model
    )
    pool = PlayerPool(factory, info=info, rng=np.random.default_rng(0))
    obs, member, mask = _inputs(policy, 5)
    pool.set_latest("main", policy.state_dict(), version=5)
    latest = pool.latest["main"]
    out = latest.act(obs, member, mask)
    assert latest.frozen is not None
    np.testing.assert_allclose(out.probs, policy.act(obs, member, mask).probs, atol=TOL)
    # The learner broadcasts new weights: the next call acts with them.
    torch.manual_seed(3)
    newer = factory("main")
    pool.set_latest("main", newer.state_dict(), version=6)
    assert pool.latest["main"] is latest and latest.frozen is None and latest.version == 6
    out = latest.act(obs, member, mask)
    np.testing.assert_allclose(out.probs, newer.act(obs, member, mask).probs, atol=TOL)
    # Snapshots of the role act through sessions of the same exported graph.
    snap = PlayerId.of_snapshot("main", 2)
    pool.set_snapshots({snap: policy.state_dict()})
    assert pool.get(snap, "main").template() is latest.template() is pool.template("main")


def test_without_onnxruntime_every_snapshot_stays_eager(monkeypatch):
    policy, _ = _policy()
    assert can_freeze(policy) == (importlib.util.find_spec("onnxruntime") is not None)
    monkeypatch.setattr(frozen_mod.importlib.util, "find_spec", lambda name: None)
    assert not can_freeze(policy)
    player = PolicyPlayer(policy, version=1, rng=np.random.default_rng(0))
    obs, member, mask = _inputs(policy, 2)
    for _ in range(FREEZE_AFTER + 2):
        player.act(obs, member, mask)
    assert player.frozen is None
