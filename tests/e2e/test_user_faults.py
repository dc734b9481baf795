"""Faults in a user's own game, through the real CLI: one line naming the agent, the step
and the episode's seed, no traceback, exit 2, and a checkpoint that resumes.

Each game is tug of war with one fault (`tests/fixtures/faulty_games.py`) at a fixed
env step of the process; a `marker` file makes it happen once, so that the resumed run
plays on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import cli_json, run_cli, tiny_overrides, train_then_kill
from league.store import Registry, load_checkpoint

pytestmark = pytest.mark.slow

TRAIN = (
    "train: {workers: 0, iterations: 4, steps_per_iteration: 64, envs: 2, checkpoint_every: 1, "
    "snapshot_every: 1, eval_every: 0, rating_games: 0}\n"
)


def _config(
    tmp_path: Path, fault: str, *, marker: bool = True, train: str = TRAIN, at: int = 30
) -> Path:
    """A config training tug of war with `fault` at step `at` of the process (in its
    second iteration)."""
    kwargs: dict[str, object] = {"at": at}
    if marker:
        kwargs["marker"] = str(tmp_path / f"{fault}.marker")
    path = tmp_path / f"{fault}.yaml"
    path.write_text(
        f"game: {{name: {fault}, env: 'tests.fixtures.faulty_games:{fault}', kwargs: {kwargs}}}\n"
        + train
    )
    return path


def _one_line(proc, *needles: str) -> str:
    """The one error line; no traceback; exit 2."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("league: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def _stops_then_resumes(tmp_path: Path, fault: str, *needles: str, **config) -> str:
    """Train into the fault: one line and a checkpoint; resume past it to the end."""
    config_file = _config(tmp_path, fault, **config)
    proc = run_cli("train", str(config_file), "--runs-dir", str(tmp_path), "--json", check=False)
    run_dir = tmp_path / fault
    line = _one_line(proc, f"game {fault!r}", *needles, f"league train --resume {run_dir}")
    assert [x for x in proc.stderr.splitlines() if x.strip()] == [line]  # nothing else
    saved = load_checkpoint(run_dir / "checkpoint.safetensors")["counters"]["iteration"]
    assert f"a checkpoint of iteration {saved} is kept" in line
    resumed = cli_json("train", "--resume", str(run_dir))
    assert resumed["iterations"] == 4
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
        assert [s["iteration"] for s in reg.snapshots()] == [1, 2, 3, 4]
    return line


def test_a_nan_reward_names_the_agent_the_step_and_the_seed(tmp_path):
    line = _stops_then_resumes(tmp_path, "nan_reward", "agent 'red_0' got reward nan",
                               "train.nan_rewards: zero")  # fmt: skip
    assert re.search(r"at step \d+ of the episode with seed \d+", line), line


def test_nan_rewards_zero_counts_them_as_0_with_one_warning(tmp_path):
    config = _config(tmp_path, "nan_reward", marker=False,
                     train=TRAIN.replace("}", ", nan_rewards: zero}"))  # fmt: skip
    proc = run_cli("train", str(config), "--runs-dir", str(tmp_path), "--json")
    assert '"iterations": 4' in proc.stdout
    warnings = [line for line in proc.stderr.splitlines() if "got reward nan" in line]
    assert len(warnings) == 1 and "counted as 0" in warnings[0], proc.stderr


def test_an_observation_changing_shape_names_both_shapes(tmp_path):
    _stops_then_resumes(tmp_path, "shrinking_observation", "agent 'blue_1'", "shape (4,)",
                        "declares shape (10,)")  # fmt: skip


def test_an_infinite_observation_is_named(tmp_path):
    _stops_then_resumes(tmp_path, "nan_observation", "agent 'blue_0'", "holding inf")


def test_a_non_finite_loss_names_the_iteration_and_keeps_the_last_checkpoint(tmp_path):
    fault = "huge_reward"
    proc = run_cli("train", str(_config(tmp_path, fault)), "--runs-dir", str(tmp_path),
                   check=False)  # fmt: skip
    run_dir = tmp_path / fault
    line = _one_line(proc, "learner 'main'", "is inf at iteration", "the last checkpoint is kept")
    failed = int(re.search(r"at iteration (\d+)", line).group(1))
    saved = load_checkpoint(run_dir / "checkpoint.safetensors")["counters"]["iteration"]
    assert saved == failed - 1  # the poisoned update was not kept
    assert cli_json("train", "--resume", str(run_dir))["iterations"] == 4


