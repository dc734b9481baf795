"""Using a trained agent through the real CLI: play it, watch it, ship it."""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys

import imageio.v2 as imageio
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import ROOT, cli_json, run_cli, tiny_overrides
from league.store import Registry, load_run_config

pytestmark = pytest.mark.slow

# Column 4 six times fills it (the scripted bot answers in the centre); the seventh is
# illegal. Then every column in turn, more moves than a game can take.
MOVES = "abc\n" + "\n".join(["4"] * 7 + [str(c) for c in range(1, 8) for _ in range(6)]) + "\n"


def _human_matches(run) -> list[dict]:
    with Registry(run) as reg:
        return [m for m in reg.matches("eval") if "human" in m["participants"]]


def test_play_through_a_pipe_asks_again_and_records_the_game(c4_run):
    before = len(_human_matches(c4_run))
    proc = run_cli("play", "scripted", "--run", str(c4_run), input=MOVES)
    out = proc.stdout
    assert "you are player_0 (seat 0) against scripted" in out
    assert "'abc' is not a move: type a column 1-7" in out
    assert "4 is not a legal move now; legal: 1 2 3 5 6 7" in out
    assert re.search(r"(you win|you lose|draw) in \d+ moves", out)
    assert f"recorded in {c4_run} as human vs scripted" in out
    rows = _human_matches(c4_run)
    assert len(rows) == before + 1
    assert rows[-1]["sides"] == {"player_0": "human", "player_1": "scripted"}
    table = cli_json("table", "--run", str(c4_run))
    assert "human" in {r["player"] for r in table["leaderboard"]}


def test_play_quits_cleanly_and_records_nothing(c4_run):
    before = len(_human_matches(c4_run))
    proc = run_cli("play", "--run", str(c4_run), "--seat", "1", input="2\nq\n")
    assert "you are player_1 (seat 1) against main@3" in proc.stdout
    assert "you quit: the game is not recorded" in proc.stdout
    assert len(_human_matches(c4_run)) == before


def test_play_refuses_a_simultaneous_game():
    proc = run_cli("play", "--game", "simple_tag_v3", check=False, input="")
    assert proc.returncode == 2
    assert "league play is for turn-based games; 'simple_tag_v3' is simultaneous" in proc.stderr


def test_replay_writes_a_gif_with_a_frame_per_step_plus_one(c4_run, tmp_path):
    out = cli_json(
        "replay", "latest", "random", "--run", str(c4_run), "--out", str(tmp_path / "m.gif")
    )
    assert out["a"] == "main@3" and out["frames"] == out["length"] + 1
    assert Image.open(tmp_path / "m.gif").n_frames == out["length"] + 1


def test_replay_writes_an_mp4_and_refuses_other_formats(tmp_path):
    out = cli_json(
        "replay", "scripted", "random", "--game", "tictactoe_v3", "--out", str(tmp_path / "t.mp4")
    )
    reader = imageio.get_reader(tmp_path / "t.mp4")
    assert reader.count_frames() == out["frames"] == out["length"] + 1
    proc = run_cli(
        "replay", "random", "random", "--game", "tictactoe_v3", "--out", "x.avi", check=False
    )
    assert proc.returncode == 2 and "write a .gif or an .mp4, not '.avi'" in proc.stderr


@pytest.mark.atari
def test_replay_of_an_atari_pixel_game(tmp_path):
    sets = [arg for o in tiny_overrides("volleyball_pong") for arg in ("--set", o)]
    cli_json("train", "volleyball_pong", "--runs-dir", str(tmp_path), "--name", "vp", *sets)
    run, gif = str(tmp_path / "vp"), str(tmp_path / "v.gif")
    out = cli_json("replay", "latest", "random", "--run", run, "--out", gif)
    assert out["length"] == 16  # max_cycles of the tiny config
    gif = Image.open(tmp_path / "v.gif")
    assert gif.n_frames == out["frames"] == 17
    assert gif.size[0] == 160  # the Atari screen's width, caption strip below


def _centre_stacker(run) -> None:
    """Register a snapshot that (almost) always plays the centre column when it can."""
    with Registry(run) as reg:
        newest = reg.latest_snapshot()
        weights = reg.load_snapshot(newest["id"])
        layers = sorted(
            {k.rsplit(".", 1)[0] for k in weights if k.startswith("actor.")},
            key=lambda k: int(k.split(".")[1]),
        )
        weights[f"{layers[-1]}.weight"] = torch.zeros_like(weights[f"{layers[-1]}.weight"])
        bias = torch.zeros_like(weights[f"{layers[-1]}.bias"])
        bias[3] = 10.0
        weights[f"{layers[-1]}.bias"] = bias
        reg.add_snapshot(
            role="main",
            iteration=newest["iteration"] + 100,
            env_steps=newest["env_steps"],
            tensors=weights,
            parent=newest["id"],
            config=load_run_config(run).model_dump(mode="json"),
        )


