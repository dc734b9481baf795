"""The league's rules, table by table: who each kind plays, when it freezes, when it resets."""

from __future__ import annotations

import numpy as np
import pytest

from envs import GameInfo
from matchmaking import (
    LEAGUE_EXPLOITER,
    MAIN,
    MAIN_EXPLOITER,
    FreezeRule,
    League,
    LeagueAgent,
    LeagueMatchmaker,
    OpponentSampler,
    PlayerId,
    SelfPlayMatchmaker,
)
from matchmaking.league import (
    alphastar_main_opponent,
    kind_shares,
    league_exploiter_opponent,
    main_exploiter_opponent,
    ready_to_freeze,
    remove_monotonic_suffix,
    resets_after_freeze,
)
from matchmaking.payoff import pfsp_weights

MAIN_LATEST = PlayerId.latest("main")
S = [PlayerId.of_snapshot("main", i) for i in range(6)]


def draws(fn, n: int = 300) -> set[PlayerId]:
    """Every player `fn(rng)` returns over `n` seeded calls."""
    rng = np.random.default_rng(0)
    return {fn(rng) for _ in range(n)}


@pytest.mark.parametrize(
    ("main_rate", "history", "rates", "expected"),
    [
        (0.2, S[:2], [0.5, 0.5], {MAIN_LATEST}),  # wins sometimes: play the main agent
        (0.05, [], [], {MAIN_LATEST}),  # cannot win, but no snapshot to fall back on
        (0.05, S[:2], [0.5, 0.0], {S[0]}),  # variance PFSP: the half-beaten snapshot
        (0.1, S[:3], [0.0, 0.5, 1.0], {S[1]}),  # 0.1 is not above the threshold
        (0.05, S[:2], [0.5, 0.5], {S[0], S[1]}),
    ],
)
def test_main_exploiter_opponent(main_rate, history, rates, expected) -> None:
    got = draws(lambda rng: main_exploiter_opponent(MAIN_LATEST, main_rate, history, rates, rng))
    assert got == expected


@pytest.mark.parametrize(
    ("frozen", "rates", "expected"),
    [
        ([], [], {MAIN_LATEST}),  # nothing frozen yet: the fallback
        (S[:2], [1.0, 0.2], {S[1]}),  # linear capped: a beaten player weighs 0
        (S[:3], [0.0, 0.4, 1.0], {S[0], S[1]}),  # min(0.5, 1 - x): both capped at 0.5
    ],
)
def test_league_exploiter_opponent(frozen, rates, expected) -> None:
    got = draws(lambda rng: league_exploiter_opponent(frozen, rates, rng, fallback=MAIN_LATEST))
    assert got == expected


def test_league_exploiter_capped_weights_are_even() -> None:
    """Two players it beats at most half the time are drawn equally (both capped)."""
    rng = np.random.default_rng(1)
    picks = [
        league_exploiter_opponent(S[:2], [0.0, 0.4], rng, fallback=MAIN_LATEST) for _ in range(4000)
    ]
    assert abs(picks.count(S[0]) / 4000 - 0.5) < 0.03


@pytest.mark.parametrize(
    ("rates", "kept"),
    [
        ([], 0),
        ([0.9, 0.8, 0.5, 0.3], 0),  # newer and newer snapshots are harder: none forgotten
        ([0.5, 0.9, 0.8, 0.6], 2),  # up to the last rise
        ([0.3, 0.6], 2),
        ([0.6], 0),
    ],
)
def test_remove_monotonic_suffix(rates, kept) -> None:
    players, left = remove_monotonic_suffix(S[: len(rates)], rates)
    assert players == S[:kept]
    assert left == rates[:kept]