def test_a_step_that_never_returns_is_stopped_by_the_watchdog(tmp_path):
    train = TRAIN.replace("}", ", rollout_timeout: 10}")
    line = _stops_then_resumes(tmp_path, "hang", "ran past train.rollout_timeout (10 s)",
                               train=train)  # fmt: skip
    assert re.search(r"in env copy \d at step \d+ of the episode with seed \d+", line), line


def test_a_game_that_hangs_while_its_teams_are_inferred_is_stopped(tmp_path):
    train = TRAIN.replace("}", ", rollout_timeout: 10}")
    config = _config(tmp_path, "hang", marker=False, train=train, at=3)
    proc = run_cli("train", str(config), "--runs-dir", str(tmp_path), check=False)
    _one_line(proc, "learn its teams ran past train.rollout_timeout (10 s)")
    assert not (tmp_path / "hang").exists()  # no run was created


RAY = (
    TRAIN.replace("workers: 0", "workers: 1")
    .replace("steps_per_iteration: 64", "steps_per_iteration: 256")  # step 30 in iteration 1
    .replace("}", ", rollout_timeout: 10}")
)


def test_a_ray_rollout_that_hangs_twice_stops_the_run(tmp_path):
    config = _config(tmp_path, "hang", marker=False, train=RAY)  # each new worker hangs too
    proc = run_cli("train", str(config), "--runs-dir", str(tmp_path), check=False)
    _one_line(proc, "ran past train.rollout_timeout (10 s)", "with seed", "twice")
    replaced = [line for line in proc.stderr.splitlines() if "replacing rollout worker" in line]
    assert len(replaced) == 2, proc.stderr
    assert (tmp_path / "hang" / "checkpoint.safetensors").exists()


def test_a_ray_rollout_that_hangs_once_goes_on_with_a_new_worker(tmp_path):
    out = cli_json("train", str(_config(tmp_path, "hang", train=RAY)), "--runs-dir",
                   str(tmp_path))  # fmt: skip
    assert out["iterations"] == 4 and out["worker_restarts"] == 1


@pytest.mark.parametrize(
    "flag,needle",
    [
        ("game.name=nope", "unknown game 'nope'"),
        ("train.iterations", "not of the form key.path=value"),
    ],
)
def test_a_set_error_names_the_flag(tmp_path, flag, needle):
    proc = run_cli("train", "tictactoe", "--runs-dir", str(tmp_path), "--set", flag, check=False)
    line = _one_line(proc, f"--set {flag}:", needle)
    assert "tictactoe.yaml" not in line


def test_exact_exploitability_of_a_huge_tree_is_refused_with_the_real_reason(tmp_path):
    config = tmp_path / "dark.yaml"
    config.write_text(
        "game: {name: dark, env: 'openspiel:dark_hex(num_rows=3,num_cols=3)'}\n"
        "train: {workers: 0, iterations: 1, steps_per_iteration: 32, envs: 2, eval_every: 0, "
        "rating_games: 0}\n"
    )
    cli_json("train", str(config), "--runs-dir", str(tmp_path))
    proc = run_cli("exploitability", "--run", str(tmp_path / "dark"), "latest", check=False)
    _one_line(proc, "has more than 2,000,000 nodes", "league exploit")


def test_an_unknown_openspiel_name_suggests_similar_ones(tmp_path):
    sets = ["--set", "game.env=openspiel:phantom_tt", "--set", "game.name=x"]
    proc = run_cli("train", "tictactoe", "--runs-dir", str(tmp_path), *sets, check=False)
    _one_line(proc, "did you mean phantom_ttt")


def _tictactoe(tmp_path: Path, name: str) -> Path:
    sets = [a for o in tiny_overrides("tictactoe") for a in ("--set", o)]
    cli_json("train", "tictactoe", "--runs-dir", str(tmp_path), "--name", name,
             "--iterations", "3", "--set", "train.rating_games=2", *sets)  # fmt: skip
    return tmp_path / name


