"""Teams inferred from the rewards random play pays (`envs.teams`), checked against games
whose teams are known: Hanabi's players share one score; in simple_crypto alice and bob
are partners against eve."""

from __future__ import annotations

from league.config import parse_config
from league.game_config import pin_teams, resolve_game


def _resolve(env: str, **game):
    config = parse_config({"game": {"name": "g", "env": env, **game}}, source="t.yaml")
    return config, resolve_game(config, source="t.yaml")


def test_hanabi_players_share_one_score_so_they_are_one_cooperative_team():
    _, spec = _resolve("pettingzoo.classic.hanabi_v5:env")
    info = spec.info()
    assert info.teams == {"player": ("player_0", "player_1")}
    evidence = spec.team_evidence
    assert evidence.alike == [["player_0", "player_1"]]
    assert evidence.source == "rewards" and evidence.warnings == []
    assert min(evidence.paid.values()) >= 3


def test_simple_crypto_alice_and_bob_are_partners_against_eve():
    config, spec = _resolve("mpe2.simple_crypto_v3:parallel_env")
    info = spec.info()
    assert info.teams == {"eve": ("eve_0",), "bob_alice": ("bob_0", "alice_0")}
    assert not info.symmetric and set(info.roles.values()) == {"eve", "bob_alice"}
    assert spec.team_evidence.alike == [["bob_0", "alice_0"]]
    # What a run saves: the teams inferred now, so a resumed run or an eval keeps them.
    pinned = pin_teams(config, spec)
    assert pinned.game.teams == {"eve": ["eve_0"], "bob_alice": ["bob_0", "alice_0"]}
    again = resolve_game(pinned, source="t.yaml")
    assert again.team_evidence is None and again.info().teams == info.teams


def test_rewards_join_agents_paid_alike_and_keep_opponents_apart():
    # A speaker and a listener paid one shared reward: one team, whatever their names.
    assert _resolve("mpe2.simple_speaker_listener_v4:parallel_env")[1].info().teams == {
        "speaker_listener": ("speaker_0", "listener_0")
    }
    # Opponents are paid differently; team-mates paid differently (spread's collision
    # penalties, simple_adversary's) stay together by name.
    known = {
        "pettingzoo.classic.connect_four_v3:env": [("player_0",), ("player_1",)],
        "mpe2.simple_spread_v3:parallel_env": [("agent_0", "agent_1", "agent_2")],
        "mpe2.simple_adversary_v3:parallel_env": [("adversary_0",), ("agent_0", "agent_1")],
    }
    for env, teams in known.items():
        assert list(_resolve(env)[1].info().teams.values()) == teams, env


def test_thin_evidence_is_named_and_the_config_overrides_it():
    _, quiet = _resolve("tests.fixtures.odd_games:unpaid")
    assert quiet.info().teams == {"red": ("red_0", "red_1"), "blue": ("blue_0", "blue_1")}
    assert quiet.team_evidence.source == "names"
    assert "paid no reward" in quiet.team_evidence.warnings[0]
    _, rare = _resolve("tests.fixtures.odd_games:paid_alike_once")
    (doubt,) = rare.team_evidence.warnings
    assert "'red' and 'blue' were never paid differently" in doubt and "game.teams" in doubt
    _, given = _resolve(
        "tests.fixtures.odd_games:paid_alike_once", teams={"all": ["red_.*", "blue_.*"]}
    )
    assert given.team_evidence is None
    assert given.info().teams == {"all": ("red_0", "red_1", "blue_0", "blue_1")}
