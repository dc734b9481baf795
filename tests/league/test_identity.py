"""One name for every player: `PlayerId`'s text form, the same in match rows, payoff
tables and checkpoints, and read back to the same player from each."""

from __future__ import annotations

from league.store import Registry, load_checkpoint, save_checkpoint
from matchmaking import HUMAN, League, PFSPSampler, PlayerId, record_outcome

PLAYERS = [
    PlayerId.latest("main"),
    PlayerId.latest("main", "main_exploiter_0"),
    PlayerId.of_snapshot("main", 3),
    PlayerId.of_bot("scripted"),
    PlayerId.of_bot("mcts:50"),
    PlayerId.of_bot(HUMAN),
]


def test_every_player_reads_back_from_its_name():
    for player in PLAYERS:
        assert PlayerId.parse(str(player)) == player
    assert PlayerId.latest("main").is_main
    assert not PlayerId.latest("main", "main_exploiter_0").is_main
    assert not PlayerId.of_snapshot("main", 3).is_main


def test_the_registry_the_payoff_tables_and_a_checkpoint_keep_one_name(tmp_path):
    me = PlayerId.latest("main")
    snapshot = PlayerId.of_snapshot("main", 3)
    # A match row, as an episode writes it.
    with Registry(tmp_path) as reg:
        reg.add_matches(
            [
                {
                    "iteration": 1,
                    "kind": "train",
                    "participants": sorted({str(me), str(snapshot)}),
                    "sides": {"0": str(me), "1": str(snapshot)},
                    "result": {"0": 1.0, "1": 0.0},
                    "length": 9,
                }
            ]
        )
        row = reg.matches()[0]
    assert {PlayerId.parse(p) for p in row["participants"]} == {me, snapshot}
    assert {t: PlayerId.parse(p) for t, p in row["sides"].items()} == {"0": me, "1": snapshot}

    # The league's and a PFSP pool's payoff tables, through a checkpoint.
    league = League.of_roles(["main"], main_exploiters=1)
    sampler = PFSPSampler(role="main")
    sampler.add(3)
    for score in (1.0, 0.5, 1.0):
        league.record({"0": me, "1": snapshot}, "0", score)
        record_outcome({"main": sampler}, {"1": snapshot}, score)
    assert set(league.payoff.players) == set(sampler.payoff.players) == {str(me), str(snapshot)}
    save_checkpoint(tmp_path / "ckpt.safetensors", {
        "league": league.state_dict(), "sampler": sampler.state_dict()})  # fmt: skip
    state = load_checkpoint(tmp_path / "ckpt.safetensors")
    league_back = League.of_roles(["main"], main_exploiters=1)
    league_back.load_state_dict(state["league"])
    sampler_back = PFSPSampler(role="main")
    sampler_back.load_state_dict(state["sampler"])
    assert league_back.rates(me, [snapshot]) == league.rates(me, [snapshot])
    assert sampler_back.win_rates() == sampler.win_rates() == {3: league.rates(me, [snapshot])[0]}
    assert set(sampler_back.payoff.players) == {str(me), str(snapshot)}


def test_a_pfsp_pool_saved_before_players_had_one_name_still_loads():
    sampler = PFSPSampler(role="main")
    sampler.add(3)
    sampler.update(PlayerId.of_snapshot("main", 3), 1.0)
    state = sampler.state_dict()
    # The old form: `latest` and the bare snapshot id.
    old = {"latest": "latest", "main@latest": "latest", "main@3": "3"}
    state["payoff"]["pairs"] = [[old[a], old[b], *rest] for a, b, *rest in state["payoff"]["pairs"]]
    back = PFSPSampler(role="main")
    back.load_state_dict(state)
    assert back.win_rates() == sampler.win_rates()