def _alphastar(
    u, selfplay=0.5, frozen=(), frozen_rates=(), expl=(), expl_rates=(), own=(), own_rates=()
):
    return draws(
        lambda rng: alphastar_main_opponent(
            u, MAIN_LATEST, selfplay, frozen, frozen_rates, expl, expl_rates, own, own_rates, rng
        )
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # u < 0.5: PFSP (squared) over every frozen player.
        ({"u": 0.3, "frozen": S[:2], "frozen_rates": [1.0, 0.0]}, {S[1]}),
        ({"u": 0.3}, {MAIN_LATEST}),  # nothing frozen: self-play
        # 0.5 <= u < 0.65: exploiters it still loses to...
        (
            {"u": 0.55, "expl": S[2:4], "expl_rates": [0.2, 1.0], "own": S[:1], "own_rates": [0.0]},
            {S[2]},
        ),
        # ...else own snapshots it forgot (the monotonic suffix removed)...
        (
            {
                "u": 0.55,
                "expl": S[2:3],
                "expl_rates": [0.5],
                "own": S[:3],
                "own_rates": [0.5, 1.0, 0.8],
            },
            {S[0]},
        ),
        # ...else self-play.
        ({"u": 0.6, "own": S[:2], "own_rates": [0.9, 0.8]}, {MAIN_LATEST}),
        # u >= 0.65: self-play while it scores 0.3 against its latest self...
        ({"u": 0.9, "frozen": S[:2], "frozen_rates": [0.0, 0.0]}, {MAIN_LATEST}),
        # ...else its own snapshots by variance PFSP.
        ({"u": 0.9, "selfplay": 0.2, "own": S[:2], "own_rates": [0.5, 1.0]}, {S[0]}),
    ],
)
def test_alphastar_main_opponent(kwargs, expected) -> None:
    assert _alphastar(**kwargs) == expected


RULE = {"threshold": 0.7, "min_games": 20, "min_steps": 100, "max_steps": 1000}


@pytest.mark.parametrize(
    ("rates", "games", "steps", "ready"),
    [
        ([0.9], [50], 50, False),  # before min_steps: never
        ([0.9], [50], 500, True),  # beats its target
        ([0.7], [50], 500, True),  # exactly the threshold
        ([0.69], [50], 500, False),
        ([0.9, 0.6], [50, 50], 500, False),  # must beat every target
        ([0.9], [10], 500, False),  # too few games to tell
        ([0.1], [50], 1000, True),  # the step budget is spent
        ([], [], 500, False),  # nothing to beat yet
        ([], [], 1000, True),
    ],
)
def test_ready_to_freeze(rates, games, steps, ready) -> None:
    assert ready_to_freeze(rates, games, steps, **RULE) is ready


@pytest.mark.parametrize(
    ("kind", "u", "reset"),
    [
        (MAIN, 0.0, False),
        (MAIN_EXPLOITER, 0.99, True),
        (LEAGUE_EXPLOITER, 0.2, True),
        (LEAGUE_EXPLOITER, 0.25, False),
        (LEAGUE_EXPLOITER, 0.9, False),
    ],
)
def test_resets_after_freeze(kind, u, reset) -> None:
    assert resets_after_freeze(kind, u, league_reset=0.25) is reset


@pytest.mark.parametrize(
    ("counts", "shares", "expected"),
    [
        ({MAIN: 1}, {MAIN: 0.5, MAIN_EXPLOITER: 0.5}, [1.0]),
        ({MAIN: 1, MAIN_EXPLOITER: 1}, {MAIN: 0.5, MAIN_EXPLOITER: 0.25}, [2 / 3, 1 / 3]),
        (
            {MAIN: 1, MAIN_EXPLOITER: 2, LEAGUE_EXPLOITER: 1},
            {MAIN: 0.5, MAIN_EXPLOITER: 0.25, LEAGUE_EXPLOITER: 0.25},
            [0.5, 0.125, 0.125, 0.25],
        ),
    ],
)
def test_kind_shares(counts, shares, expected) -> None:
    agents = [LeagueAgent("main", k, i) for k, n in counts.items() for i in range(n)]
    assert kind_shares(agents, shares) == pytest.approx(expected)


