"""Run the real `league` CLI on tiny budgets, as a user would."""

from __future__ import annotations

import pytest

from conftest import CONFIGS, cli_json, run_cli, tiny_overrides, train_then_kill
from league.store import Registry

pytestmark = pytest.mark.slow

GAMES = {
    "connect_four": "connect_four_v3",
    "tictactoe": "tictactoe_v3",
    "kuhn_poker": "kuhn_poker",
    "leduc_poker": "leduc_poker",
    "simple_tag": "simple_tag_v3",
    "volleyball_pong": "volleyball_pong_v3",
}


@pytest.mark.parametrize("config", sorted(GAMES))
def test_train_every_builtin_game_on_a_tiny_budget(config, tmp_path):
    sets = [arg for o in tiny_overrides(config) for arg in ("--set", o)]
    summary = cli_json("train", str(CONFIGS / f"{config}.yaml"), "--runs-dir", str(tmp_path), *sets)
    assert summary["game"] == GAMES[config]
    assert summary["iterations"] == 2
    assert summary["env_steps"] > 0
    assert summary["snapshots"] >= 2
    run_dir = tmp_path / config
    assert (run_dir / "checkpoint.safetensors").exists()
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
        for snap in reg.snapshots():
            assert reg.load_snapshot(snap["id"])  # hash verified on load
        assert reg.matches("train")


def test_resume_from_the_cli_continues_the_run(tmp_path):
    sets = [arg for o in tiny_overrides("tictactoe") for arg in ("--set", o)]
    first = cli_json(
        "train", str(CONFIGS / "tictactoe.yaml"), "--runs-dir", str(tmp_path), "--name", "t", *sets
    )
    second = cli_json("train", "--resume", str(tmp_path / "t"), "--iterations", "3")
    assert first["iterations"] == 2 and second["iterations"] == 3
    assert second["env_steps"] > first["env_steps"]
    assert second["episodes"] > first["episodes"]


def test_a_short_run_ends_with_a_snapshot_that_latest_names(tmp_path):
    # Three iterations, snapshots every ten: the end of the run registers the final
    # policy, so `latest` is the policy the run ended with.
    sets = [arg for o in tiny_overrides("tictactoe") for arg in ("--set", o)]
    sets += ["--set", "train.snapshot_every=10", "--set", "train.rating_games=0"]
    summary = cli_json(
        "train", "tictactoe", "--runs-dir", str(tmp_path), "--name", "t", "--iterations", "3", *sets
    )
    assert summary["snapshots"] == 1 and summary["iterations"] == 3
    with Registry(tmp_path / "t") as reg:
        assert reg.latest_snapshot()["iteration"] == 3
    out = cli_json("eval", "--run", str(tmp_path / "t"), "latest", "random", "--games", "4")
    assert out["a"] == f"main@{summary['last_snapshot']['main']}" and out["games"] == 4
    # Resumed and stopped again at once: no second snapshot of the same policy.
    again = cli_json("train", "--resume", str(tmp_path / "t"), "--iterations", "3")
    assert again["snapshots"] == 1


def test_a_game_name_picks_its_shipped_config_and_the_output_fits_a_log(tmp_path):
    sets = [arg for o in tiny_overrides("tictactoe") for arg in ("--set", o)]
    proc = run_cli("train", "tictactoe_v3", "--runs-dir", str(tmp_path), *sets)
    assert (tmp_path / "tictactoe" / "config.yaml").exists()
    # Not a terminal: plain progress lines, then the summary; numbers read as numbers.
    assert "iter 2/2" in proc.stderr
    assert "0.9828571428571429" not in proc.stdout and "{'main'" not in proc.stdout
    assert "main: 2" in proc.stdout


def test_a_game_with_discrete_observations_trains(tmp_path):
    config = tmp_path / "rps.yaml"
    config.write_text(
        "game: {name: rps, env: 'pettingzoo.classic.rps_v2:parallel_env'}\n"
        "train: {workers: 0, iterations: 2, steps_per_iteration: 64, envs: 2}\n"
        "learner: {ppo: {minibatch_size: 32, epochs: 1}}\n"
    )
    summary = cli_json("train", str(config), "--runs-dir", str(tmp_path))
    assert summary["iterations"] == 2 and summary["snapshots"] == 1


def test_games_lists_the_builtin_games():
    out = cli_json("games")
    games = {**GAMES, "battle": "battle_v4"}  # battle trains in tests/e2e/test_battle_cli.py
    names = {g["name"] for g in out["games"]}
    assert names == set(games.values())
    # Each game with the config name `league train` takes (and it takes either).
    assert {g["name"]: g["config"] for g in out["games"]} == {v: k for k, v in games.items()}
    assert (
        "connect_four_v3" in run_cli("games").stdout and "connect_four " in run_cli("games").stdout
    )
    assert "tictactoe, volleyball_pong" in " ".join(run_cli("train", "--help").stdout.split())
    tag = next(g for g in out["games"] if g["name"] == "simple_tag_v3")
    assert tag["symmetric"] is False and tag["api"] == "parallel" and tag["bots"] == ["scripted"]
    four = next(g for g in out["games"] if g["name"] == "connect_four_v3")
    assert four["bots"] == ["scripted", "tactical"]


