from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import rollout_setup
from envs import GameEnv, ShapingParams
from league.config import ModelConfig, parse_config
from league.game_config import resolve_game
from league.rollout import PlayerPool, PolicyFactory, RolloutRequest, rollout
from matchmaking import (
    PFSPSampler,
    PlayerId,
    SelfPlayMatchmaker,
    VersusMatchmaker,
    record_outcome,
)

RANDOM = PlayerId.of_bot("random")
SNAPSHOT_7 = PlayerId.of_snapshot("main", 7)


_setup = rollout_setup


def _check_streams(batch):
    # Streams are contiguous: within a stream the episode id is constant, and
    # every stream ends with done.
    assert batch.done[-1]
    for s, n in zip(*batch.stream_bounds(), strict=True):
        assert (batch.episode[s : s + n] == batch.episode[s]).all()
        assert (batch.team[s : s + n] == batch.team[s]).all()


def test_self_play_vs_latest_trains_both_seats_of_a_turn_based_game():
    info, _, pool, samplers, envs, rng = _setup("connect_four_v3")
    res = rollout(
        envs,
        pool,
        RolloutRequest(SelfPlayMatchmaker(info, samplers), shaping=ShapingParams(), min_steps=300),
        rng,
    )
    batch = res.batches["main"]
    assert len(batch) >= 300
    _check_streams(batch)
    assert set(np.unique(batch.team)) == {0, 1}  # both seats learned from
    assert (batch.version == 3).all()
    # Connect four pays +-1 (or 0) at the end only: each stream's reward sums to its outcome.
    per_stream = np.add.reduceat(
        batch.reward, np.concatenate([[0], np.flatnonzero(batch.done)[:-1] + 1])
    )
    assert set(np.round(per_stream, 6)) <= {-1.0, 0.0, 1.0}
    # Sides swap between episodes: each team is focal in about half of them.
    focal = [e.focal for e in res.episodes]
    assert abs(focal.count("player_0") - focal.count("player_1")) <= 1
    # Every learning step is legal under its mask.
    assert batch.mask[np.arange(len(batch)), batch.action].all()
    # All seats were learning players: the finished episodes' moves are all in the batch
    # (the episodes still under way go on in the next rollout on the same games).
    assert sum(e.length for e in res.episodes) == len(batch) < res.agent_steps


def test_snapshot_opponents_are_not_trained_on():
    info, factory, pool, samplers, envs, rng = _setup("connect_four_v3", p_latest=0.0)
    samplers["main"].add(7)
    pool.set_snapshots({SNAPSHOT_7: factory("main").state_dict()})
    res = rollout(
        envs,
        pool,
        RolloutRequest(SelfPlayMatchmaker(info, samplers), shaping=ShapingParams(), min_steps=200),
        rng,
    )
    batch = res.batches["main"]
    assert all(
        e.opponents() == {t: SNAPSHOT_7 for t in e.players if t != e.focal} for e in res.episodes
    )
    assert all(e.learn == [e.focal] for e in res.episodes)
    # Only the focal side's moves are in the batch, about half of all moves.
    assert len(batch) < res.agent_steps
    for e in res.episodes:
        assert sum(e.result.values()) == pytest.approx(1.0)


def test_bots_take_their_share_of_the_history_draws():
    info, _, _, samplers, _, _ = _setup("connect_four_v3", p_latest=0.8)
    rng = np.random.default_rng(1)
    # Before the first snapshot there is no history, so no bot either.
    matchmaker = SelfPlayMatchmaker(info, samplers, bots={"random": 0.25})
    assert all(
        matchmaker(i, rng).players == {t: PlayerId.latest("main") for t in info.teams}
        for i in range(200)
    )
    samplers["main"].add(7)
    draws = [matchmaker(i, rng) for i in range(10_000)]
    bot_games = [m for m in draws if RANDOM in m.opponents().values()]
    # 80% latest, 20% history of which a quarter is the random bot: 5% of all games.
    assert abs(len(bot_games) / len(draws) - 0.05) < 0.01
    assert abs(sum(SNAPSHOT_7 in m.opponents().values() for m in draws) / len(draws) - 0.15) < 0.015
    for m in bot_games:
        assert m.learn == {m.focal}
        assert list(m.opponents().values()) == [RANDOM]