def test_agent_names_and_keys() -> None:
    assert LeagueAgent("main").key == "main"
    assert LeagueAgent("main").player == MAIN_LATEST
    mx = LeagueAgent("prey", MAIN_EXPLOITER, 1)
    assert mx.key == "prey/main_exploiter_1"
    assert str(mx.player) == "prey/main_exploiter_1@latest"
    assert PlayerId.parse("prey/main_exploiter_1@latest") == mx.player
    assert PlayerId.of_learner(mx.key) == mx.player
    with pytest.raises(ValueError, match="kind"):
        LeagueAgent("main", "coach")
    with pytest.raises(ValueError, match="snapshot"):
        PlayerId(role="main", snapshot=3, agent="main_exploiter_0")


# ------------------------------------------------------------------ the League's state


def _league(**kwargs) -> League:
    return League.of_roles(
        ["main"],
        main_exploiters=1,
        league_exploiters=1,
        rule=FreezeRule(win_rate=0.7, min_games=5, min_steps=0, max_steps=10**6, league_reset=0.25),
        **kwargs,
    )


def test_league_freezes_a_main_exploiter_that_beats_the_main_agent() -> None:
    league = _league()
    mx = league.agent("main/main_exploiter_0")
    assert not league.ready(mx, ["main"])  # no games yet
    for score in [1.0] * 8 + [0.0, 0.0]:
        league.record({"a": mx.player, "b": MAIN_LATEST}, "a", score)
    assert league.rates(mx.player, [MAIN_LATEST])[0] > 0.7
    assert league.ready(mx, ["main"])
    league.learned(mx.key, 123)
    frozen = league.add_frozen(mx, 7)
    assert frozen.kind == MAIN_EXPLOITER and frozen.player == PlayerId.of_snapshot("main", 7)
    assert league.lineage[mx.key] == 7
    assert league.after_freeze(mx, np.random.default_rng(0))  # main exploiters always reset
    assert league.steps[mx.key] == 0 and league.resets[mx.key] == 1
    assert league.lineage[mx.key] is None
    assert str(mx.player) not in league.payoff  # its old results described other weights
    assert not league.ready(mx, ["main"])


def test_league_exploiter_needs_every_frozen_player_beaten() -> None:
    league = _league()
    lx = league.agent("main/league_exploiter_0")
    main = league.agent("main")
    for sid in (1, 2):
        league.add_frozen(main, sid)
    assert league.targets(lx, ["main"]) == [S[1], S[2]]
    for _ in range(10):
        league.record({"a": lx.player, "b": S[1]}, "a", 1.0)
    assert not league.ready(lx, ["main"])  # snapshot 2 not played yet
    for _ in range(10):
        league.record({"a": lx.player, "b": S[2]}, "a", 1.0)
    assert league.ready(lx, ["main"])


def test_league_picks_agents_by_share_and_round_trips() -> None:
    league = _league()
    rng = np.random.default_rng(3)
    picks = [league.pick("main", rng).kind for _ in range(4000)]
    assert abs(picks.count(MAIN) / 4000 - 0.5) < 0.03
    assert abs(picks.count(MAIN_EXPLOITER) / 4000 - 0.25) < 0.03
    league.add_frozen(league.agent("main"), 4)
    league.record({"a": MAIN_LATEST, "b": S[4]}, "a", 1.0)
    league.learned("main", 10)
    league.started["main/main_exploiter_0"] = 7
    other = _league()
    other.load_state_dict(league.state_dict())
    assert other.state_dict() == league.state_dict()
    assert other.started["main/main_exploiter_0"] == 7
    assert other.frozen == league.frozen


def test_a_role_with_only_its_main_agent_draws_nothing() -> None:
    league = League.of_roles(["main"])
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    assert league.pick("main", rng) == LeagueAgent("main")
    assert rng.bit_generator.state == before


# ------------------------------------------------------------------ the matchmaker

INFO = GameInfo("g", "aec", ("p0", "p1"), {"p0": ("p0",), "p1": ("p1",)}, True, {})
ASYM = GameInfo("g", "aec", ("pred", "prey"), {"pred": ("pred",), "prey": ("prey",)}, False, {})


