"""Recurrent networks and the learners that train them on sequences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents import ACER, PPO, TRPO, ACERSettings, ActorCritic, PPOSettings, TRPOSettings
from agents.batch import Batch
from agents.learner import StepParams
from envs import GameEnv
from league.config import ModelConfig, parse_config
from league.game_config import resolve_game
from league.rollout import PlayerPool, PolicyFactory, RolloutRequest, rollout
from matchmaking import OpponentSampler, SelfPlayMatchmaker
from tests.fixtures.batches import DISCRETE

CPU = torch.device("cpu")
PARAMS = StepParams(gamma=0.9, lr=0.0)


def _done(lengths: list[int]) -> Batch:
    done = np.zeros(sum(lengths), bool)
    done[np.cumsum(lengths) - 1] = True
    batch = Batch.__new__(Batch)
    batch.done = done
    return batch


def test_chunks_cut_each_stream_and_pad_its_last_chunk():
    rows, real = _done([3, 5, 1]).chunks(2)
    np.testing.assert_array_equal(rows, [[0, 1], [2, 2], [3, 4], [5, 6], [7, 7], [8, 8]])
    np.testing.assert_array_equal(real[:, 1], [True, False, True, True, False, False])
    assert real[:, 0].all()
    rows, real = _done([3, 5, 1]).chunks(1)  # feed-forward: a row per sequence
    np.testing.assert_array_equal(rows[:, 0], np.arange(9))
    assert real.all()


def test_a_sequence_unrolled_at_once_matches_step_by_step_acting():
    torch.manual_seed(0)
    net = ActorCritic(DISCRETE, n_members=2, hidden=(16,), lstm=8, chunk_length=4)
    obs = np.random.default_rng(0).normal(size=(2, 4, *DISCRETE.obs_shape)).astype(np.float32)
    member = np.array([[0] * 4, [1] * 4])
    state = np.zeros((2, net.state_size), np.float32)  # an episode's start
    values = []
    for t in range(4):
        out = net.act(obs[:, t], member[:, t], None, state)
        state = out.state
        values.append(out.value)
    with torch.no_grad():
        _, value = net(
            torch.as_tensor(obs.reshape(8, -1)), torch.as_tensor(member.reshape(8)), None, None, 4
        )
    np.testing.assert_allclose(value.numpy().reshape(2, 4), np.stack(values, 1), atol=1e-6)


def test_a_feed_forward_network_refuses_a_chunk_length():
    with pytest.raises(ValueError, match="chunk_length"):
        ActorCritic(DISCRETE, n_members=1, hidden=(16,), chunk_length=4)


def _memory_batch(chunk_length: int) -> tuple[ActorCritic, Batch]:
    """A recurrent policy and a batch it played in the memory game (8-step episodes)."""
    config = parse_config(
        {
            "game": {
                "name": "memory",
                "env": "examples.memory_game:parallel_env",
                "kwargs": {"length": 8, "team_size": 2},
            }
        },
        source="test",
    )
    spec = resolve_game(config)
    info = spec.info()
    factory = PolicyFactory(
        info, ModelConfig(hidden=[16], recurrent={"size": 8, "chunk_length": chunk_length})
    )
    rng = np.random.default_rng(0)
    pool = PlayerPool(factory, info=info, rng=rng)
    torch.manual_seed(0)
    net = factory("main")
    # A sharper policy than a fresh one (whose actor starts near uniform), so that its
    # choices depend on the state it remembers.
    torch.nn.init.orthogonal_(net.actor[-1].weight, 3.0)
    pool.set_latest("main", net.state_dict(), version=0)
    matchmaker = SelfPlayMatchmaker(info, {"main": OpponentSampler(role="main", p_latest=1.0)})
    envs = [GameEnv(spec, info) for _ in range(3)]
    request = RolloutRequest(matchmaker, min_steps=150, fragment_length=5)
    batch = rollout(envs, pool, request, rng).batches["main"]
    return pool.latest["main"].policy, batch


def _approx_kl_of_an_update_at_lr_zero(learner: str, policy: ActorCritic, batch: Batch) -> float:
    if learner == "ppo":
        ppo = PPO(policy, PPOSettings(epochs=1, minibatch_size=10_000), device=CPU)
        return ppo.update(batch, PARAMS)["losses/approx_kl"]
    trpo = TRPO(policy, TRPOSettings(), device=CPU)
    data = trpo._tensors(batch, np.zeros(len(batch)), np.zeros(len(batch)))
    with torch.no_grad():
        dist = trpo._dist(data, slice(0, data.sequences))
        log_ratio = (ActorCritic.log_prob(dist, data.action) - data.logp)[data.real.bool()]
    return float(((log_ratio.exp() - 1) - log_ratio).mean())  # PPO's approximate KL


@pytest.mark.parametrize("learner", ["ppo", "trpo"])
def test_sequences_reproduce_the_rollouts_log_probabilities(learner):
    # Chunks of 3 steps inside 5-step fragments of 8-step episodes: most sequences start
    # mid-episode, from the state stored when they were played. Before any gradient
    # step the learner's unrolled log-probabilities equal the behaviour ones (ratio 1):
    # the approximate KL of the ratios (PPO's, in an update at lr 0) vanishes.
    policy, batch = _memory_batch(3)
    starts, lengths = batch.stream_bounds()
    assert (batch.truncated.sum() > 0) and (np.abs(batch.state[starts]).sum() > 0)
    assert _approx_kl_of_an_update_at_lr_zero(learner, policy, batch) < 1e-10
    # The stored states matter: zeroing them changes the log-probabilities.
    wiped = batch.select(np.arange(len(batch)))
    wiped.state = np.zeros_like(batch.state)
    assert _approx_kl_of_an_update_at_lr_zero(learner, policy, wiped) > 1e-6


@pytest.mark.parametrize("learner", ["ppo", "trpo"])
def test_a_recurrent_update_learns_and_keeps_padding_out(learner):
    # A real update (lr > 0) moves the weights, stays finite, and counts only real rows.
    policy, batch = _memory_batch(4)
    before = [p.detach().clone() for p in policy.parameters()]
    params = StepParams(gamma=0.9, lr=1e-3)
    if learner == "ppo":
        metrics = PPO(policy, PPOSettings(epochs=2, minibatch_size=32), device=CPU).update(
            batch, params
        )
        assert 0 < metrics["losses/sample_reuse"] <= 2.0
    else:
        metrics = TRPO(policy, TRPOSettings(), device=CPU).update(batch, params)
        assert metrics["losses/kl"] <= TRPOSettings().delta
    assert all(np.isfinite(v) for v in metrics.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters(), strict=True))


def test_acer_refuses_a_recurrent_policy():
    net = ActorCritic(DISCRETE, n_members=1, hidden=(16,), q_head=True, lstm=8, chunk_length=4)
    with pytest.raises(ValueError, match="recurrent"):
        ACER(net, ACERSettings(), device=CPU)