def test_bot_opponents_are_not_trained_on():
    info, factory, pool, samplers, envs, rng = _setup("connect_four_v3", p_latest=0.0)
    samplers["main"].add(7)
    pool.set_snapshots({SNAPSHOT_7: factory("main").state_dict()})
    matchmaker = SelfPlayMatchmaker(info, samplers, bots={"random": 1.0})
    res = rollout(envs, pool, RolloutRequest(matchmaker, min_steps=200), rng)
    batch = res.batches["main"]
    assert all(e.learn == [e.focal] and RANDOM in e.players.values() for e in res.episodes)
    assert len(batch) < res.agent_steps  # only the focal side's moves
    _check_streams(batch)


def test_asymmetric_simultaneous_game_gives_one_batch_per_role_with_components():
    info, _, pool, samplers, envs, rng = _setup("simple_tag_v3", n_envs=2)
    shaping = ShapingParams(weights={"env": 1.0, "proximity": 0.1}, tau=0.5)
    res = rollout(
        envs, pool, RolloutRequest(SelfPlayMatchmaker(info, samplers), shaping, min_steps=200), rng
    )
    assert set(res.batches) == {"adversary", "agent"}
    for batch in res.batches.values():
        _check_streams(batch)
        assert batch.components.shape[1] == 2
        # Truncated at max_cycles: the last step of each stream bootstraps from V(s_T).
        assert (batch.bootstrap[batch.done] != 0).all()
        assert batch.truncated[batch.done].all() and not batch.truncated[~batch.done].any()
    adv = res.batches["adversary"]
    assert (adv.components[:, 1] <= 0).all()  # chasers' proximity is minus a distance
    assert set(np.unique(adv.member)) == {0, 1, 2}


def test_random_openings_vary_and_are_not_learned_from():
    info, _, pool, samplers, envs, rng = _setup("connect_four_v3", p_latest=1.0)
    matchmaker = SelfPlayMatchmaker(info, samplers, random_opening=4)
    res = rollout(envs, pool, RolloutRequest(matchmaker, min_steps=600), rng)
    batch = res.batches["main"]
    _check_streams(batch)
    assert {e.opening for e in res.episodes} == {0, 1, 2, 3, 4}
    for e in res.episodes:
        rows = batch.episode == e.id
        # Both seats learn (latest vs latest); the opening moves are in no stream.
        assert rows.sum() == e.length - e.opening
        # The first learned move sees exactly the opening's pieces on the board.
        assert batch.obs[rows].sum(axis=(1, 2, 3)).min() == e.opening


def test_opponent_side_openings_leave_the_focal_side_learning_from_its_first_move():
    info, _, pool, samplers, envs, rng = _setup("connect_four_v3", p_latest=1.0)
    matchmaker = SelfPlayMatchmaker(info, samplers, random_opening=5, opening_side="opponents")
    res = rollout(envs, pool, RolloutRequest(matchmaker, min_steps=600), rng)
    batch = res.batches["main"]
    _check_streams(batch)
    assert {e.opening for e in res.episodes} == {0, 1, 2, 3, 4, 5}
    teams = list(info.teams)
    first = teams[0]  # player_0 moves at even env steps, player_1 at odd ones
    for e in res.episodes:
        rows = batch.episode == e.id
        # Only the opponent's opening moves are missing: it moves at the odd steps
        # below `opening` when the focal team moves first, else at the even ones.
        random_moves = e.opening // 2 if e.focal == first else (e.opening + 1) // 2
        assert rows.sum() == e.length - random_moves
        focal_rows = rows & (batch.team == teams.index(e.focal))
        focal_moves = (e.length + 1) // 2 if e.focal == first else e.length // 2
        assert focal_rows.sum() == focal_moves


