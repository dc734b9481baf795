"""One watched match: a person's moves, the text boards, rendered clips."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

from envs import GameEnv, GameError, builtin_game
from envs.boards import CONNECT_FOUR, TICTACTOE
from league.config import parse_config
from league.evaluation import Arena, EvalError
from league.game_config import resolve_game
from league.play import (
    HumanPlayer,
    Quit,
    gif_bytes,
    play_human,
    play_match,
    record_clip,
    render_env,
)
from league.rollout import PlayerPool
from matchmaking import RANDOM, SCRIPTED, PlayerId


def _human(lines: str, board=CONNECT_FOUR, n_actions: int = 7) -> tuple[HumanPlayer, io.StringIO]:
    out = io.StringIO()
    return HumanPlayer(board, n_actions, io.StringIO(lines), out), out


def _mask(legal: list[int], n: int = 7) -> np.ndarray:
    mask = np.zeros((1, n), dtype=bool)
    mask[0, legal] = True
    return mask


def test_a_person_is_asked_again_on_a_malformed_and_on_an_illegal_move():
    human, out = _human("\nfour\n1\n9\n2\n")
    got = human.act(np.zeros((1, 6, 7, 2)), np.zeros(1), _mask([1, 2, 3]))
    assert got.action.tolist() == [1]  # column 2 is action 1
    said = out.getvalue()
    assert "'four' is not a move: type a column 1-7 (2 3 4), or q" in said
    assert "1 is not a legal move now; legal: 2 3 4" in said
    assert "'9' is not a move" in said
    assert said.count("your move") == 5  # the empty line is asked again too


@pytest.mark.parametrize("lines", ["q\n", "quit\n", ""])
def test_q_or_the_end_of_the_input_quits(lines):
    human, _ = _human(lines)
    with pytest.raises(Quit):
        human.act(np.zeros((1, 6, 7, 2)), np.zeros(1), _mask([0]))


def test_tictactoe_cells_are_numbered_along_the_rows():
    env = builtin_game("tictactoe_v3").create()
    env.reset()
    env.step(1)  # X: column 0, row 1 (PettingZoo numbers down the columns)
    env.step(3)  # O: column 1, row 0
    drawn = TICTACTOE.draw(env.unwrapped, np.zeros(0))
    assert drawn.splitlines()[0] == " 1 | O | 3"
    assert drawn.splitlines()[2] == " X | 5 | 6"
    assert TICTACTOE.action_of("4", legal=list(range(9))) == 1
    assert TICTACTOE.action_of("2", legal=[0, 2]) is None  # cell 2 is action 3: not legal


def test_connect_four_is_drawn_with_column_numbers():
    env = builtin_game("connect_four_v3").create()
    env.reset()
    env.step(3)
    env.step(3)
    lines = CONNECT_FOUR.draw(env.unwrapped, np.zeros(0)).splitlines()
    assert lines[0] == " 1 2 3 4 5 6 7"
    assert lines[6] == " . . . X . . ." and lines[5] == " . . . O . . ."


def test_a_person_plays_a_whole_game_against_the_scripted_bot():
    arena = Arena.open(None, "connect_four_v3")
    # Column 4 six times fills it (the bot answers in the centre), the seventh is illegal.
    moves = "\n".join(["4"] * 7 + [str(c) for c in range(1, 8) for _ in range(6)]) + "\n"
    out = io.StringIO()
    match = play_human(
        arena,
        PlayerId.of_bot(SCRIPTED),
        seat=0,
        seed=0,
        greedy=False,
        stdin=io.StringIO(moves),
        stdout=out,
    )
    said = out.getvalue()
    assert "4 is not a legal move now" in said
    assert match.players["player_0"] == PlayerId.of_bot("human")
    assert sorted(match.result.values()) in ([0.0, 1.0], [0.5, 0.5])
    assert said.splitlines().count(" 1 2 3 4 5 6 7") == match.length + 1  # after every move
    row = match.match_row("player_0")
    assert row["sides"] == {"player_0": "human", "player_1": "scripted"}
    assert row["kind"] == "eval" and row["length"] == match.length


@pytest.mark.parametrize(
    "game,seat,message",
    [
        ("simple_tag_v3", 0, "turn-based games; 'simple_tag_v3' is simultaneous"),
        ("tictactoe_v3", 2, "--seat 2: 'tictactoe_v3' has seats 0-1"),
    ],
)
def test_play_refuses_a_simultaneous_game_and_a_bad_seat(game, seat, message):
    with pytest.raises(EvalError, match=message):
        play_human(
            Arena.open(None, game),
            PlayerId.of_bot(RANDOM),
            seat=seat,
            seed=0,
            greedy=False,
            stdin=io.StringIO(""),
            stdout=io.StringIO(),
        )


def test_play_match_decides_like_the_rollout_and_calls_the_hook_after_every_step():
    arena = Arena.open(None, "tictactoe_v3")
    rng = np.random.default_rng(0)
    pool = PlayerPool(arena.factory, info=arena.info, rng=rng, bots=arena.spec.named_bots())
    first, second = arena.info.teams  # player_1, player_2
    players = {first: PlayerId.of_bot(SCRIPTED), second: PlayerId.of_bot(RANDOM)}
    actors = {t: pool.get(p, "main") for t, p in players.items()}
    seen = []
    env = GameEnv(arena.spec, arena.info)
    match = play_match(env, actors, players, seed=3, on_step=lambda e, a: seen.append(a))
    assert len(seen) == match.length + 1 and seen[0] == {}
    assert match.result[first] in (1.0, 0.5)  # the scripted bot never loses to random
    assert match.returns[first] == -match.returns[second]


def test_a_clip_has_one_captioned_frame_per_step_plus_the_first():
    arena = Arena.open(None, "connect_four_v3")
    clip = record_clip(
        arena.spec,
        arena.info,
        arena.factory,
        {},
        PlayerId.of_bot(SCRIPTED),
        PlayerId.of_bot(RANDOM),
        seed=1,
    )
    assert len(clip.frames) == clip.match.length + 1
    assert clip.summary in ("scripted wins", "random wins", "draw")
    shapes = {f.shape for f in clip.frames}
    assert len(shapes) == 1 and next(iter(shapes))[2] == 3
    gif = Image.open(io.BytesIO(gif_bytes(clip.frames, fps=10)))
    assert gif.n_frames == len(clip.frames)  # the step counter keeps every frame distinct


def test_a_game_without_an_rgb_array_render_is_a_clear_error():
    config = parse_config(
        {"game": {"name": "tug", "env": "examples.tug_of_war:parallel_env"}}, source="t"
    )
    spec = resolve_game(config)
    with pytest.raises(
        GameError, match=r"'tug' has no 'rgb_array' render \(its render modes: none"
    ):
        render_env(spec, spec.info(), "rgb_array")


def test_mp4_without_the_video_extra_says_which_extra_to_install(tmp_path, monkeypatch):
    from league.play import write_animation

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if not installed
    frames = [np.zeros((8, 8, 3), dtype=np.uint8)] * 2
    with pytest.raises(EvalError, match=r"pip install 'league\[video\]'"):
        write_animation(frames, tmp_path / "a.mp4", fps=4)
    assert not (tmp_path / "a.mp4").exists()