def test_an_exported_policy_scores_as_the_snapshot_does(tmp_path):
    # A dense action head: one output per column, so one bias makes a centre stacker
    # (a spatial head shares its weights across columns).
    sets = [*tiny_overrides("connect_four"), "model.action_head=dense"]
    args = [arg for o in sets for arg in ("--set", o)]
    cli_json(
        "train",
        "connect_four",
        "--runs-dir",
        str(tmp_path),
        "--name",
        "run",
        "--iterations",
        "3",
        *args,
    )
    run = tmp_path / "run"
    _centre_stacker(run)
    meta = cli_json(
        "export", "--run", str(run), "--format", "onnx", "--out", str(tmp_path / "c4.onnx")
    )
    assert meta["player"] == "main@4" and meta["inputs"] == ["obs", "member", "mask"]
    games = 300
    snapshot = cli_json("eval", "latest", "random", "--run", str(run), "--games", str(games))
    proc = subprocess.run(
        [
            sys.executable,
            "examples/onnx_connect_four.py",
            str(tmp_path / "c4.onnx"),
            "--games",
            str(games),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    exported = json.loads(proc.stdout)["score"]
    # Two independent samples of the same policy: equal within a 99% two-sample test.
    p = (snapshot["score"] + exported) / 2
    assert snapshot["score"] > 0.7  # far from a uniform policy's 0.5
    assert abs(snapshot["score"] - exported) <= 2.58 * math.sqrt(p * (1 - p) * 2 / games)

    cli_json(
        "export", "4", "--run", str(run), "--format", "torchscript", "--out", str(tmp_path / "p.pt")
    )
    extra = {"league.json": ""}
    torch.jit.load(str(tmp_path / "p.pt"), _extra_files=extra)
    assert json.loads(extra["league.json"])["player"] == "main@4"
    proc = run_cli("export", "random", "--run", str(run), "--out", "x.onnx", check=False)
    assert proc.returncode == 2 and "only a snapshot of the run can be exported" in proc.stderr


def test_the_docs_show_the_onnx_example_as_it_is():
    example = (ROOT / "examples" / "onnx_connect_four.py").read_text()
    body = example[example.index("import argparse") :]
    assert body.strip() in (ROOT / "docs" / "using-agents.md").read_text()


def _images(tb_dir) -> dict[str, list]:
    acc = EventAccumulator(str(tb_dir), size_guidance={"images": 0})
    acc.Reload()
    return {tag: acc.Images(tag) for tag in acc.Tags()["images"]}


def test_training_and_tournaments_attach_clips_to_tensorboard(tmp_path):
    sets = [arg for o in tiny_overrides("tictactoe") for arg in ("--set", o)]
    cli_json(
        "train",
        "tictactoe",
        "--runs-dir",
        str(tmp_path),
        "--name",
        "t",
        *sets,
        "--set",
        "train.video_every=1",
    )
    run = tmp_path / "t"
    images = _images(run / "tb")
    # Snapshot 2 against snapshot 1 (snapshot 1 had none before it).
    assert [e.step for e in images["league/replay"]] == [2]
    gif = Image.open(io.BytesIO(images["league/replay"][0].encoded_image_string))
    assert gif.n_frames >= 6  # a tic-tac-toe game lasts at least 5 moves, plus the start
    out = cli_json("tournament", "--run", str(run), "--top", "2", "--games", "2", "--video")
    assert out["clip"].startswith("main@2 vs main@1")
    assert "tournament/replay" in _images(run / "tb")


def test_clips_for_a_game_that_cannot_render_are_refused_at_config_load(tmp_path):
    proc = run_cli(
        "train",
        "examples/tug_of_war.yaml",
        "--runs-dir",
        str(tmp_path),
        "--iterations",
        "1",
        "--set",
        "train.video_every=2",
        check=False,
    )
    assert proc.returncode == 2
    assert "key 'train.video_every': game 'tug_of_war' has no rgb_array render" in proc.stderr
    assert not any(tmp_path.iterdir())  # no run directory was made
