"""Rollouts as fixed-length fragments: episodes go on across rollouts, streams ship in
pieces that bootstrap from the next observation's value, episodes are booked once."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np
import pytest

from agents import Batch
from conftest import rollout_setup
from envs import GameEnv
from league.rollout import Games, RolloutRequest, rollout
from league.training.loop import drop_stale
from matchmaking import OpponentSampler, PlayerId, SelfPlayMatchmaker


def _setup(name: str, n_envs: int, *, p_latest: float = 1.0, kwargs=None):
    """`rollout_setup` with the env copies as one `Games`, latest against latest."""
    info, factory, pool, samplers, envs, rng = rollout_setup(
        name, n_envs, p_latest=p_latest, kwargs=kwargs
    )
    return info, factory, pool, samplers, Games(envs), rng


def _rollouts(info, pool, samplers, games, rng, *, calls, min_steps, fragment_length):
    """`calls` learning rollouts on the same games, the policy version bumped each time;
    returns each call's result."""
    results = []
    for call in range(calls):
        for learner, player in pool.latest.items():
            pool.set_latest(learner, player.policy.state_dict(), version=call)
        request = RolloutRequest(
            SelfPlayMatchmaker(info, samplers),
            min_steps=min_steps,
            fragment_length=fragment_length,
        )
        results.append(rollout(games, pool, request, rng))
    return results


def _fragments(results, role):
    """(episode, team, member) -> that agent's fragments in shipping order, each as
    (call index, Batch of its rows)."""
    out = defaultdict(list)
    for call, res in enumerate(results):
        batch = res.batches.get(role)
        if batch is None:
            continue
        starts, lengths = batch.stream_bounds()
        for s, n in zip(starts, lengths, strict=True):
            rows = np.arange(s, s + n)
            key = (int(batch.episode[s]), int(batch.team[s]), int(batch.member[s]))
            out[key].append((call, batch.select(rows)))
    return out


@pytest.mark.parametrize(
    ("game", "role", "n_envs"),
    [("connect_four_v3", "main", 2), ("simple_tag_v3", "adversary", 2)],
)
def test_a_cut_fragment_bootstraps_from_the_next_fragments_first_value(game, role, n_envs):
    info, _, pool, samplers, games, rng = _setup(game, n_envs)
    length = 3
    results = _rollouts(
        info, pool, samplers, games, rng, calls=12, min_steps=24, fragment_length=length
    )
    finished = {e.id for r in results for e in r.episodes}
    cut = 0
    for (episode, _, _), pieces in _fragments(results, role).items():
        for (_, piece), (_, following) in itertools.pairwise(pieces):
            # A cut fragment is full, marked truncated, and bootstraps from the value the
            # policy gave the observation its agent acted on next: the next fragment's first.
            assert len(piece) == length
            assert piece.truncated[-1] and piece.done[-1] and not piece.done[:-1].any()
            assert piece.bootstrap[-1] == pytest.approx(following.value[0])
            cut += 1
        *_, (_, last) = pieces
        if episode in finished:
            assert len(last) <= length
            if game == "connect_four_v3":  # the game ended: nothing to bootstrap from
                assert not last.truncated[-1] and last.bootstrap[-1] == 0.0
            else:  # simple tag stops at its time limit: V(final observation)
                assert last.truncated[-1] and last.bootstrap[-1] != 0.0
    assert cut > 10


def test_the_next_fragment_goes_on_with_the_same_episode_and_board():
    # Connect four's board only fills up: within one agent's fragments the pieces on
    # the board grow from fragment to fragment, so they are one game, not a restart.
    info, _, pool, samplers, games, rng = _setup("connect_four_v3", 1)
    results = _rollouts(info, pool, samplers, games, rng, calls=10, min_steps=2, fragment_length=2)
    for pieces in _fragments(results, "main").values():
        pieces_on_board = np.concatenate([p.obs.sum(axis=(1, 2, 3)) for _, p in pieces])
        assert (np.diff(pieces_on_board) == 2).all()  # each side moved once in between


