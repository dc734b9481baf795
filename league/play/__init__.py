"""Using a trained agent outside training, one watched match at a time: a person plays
it in the terminal (`league play`), or a match is rendered as an animation (`league
replay`, TensorBoard clips)."""

from __future__ import annotations

from league.play.human import HumanPlayer, Quit, play_human, verdict
from league.play.match import MatchResult, play_match, render_env
from league.play.replay import (
    Clip,
    add_clip_to_tensorboard,
    gif_bytes,
    record_clip,
    write_animation,
)

__all__ = [
    "Clip",
    "HumanPlayer",
    "MatchResult",
    "Quit",
    "add_clip_to_tensorboard",
    "gif_bytes",
    "play_human",
    "play_match",
    "record_clip",
    "render_env",
    "verdict",
    "write_animation",
]