def _matchups(matchmaker, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [matchmaker(i, rng) for i in range(n)], rng


def test_main_agents_alone_match_self_play_exactly() -> None:
    """Without exploiters the league matchmaker is the self-play one, draw for draw."""

    def samplers():
        s = OpponentSampler(role="main")
        for sid in range(3):
            s.add(sid)
        return {"main": s}

    plain, rng_a = _matchups(SelfPlayMatchmaker(INFO, samplers(), random_opening=4), 200)
    league = League.of_roles(["main"])
    ours, rng_b = _matchups(
        LeagueMatchmaker(league, SelfPlayMatchmaker(INFO, samplers(), random_opening=4)), 200
    )
    assert ours == plain
    assert rng_a.bit_generator.state == rng_b.bit_generator.state


def test_exploiters_meet_their_opponents() -> None:
    league = _league()
    main = league.agent("main")
    league.add_frozen(main, 1)
    matchmaker = LeagueMatchmaker(
        league, SelfPlayMatchmaker(INFO, {"main": OpponentSampler(role="main")})
    )
    ups, _ = _matchups(matchmaker, 600)
    by_focal: dict[str, list] = {}
    for m in ups:
        by_focal.setdefault(m.players[m.focal].learner, []).append(m)
    assert set(by_focal) == {"main", "main/main_exploiter_0", "main/league_exploiter_0"}
    for m in by_focal["main/main_exploiter_0"]:
        # unplayed: 0.5 > 0.1, so it plays the main agent; both sides learn
        assert m.opponents() == {t: MAIN_LATEST for t in m.opponents()}
        assert m.learn == frozenset(INFO.teams)
    for m in by_focal["main/league_exploiter_0"]:
        # PFSP over the frozen players only; the snapshot's side does not learn
        assert list(m.opponents().values()) == [S[1]]
        assert m.learn == frozenset({m.focal})
    # seats rotate for every kind
    assert {m.focal for m in by_focal["main/main_exploiter_0"]} == {"p0", "p1"}


def test_an_opponent_menu_keeps_each_opponents_chance_and_bounds_a_rollouts_snapshots() -> None:
    """With a menu of 3, a rollout's league exploiter meets at most 3 of the 6 frozen
    players, and over many rollouts each as often as its PFSP weight says."""
    league = _league()
    main, le = league.agent("main"), league.agent("main/league_exploiter_0")
    for sid in range(6):
        league.add_frozen(main, sid)
    for sid, wins in enumerate([20, 15, 10, 5, 0, 0]):  # PFSP: the beaten ones less often
        for g in range(20):
            league.payoff.update(str(le.player), str(S[sid]), float(g < wins))
    expected = pfsp_weights(league.rates(le.player, S), "linear_capped")

    def exploiter_opponents(menu: int, seed: int) -> list[PlayerId]:
        mm = LeagueMatchmaker(
            league, SelfPlayMatchmaker(INFO, {"main": OpponentSampler(role="main")}), menu=menu
        )
        ups, _ = _matchups(mm, 60, seed)
        return [o for m in ups if m.players[m.focal] == le.player for o in m.opponents().values()]

    fresh = [len(set(exploiter_opponents(0, seed))) for seed in range(20)]
    assert max(fresh) > 3  # without a menu a rollout meets more of them
    counts = dict.fromkeys(S, 0)
    for seed in range(600):
        met = exploiter_opponents(3, seed)
        assert len(set(met)) <= 3
        for o in met:
            counts[o] += 1
    total = sum(counts.values())
    got = [counts[p] / total for p in S]
    assert got == pytest.approx(expected, abs=0.03)
    assert got[0] < got[5]  # the beaten snapshot is met least


def test_asymmetric_exploiters_play_the_other_side() -> None:
    league = League.of_roles(["pred", "prey"], main_exploiters=1)
    samplers = {r: OpponentSampler(role=r) for r in ("pred", "prey")}
    ups, _ = _matchups(LeagueMatchmaker(league, SelfPlayMatchmaker(ASYM, samplers)), 400)
    exploiting = [m for m in ups if m.players[m.focal].agent]
    assert {m.players[m.focal].learner for m in exploiting} == {
        "pred/main_exploiter_0",
        "prey/main_exploiter_0",
    }
    for m in exploiting:
        other = next(t for t in ASYM.teams if t != m.focal)
        assert m.players[other] == PlayerId.latest(other)  # the other side's main agent