def test_an_episode_spanning_three_rollouts_is_booked_once_with_its_outcome():
    info, _, pool, samplers, games, rng = _setup("connect_four_v3", 1)
    results = _rollouts(info, pool, samplers, games, rng, calls=40, min_steps=2, fragment_length=2)
    episodes = [e for r in results for e in r.episodes]
    ids = [e.id for e in episodes]
    assert len(ids) == len(set(ids)) >= 2  # each booked once, in the rollout where it ended
    fragments = _fragments(results, "main")
    spans = []
    for e in episodes:
        rows = [(c, b) for key, pieces in fragments.items() if key[0] == e.id for c, b in pieces]
        spans.append(len({call for call, _ in rows}))
        # Every move of the episode was shipped, once, across its rollouts ...
        assert sum(len(b) for _, b in rows) == e.length
        # ... and the env rewards the fragments carry add up to the booked returns,
        # from which the outcome follows.
        for team_index, team in enumerate(info.teams):
            got = sum(float(b.components[b.team == team_index, 0].sum()) for _, b in rows)
            assert got == pytest.approx(e.returns[team])
        winner = max(e.returns, key=e.returns.get)
        assert e.result[winner] in (0.5, 1.0)
    assert max(spans) >= 3


def test_an_uncapped_long_game_returns_after_its_steps_not_its_episodes():
    # Simple tag with a 100000-cycle limit: no episode ends, yet each learning rollout
    # stops once it has shipped its steps (at most one fragment per stream beyond them).
    info, _, pool, samplers, games, rng = _setup("simple_tag_v3", 2, kwargs={"max_cycles": 100_000})
    streams = 2 * len(info.agents)
    results = _rollouts(info, pool, samplers, games, rng, calls=3, min_steps=64, fragment_length=8)
    for res in results:
        assert res.episodes == []
        assert 64 <= res.learn_steps <= 64 + streams * 8
        assert res.env_steps <= 64


def test_evaluation_leaves_no_episode_under_way_and_needs_idle_games():
    info, _, pool, samplers, games, rng = _setup("connect_four_v3", 2)
    _rollouts(info, pool, samplers, games, rng, calls=1, min_steps=8, fragment_length=4)
    assert games.running  # the learning rollout left its episodes under way
    with pytest.raises(ValueError, match="no episode under way"):
        rollout(games, pool, RolloutRequest(SelfPlayMatchmaker(info, samplers), episodes=2), rng)
    fresh = Games([GameEnv(games.envs[0].spec, info) for _ in range(2)])
    res = rollout(fresh, pool, RolloutRequest(SelfPlayMatchmaker(info, samplers), episodes=3), rng)
    assert len(res.episodes) >= 3 and not fresh.running


def test_an_episode_whose_snapshot_left_the_pool_is_abandoned_not_booked():
    info, factory, pool, samplers, games, rng = _setup("connect_four_v3", 4, p_latest=0.0)
    snapshot = PlayerId.of_snapshot("main", 7)
    samplers["main"].add(7)
    pool.set_snapshots({snapshot: factory("main").state_dict()})
    first = _rollouts(info, pool, samplers, games, rng, calls=1, min_steps=4, fragment_length=2)
    under_way = len(games.running)
    assert under_way and all(snapshot in r.matchup.players.values() for r in games.running.values())
    pool.set_snapshots({})  # the opponent pool evicted it
    latest_only = {"main": OpponentSampler(role="main", p_latest=1.0)}
    (res,) = _rollouts(info, pool, latest_only, games, rng, calls=1, min_steps=4, fragment_length=2)
    assert res.abandoned == under_way
    assert all(snapshot not in e.players.values() for e in res.episodes)
    assert first[0].abandoned == 0


def _batch(versions: list[list[int]]) -> Batch:
    """A batch of streams whose steps were acted by the given policy versions."""
    n = sum(len(v) for v in versions)
    done = np.zeros(n, dtype=bool)
    done[np.cumsum([len(v) for v in versions]) - 1] = True
    z = np.zeros(n, dtype=np.float32)
    return Batch(
        obs=np.zeros((n, 2), np.float32),
        mask=np.ones((n, 2), bool),
        member=np.zeros(n, np.int64),
        action=np.zeros(n, np.int64),
        logp=z,
        value=z,
        probs=np.zeros((n, 2), np.float32),
        reward=z,
        components=np.zeros((n, 1), np.float32),
        done=done,
        truncated=np.zeros(n, bool),
        bootstrap=z,
        version=np.array([v for s in versions for v in s], np.int64),
        team=np.zeros(n, np.int64),
        episode=np.repeat(np.arange(len(versions)), [len(v) for v in versions]),
        state=np.zeros((n, 0), np.float32),
    )


def test_drop_stale_drops_whole_fragments_by_their_oldest_step():
    batch = _batch([[5, 5], [3, 4, 5], [4], [2]])
    kept, dropped = drop_stale(batch, oldest=4)
    assert dropped == 2
    assert kept.version.tolist() == [5, 5, 4]
    assert kept.done.tolist() == [False, True, True]
    assert drop_stale(batch, oldest=2) == (batch, 0)
    assert drop_stale(batch, oldest=6) == (None, 4)