def test_a_lost_old_snapshot_is_quarantined_on_resume(tmp_path):
    run_dir = _tictactoe(tmp_path, "lost")
    with Registry(run_dir) as reg:
        first = reg.snapshots()[0]
    (run_dir / first["file"]).unlink()
    proc = run_cli("train", "--resume", str(run_dir), "--iterations", "5", "--json")
    assert json.loads(proc.stdout)["iterations"] == 5
    warned = [line for line in proc.stderr.splitlines() if "quarantined" in line]
    assert len(warned) == 1 and first["file"] in warned[0], proc.stderr
    with Registry(run_dir) as reg:
        assert reg.missing() == [first["id"]]
        assert [s["iteration"] for s in reg.snapshots()] == [1, 2, 3, 4, 5]  # nothing else lost
    board = cli_json("table", "--run", str(run_dir))
    missing = [r["player"] for r in board["leaderboard"] if r["missing"]]
    assert missing == [f"main@{first['id']}"]
    assert f"main@{first['id']} (missing)" in run_cli("table", "--run", str(run_dir)).stdout


def test_the_snapshot_the_checkpoint_needs_blocks_and_names_its_file(tmp_path):
    run_dir = _tictactoe(tmp_path, "newest")
    with Registry(run_dir) as reg:
        newest = reg.snapshots()[-1]
    (run_dir / newest["file"]).unlink()
    proc = run_cli("train", "--resume", str(run_dir), "--iterations", "5", check=False)
    _one_line(proc, f"restore {run_dir / newest['file']} to resume")


def test_a_run_killed_after_a_checkpoint_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the same float sums in both runs
    sets = [a for o in [*tiny_overrides("tictactoe"), "train.checkpoint_every=2",
                        "train.rating_games=2"] for a in ("--set", o)]  # fmt: skip
    killed = tmp_path / "killed"
    args = ["train", "tictactoe", "--runs-dir", str(tmp_path), "--name", "killed", *sets]
    saved = train_then_kill([*args, "--iterations", "1000"], killed, at_iteration=2)
    target = saved["counters"]["iteration"] + 3  # past the next checkpoint, and one more
    resumed = cli_json("train", "--resume", str(killed), "--iterations", str(target))
    whole = cli_json("train", "tictactoe", "--runs-dir", str(tmp_path), "--name", "whole",
                     "--iterations", str(target), *sets)  # fmt: skip
    for key in ("iterations", "env_steps", "agent_steps", "episodes"):
        assert resumed[key] == whole[key], key

    def books(run_dir: Path) -> tuple[list, list]:
        with Registry(run_dir) as reg:
            snaps = [(s["iteration"], s["env_steps"], s["sha256"]) for s in reg.snapshots()]
            keys = ("iteration", "kind", "sides", "result", "length")
            return snaps, [tuple(str(m[k]) for k in keys) for m in reg.matches()]

    assert books(killed) == books(tmp_path / "whole")  # the same weights, the same games
    a = load_checkpoint(killed / "checkpoint.safetensors")["learners"]["main"]["policy"]
    b = load_checkpoint(tmp_path / "whole" / "checkpoint.safetensors")["learners"]["main"]["policy"]
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


SLOW_BOT = "tests/fixtures/slow_bot.py:act"


@pytest.mark.parametrize("workers", ["0", "1"], ids=["in-process", "ray-worker"])
def test_a_bot_that_never_moves_ends_eval_with_one_line(workers):
    proc = run_cli("eval", SLOW_BOT, "random", "--game", "tictactoe_v3", "--games", "2",
                   "--bot-timeout", "2", "--workers", workers, check=False)  # fmt: skip
    _one_line(proc, "bot tests/fixtures/slow_bot.py", "ran past --bot-timeout (2 s)")


def test_a_bot_that_never_moves_ends_play_with_one_line():
    proc = run_cli("play", SLOW_BOT, "--game", "tictactoe_v3", "--bot-timeout", "2",
                   check=False, input="5\n1\n2\n3\n")  # fmt: skip
    _one_line(proc, "ran past --bot-timeout (2 s)")


def test_a_bot_that_never_moves_ends_a_tournament_with_one_line(tmp_path):
    run_dir = _tictactoe(tmp_path, "t")
    proc = run_cli("tournament", "--run", str(run_dir), "--games", "2", "--bots", SLOW_BOT,
                   "--bot-timeout", "2", check=False)  # fmt: skip
    _one_line(proc, "ran past --bot-timeout (2 s)")


def test_inspect_names_a_nan_reward_among_its_warnings():
    kwargs = '{"at": 1, "repeat": true}'  # every step: the API test passes NaN rewards
    out = cli_json("inspect", "tests.fixtures.faulty_games:nan_reward", "--kwargs", kwargs)
    (warning,) = [w for w in out["warnings"] if "random play stopped" in w]
    assert "agent 'red_0' got reward nan" in warning and "with seed" in warning