def test_versus_random_bot_learns_nothing_and_alternates_seats():
    info, _, pool, samplers, envs, rng = _setup("tictactoe_v3")
    res = rollout(
        envs,
        pool,
        RolloutRequest(VersusMatchmaker(info, None, RANDOM), shaping=ShapingParams(), episodes=10),
        rng,
    )
    assert res.batches == {}
    assert len(res.episodes) >= 10
    focal = [e.focal for e in res.episodes]
    assert set(focal) == {"player_1", "player_2"}
    assert all(RANDOM in e.players.values() for e in res.episodes)


def test_three_team_game_books_every_opponent_team_with_its_sampler():
    # Tug of war split into three teams: every team but the focal one draws its own
    # snapshot, and each drawn snapshot must be told the focal team's result (the
    # bookkeeping once went only to the last team's draw).
    config = parse_config(
        {
            "game": {
                "name": "tug3",
                "env": "examples.tug_of_war:TugOfWar",
                "teams": {"a": ["red_0"], "b": ["red_1"], "c": ["blue_0", "blue_1"]},
                "symmetric": True,
            }
        },
        source="test",
    )
    spec = resolve_game(config)
    info = spec.info()
    assert len(info.teams) == 3 and set(info.roles.values()) == {"main"}
    factory = PolicyFactory(info, ModelConfig(hidden=[16]))
    rng = np.random.default_rng(0)
    pool = PlayerPool(factory, info=info, rng=rng)
    pool.set_latest("main", factory("main").state_dict(), version=0)
    sampler = PFSPSampler(role="main", p_latest=0.0, decay=1.0)
    for sid in (3, 4):
        sampler.add(sid)
    pool.set_snapshots(
        {PlayerId.of_snapshot("main", i): factory("main").state_dict() for i in (3, 4)}
    )
    envs = [GameEnv(spec, info) for _ in range(3)]
    res = rollout(
        envs, pool, RolloutRequest(SelfPlayMatchmaker(info, {"main": sampler}), episodes=12), rng
    )
    expected = {3: 0, 4: 0}
    for e in res.episodes:
        assert len(e.opponents()) == 2
        for player in e.opponents().values():
            expected[player.snapshot] += 1
        record_outcome({"main": sampler}, e.opponents(), e.result[e.focal])
    played = {sid: sampler.payoff.games("main@latest", f"main@{sid}") for sid in (3, 4)}
    assert played == pytest.approx(expected)
    assert sum(expected.values()) == 2 * len(res.episodes)


def test_the_snapshot_cache_loads_evicted_networks_with_each_snapshots_own_weights():
    info, factory, _, _, _, rng = _setup("connect_four_v3")
    built = []

    def counting(role):
        built.append(role)
        return factory(role)

    state = factory("main").state_dict()  # each snapshot its own weights: all shifted by i
    weights = {
        PlayerId.of_snapshot("main", i): {k: v + i for k, v in state.items()} for i in (1, 2, 3)
    }
    pool = PlayerPool(counting, info=info, rng=rng, cache_size=2)
    pool.set_snapshots(weights)
    for sid in (1, 2, 3, 1, 2, 3):  # every get past the second evicts the least recent
        player = PlayerId.of_snapshot("main", sid)
        actor = pool.get(player, "main")
        assert actor.version == sid
        for name, value in actor.policy.state_dict().items():
            assert torch.equal(value, weights[player][name]), (sid, name)
    assert len(built) == 2  # the third snapshot and every later miss reuse a network
    pool.set_snapshots({})  # forgotten snapshots give their networks back too
    pool.set_snapshots(weights)
    assert pool.get(PlayerId.of_snapshot("main", 1), "main").version == 1
    assert len(built) == 2