def test_config_errors_name_file_key_and_value(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("game: {name: connect_four_v3}\ntrain: {envs: 0, colour: red}\n")
    proc = run_cli("train", str(bad), "--runs-dir", str(tmp_path), check=False)
    assert proc.returncode == 2
    assert str(bad) in proc.stderr
    assert "train.colour" in proc.stderr
    assert "train.envs" in proc.stderr and "0" in proc.stderr
    assert not (tmp_path / "bad").exists()  # nothing created for a bad config
    proc = run_cli(
        "train",
        str(CONFIGS / "tictactoe.yaml"),
        "--set",
        "gamma.start=2",
        "--runs-dir",
        str(tmp_path),
        check=False,
    )
    assert proc.returncode == 2 and "gamma.start" in proc.stderr


def test_resume_of_a_missing_run_is_a_clear_error(tmp_path):
    proc = run_cli("train", "--resume", str(tmp_path / "nope"), check=False)
    assert proc.returncode == 2
    assert "not a run directory" in proc.stderr


def test_tampered_newest_snapshot_is_refused_on_resume(tmp_path):
    # The newest snapshot is what the checkpoint needs: it blocks, naming the file. (An
    # older one is quarantined instead: tests/e2e/test_user_faults.py.)
    sets = [arg for o in tiny_overrides("tictactoe") for arg in ("--set", o)]
    cli_json(
        "train", str(CONFIGS / "tictactoe.yaml"), "--runs-dir", str(tmp_path), "--name", "t", *sets
    )
    with Registry(tmp_path / "t", read_only=True) as reg:
        newest = tmp_path / "t" / reg.snapshots()[-1]["file"]
    data = bytearray(newest.read_bytes())
    data[-1] ^= 0xFF
    newest.write_bytes(bytes(data))
    proc = run_cli("train", "--resume", str(tmp_path / "t"), "--iterations", "3", check=False)
    assert proc.returncode == 2
    assert newest.name in proc.stderr and "restore" in proc.stderr


@pytest.mark.ray
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_sigkill_of_the_driver_then_resume_loses_at_most_a_checkpoint(
    tmp_path, ray_cluster, asynchronous
):
    # Fragments of 4 steps: every iteration leaves episodes under way, which the kill
    # loses and the resumed run replaces with fresh ones.
    run_dir = tmp_path / "k"
    args = [
        "train",
        str(CONFIGS / "connect_four.yaml"),
        "--runs-dir",
        str(tmp_path),
        "--name",
        "k",
        "--set",
        f"train.async={str(asynchronous).lower()}",
        "--set",
        "train.fragment_length=4",
        "--address",
        ray_cluster,
        "--workers",
        "2",
        "--iterations",
        "1000",
        "--set",
        "train.steps_per_iteration=256",
        "--set",
        "train.envs=4",
        "--set",
        "train.snapshot_every=1",
        "--set",
        "train.checkpoint_every=2",
        "--set",
        "train.eval_every=1",
        "--set",
        "train.eval_episodes=2",
    ]
    saved = train_then_kill(args, run_dir, at_iteration=4)["counters"]
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
    target = saved["iteration"] + 2
    resumed = cli_json(
        "train",
        "--resume",
        str(run_dir),
        "--iterations",
        str(target),
        "--address",
        ray_cluster,
        "--workers",
        "2",
    )
    assert resumed["iterations"] == target
    assert resumed["async"] is asynchronous
    assert resumed["env_steps"] > saved["env_steps"]
    assert resumed["stale_fragments"] == 0  # within the default max_staleness
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
        iterations = [s["iteration"] for s in reg.snapshots()]
        assert iterations == list(range(1, target + 1))  # nothing lost, nothing twice


@pytest.mark.parametrize(
    "a,b",
    [
        ("1", "random"),  # a snapshot id
        ("latest", "scripted"),
        ("random", "2"),
        ("scripted", "random"),
        ("tests/fixtures/bots.py:first_legal", "latest"),  # a user's bot file
    ],
)
def test_eval_each_kind_of_player(c4_run, a, b):
    out = cli_json("eval", a, b, "--run", str(c4_run), "--games", "6")
    assert out["games"] == 6
    assert out["wins"] + out["draws"] + out["losses"] == 6
    low, high = out["score_95ci"]
    assert 0.0 <= low <= out["score"] <= high <= 1.0
    assert out["mean_length"] > 0 and out["distinct_games"] >= 1
    with Registry(c4_run) as reg:
        evals = reg.matches("eval")
    assert all(m["kind"] == "eval" for m in evals)


def test_eval_without_a_run_and_bot_errors(tmp_path):
    out = cli_json(
        "eval",
        "scripted",
        "random",
        "--game",
        "tictactoe_v3",
        "--games",
        "10",
        "--greedy",
        "--random-opening",
        "1",
    )
    assert out["games"] == 10 and out["score"] > 0.5
    for bot, message in (
        ("raises", "bots.py raised ZeroDivisionError"),
        ("illegal", "bots.py returned illegal action 99"),
    ):
        args = ("--game", "connect_four_v3", "--games", "2")
        proc = run_cli("eval", f"tests/fixtures/bots.py:{bot}", "random", *args, check=False)
        assert proc.returncode == 2 and message in proc.stderr
    proc = run_cli("eval", "7", "random", "--game", "connect_four_v3", check=False)
    assert proc.returncode == 2 and "--run" in proc.stderr


def test_tournament_and_table(c4_run):
    out = cli_json("tournament", "--run", str(c4_run), "--top", "2", "--games", "4")
    # What --top asked for plus the bots, the payoff matrix in iteration order.
    players = {r["player"] for r in out["leaderboard"]}
    assert players == {"random", "scripted", "main@2", "main@3"}
    assert out["players"] == ["main@2", "main@3", "random", "scripted"]
    for plot in out["plots"]:
        assert plot.endswith(".png") and (c4_run / "plots").exists()
    table = cli_json("table", "--run", str(c4_run))
    assert players <= {r["player"] for r in table["leaderboard"]}
    proc = run_cli("tournament", "--run", str(c4_run), "--top", "2", "--games", "2")
    assert "leaderboard" in proc.stdout and "random" in proc.stdout
