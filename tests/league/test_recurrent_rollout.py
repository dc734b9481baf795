"""Recurrent policies in the rollout loop: each agent's state carried, reset, stored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents import Batch
from envs import GameEnv
from league.config import ModelConfig, parse_config
from league.game_config import resolve_game
from league.play.match import play_match
from league.rollout import PlayerPool, PolicyFactory, RolloutRequest, rollout
from matchmaking import OpponentSampler, PlayerId, SelfPlayMatchmaker
from tests.conftest import rollout_setup

LSTM = 8


def _memory(team_size: int = 1, length: int = 5):
    """The memory example game, a recurrent pool (version 0) and its matchmaker."""
    config = parse_config(
        {
            "game": {
                "name": "memory",
                "env": "examples.memory_game:parallel_env",
                "kwargs": {"length": length, "team_size": team_size},
            }
        },
        source="test",
    )
    spec = resolve_game(config)
    info = spec.info()
    return spec, info, *_recurrent_pool(info)


def _recurrent_pool(info):
    factory = PolicyFactory(
        info, ModelConfig(hidden=[16], recurrent={"size": LSTM, "chunk_length": 4})
    )
    rng = np.random.default_rng(0)
    pool = PlayerPool(factory, info=info, rng=rng)
    torch.manual_seed(0)
    roles = sorted(set(info.roles.values()))
    for role in roles:
        pool.set_latest(role, factory(role).state_dict(), version=0)
    samplers = {role: OpponentSampler(role=role, p_latest=1.0) for role in roles}
    return pool, SelfPlayMatchmaker(info, samplers), rng


def _replayed_states(policy, batch: Batch, first: int, n: int, start: np.ndarray) -> np.ndarray:
    """The states the policy reaches stepping through rows first..first+n-1 from `start`."""
    states = [start]
    with torch.no_grad():
        for row in range(first, first + n - 1):
            _, new = policy.core(
                torch.as_tensor(batch.obs[row : row + 1]),
                torch.as_tensor(batch.member[row : row + 1]),
                torch.as_tensor(states[-1][None]),
            )
            states.append(new[0].numpy())
    return np.stack(states)


def _check_chains(policy, batch: Batch) -> int:
    """Every stream (one agent's steps, whole episodes here) starts from the zero state
    and each stored state is the one the policy reached from the step before. Returns
    how many streams were checked."""
    starts, lengths = batch.stream_bounds()
    for first, n in zip(starts.tolist(), lengths.tolist(), strict=True):
        zero = np.zeros(policy.state_size, np.float32)
        np.testing.assert_array_equal(batch.state[first], zero)  # reset at episode start
        replayed = _replayed_states(policy, batch, first, n, zero)
        np.testing.assert_allclose(batch.state[first : first + n], replayed, atol=1e-6)
    return len(starts)


@pytest.mark.parametrize("team_size", [1, 2])
def test_states_are_carried_per_agent_and_reset_at_each_episode(team_size):
    # One env copy plays two whole episodes of 5 steps: each agent's stored states must
    # start at zero in each episode and chain step by step (simultaneous moves; teams of
    # two share one network and keep a state per member).
    spec, info, pool, matchmaker, rng = _memory(team_size=team_size)
    games = [GameEnv(spec, info)]
    res = rollout(games, pool, RolloutRequest(matchmaker, episodes=2), rng)
    batch = res.batches["main"]
    assert len(res.episodes) == 2 and batch.state.shape == (len(batch), 2 * LSTM)
    assert _check_chains(pool.latest["main"].policy, batch) == 2 * 2 * team_size
    # something was remembered: the state is not zero after the first step
    assert np.abs(batch.state[~np.r_[True, batch.done[:-1]]]).min(axis=1).max() > 0


def test_turn_based_states_advance_only_on_the_agents_own_turns():
    # Tic-tac-toe: each player's state steps only when it moves; the stored states of
    # each player's stream chain through its own observations alone.
    info, _, _, _, envs, _ = rollout_setup("tictactoe_v3", n_envs=3)
    pool, matchmaker, rng = _recurrent_pool(info)
    res = rollout(envs, pool, RolloutRequest(matchmaker, episodes=6), rng)
    batch = res.batches["main"]
    assert _check_chains(pool.latest["main"].policy, batch) == 12


def test_a_fragment_carries_the_state_it_starts_from():
    # Fragments of 2 steps cut 5-step episodes: a fragment that starts inside an episode
    # stores the state its agent had reached there, and its bootstrap value is the one
    # the policy computed from that state.
    spec, info, pool, matchmaker, rng = _memory(team_size=1, length=5)
    games = [GameEnv(spec, info) for _ in range(2)]
    request = RolloutRequest(matchmaker, min_steps=40, fragment_length=2)
    batch = rollout(games, pool, request, rng).batches["main"]
    policy = pool.latest["main"].policy
    starts, lengths = batch.stream_bounds()
    # the fragments of one agent (episode, team) in shipping order: replay them as one
    chains: dict[tuple[int, int], list[int]] = {}
    for first in starts.tolist():
        chains.setdefault((int(batch.episode[first]), int(batch.team[first])), []).append(first)
    mid_episode = 0
    for firsts in chains.values():
        rows = np.concatenate([np.arange(f, f + lengths[starts == f][0]) for f in firsts])
        whole = batch.select(rows)
        whole.done[:] = False
        zero = np.zeros(policy.state_size, np.float32)
        replayed = _replayed_states(policy, whole, 0, len(rows), zero)
        np.testing.assert_allclose(whole.state, replayed, atol=1e-6)
        mid_episode += len(firsts) - 1
    assert mid_episode > 0
    cut = np.flatnonzero(batch.truncated)
    assert len(cut) > 0
    # the bootstrap of a cut fragment is the value of the next fragment's first step
    for end in cut.tolist():
        following = [f for f in starts.tolist() if f > end]
        key = (batch.episode[end], batch.team[end])
        nxt = [f for f in following if (batch.episode[f], batch.team[f]) == key]
        if nxt:
            assert batch.bootstrap[end] == pytest.approx(batch.value[nxt[0]], abs=1e-6)


class _Spy:
    """A recurrent actor that records the state each call was handed."""

    version = 0

    def __init__(self, player) -> None:
        self.player, self.state_size, self.calls = player, player.state_size, []

    def act(self, obs, member, mask, state=None):
        out = self.player.act(obs, member, mask, state)
        self.calls.append((None if state is None else state.copy(), out.state.copy()))
        return out


def _assert_carried(calls, per_episode: int) -> None:
    """Calls of one agent: None (an episode's start) first, then each the last output."""
    for k, (given, _) in enumerate(calls):
        if k % per_episode == 0:
            assert given is None or not given.any()
        else:
            np.testing.assert_array_equal(given, calls[k - 1][1])


def test_play_match_carries_each_agents_state():
    # `league play` and replays play one match through play_match: each agent's state
    # starts empty and is handed back on its next step; a new match starts afresh.
    spec, info, pool, _, _ = _memory(team_size=1, length=6)
    latest, snap = PlayerId.latest("main"), PlayerId.of_snapshot("main", 7)
    pool.set_snapshots({snap: pool.latest["main"].policy.state_dict()})
    spies = {"red": _Spy(pool.get(latest, "main")), "blue": _Spy(pool.get(snap, "main"))}
    env = GameEnv(spec, info)
    for seed in (3, 4):
        assert play_match(env, spies, {"red": latest, "blue": snap}, seed=seed).length == 6
    for spy in spies.values():
        assert len(spy.calls) == 12
        _assert_carried(spy.calls, per_episode=6)


def test_a_snapshot_opponent_in_the_rollout_keeps_a_state_per_agent():
    # The learner against a recurrent snapshot: the snapshot's agents get their states
    # carried as the learner's do (it learns nothing, so only its calls show it).
    spec, info, pool, _, rng = _memory(team_size=1, length=4)
    snap = PlayerId.of_snapshot("main", 7)
    pool.set_snapshots({snap: pool.latest["main"].policy.state_dict()})
    spy = _Spy(pool.get(snap, "main"))
    pool._cache[snap] = spy  # the pool hands out the spy for the snapshot
    sampler = OpponentSampler(role="main", p_latest=0.0)
    sampler.add(7)
    matchmaker = SelfPlayMatchmaker(info, {"main": sampler})
    res = rollout([GameEnv(spec, info)], pool, RolloutRequest(matchmaker, episodes=3), rng)
    assert len(res.episodes) == 3 and len(spy.calls) == 12  # one agent, 4 steps, 3 games
    _assert_carried(spy.calls, per_episode=4)
