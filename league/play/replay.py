"""Watch two players: one match rendered as an animation (`league replay`, clips in
TensorBoard).

Frames come from the env's `rgb_array` render, one after the reset and one after
every env step (so an episode of length T gives T + 1 frames); each frame gets a
caption strip saying who is who, the step, and at the end the result. GIFs are
written with Pillow; MP4 needs the `video` extra (imageio with its ffmpeg).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from envs import GameEnv, GameInfo, GameSpec
from league.evaluation import EvalError
from league.play.match import MatchResult, play_match, render_env
from league.rollout import PlayerPool, PolicyFactory
from matchmaking import PlayerId, VersusMatchmaker

FORMATS = (".gif", ".mp4")


@dataclass
class Clip:
    """A rendered match: its frames (captioned) and how it went."""

    frames: list[np.ndarray]
    """[H, W, 3] uint8 each, the caption strip included."""
    match: MatchResult
    a: PlayerId
    b: PlayerId
    a_team: str

    @property
    def one_team(self) -> bool:
        """Whether the game has one team: A plays it alone, B never sits."""
        return len(self.match.players) == 1

    @property
    def title(self) -> str:
        """Who played: `A vs B`, or A alone in a game of one team."""
        return f"{self.a} alone (one team)" if self.one_team else f"{self.a} vs {self.b}"

    @property
    def summary(self) -> str:
        """The result in words, from A's side (one team: its return)."""
        if self.one_team:
            return f"return {self.match.returns[self.a_team]:.4g}"
        score = self.match.result.get(self.a_team)
        if score is None:
            return "game over"
        return {1.0: f"{self.a} wins", 0.0: f"{self.b} wins"}.get(score, "draw")


def record_clip(
    spec: GameSpec,
    info: GameInfo,
    factory: PolicyFactory,
    weights: Mapping[PlayerId, Mapping[str, torch.Tensor]],
    a: PlayerId,
    b: PlayerId,
    *,
    seed: int = 0,
    greedy: bool = False,
) -> Clip:
    """Play A (on its first seat) against B (everywhere else) once, rendering every step
    (a game of one team: A alone)."""
    try:
        matchup = VersusMatchmaker(info, a, b)(0, np.random.default_rng(seed))
    except ValueError as err:
        raise EvalError(str(err)) from None
    pool = PlayerPool(
        factory, info=info, rng=np.random.default_rng(seed), bots=spec.named_bots(), greedy=greedy
    )
    pool.set_snapshots({p: w for p, w in weights.items() if p in (a, b)})
    actors = {team: pool.get(player, info.roles[team]) for team, player in matchup.players.items()}
    raw: list[np.ndarray] = []

    def grab(env: GameEnv, _actions: dict[str, Any]) -> None:
        frame = env.render()
        if not isinstance(frame, np.ndarray) or frame.ndim != 3:
            raise EvalError(f"game {spec.name!r}: its rgb_array render returned {type(frame)}")
        raw.append(np.ascontiguousarray(frame[..., :3], dtype=np.uint8))

    env = render_env(spec, info, "rgb_array")
    try:
        match = play_match(env, actors, matchup.players, seed=seed, on_step=grab)
    finally:
        env.close()
    focal = matchup.focal
    others = [team for team in matchup.players if team != focal]
    who = [f"A {a} ({focal})", *([f"B {b} ({', '.join(others)})"] if others else [])]
    clip = Clip([], match, a, b, focal)
    last = len(raw) - 1
    for t, frame in enumerate(raw):
        status = f"step {t}/{last}" + (f": {clip.summary}" if t == last else "")
        clip.frames.append(caption(frame, [*who, status]))
    return clip


def caption(frame: np.ndarray, lines: list[str]) -> np.ndarray:
    """The frame with a black strip of text lines below it (lines cut to fit its width)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    line_height = 12
    width = frame.shape[1]
    strip = Image.new("RGB", (width, line_height * len(lines) + 4), "black")
    draw = ImageDraw.Draw(strip)
    per_line = max(8, width // 6)
    for i, line in enumerate(lines):
        text = line if len(line) <= per_line else line[: per_line - 1] + "~"
        draw.text((2, 2 + i * line_height), text, fill="white", font=font)
    return np.concatenate([frame, np.asarray(strip)], axis=0)


def write_animation(frames: list[np.ndarray], out: Path, *, fps: float) -> Path:
    """Write the frames as a GIF (Pillow) or an MP4 (the `video` extra)."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise EvalError(f"--out {out}: write a .gif or an .mp4, not {suffix or 'no suffix'!r}")
    if not frames:
        raise EvalError("the match produced no frames")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        out.write_bytes(gif_bytes(frames, fps=fps))
        return out
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (the ffmpeg binary imageio writes MP4 with)
    except ImportError:
        raise EvalError(
            "writing .mp4 needs the video extra: pip install 'league[video]' (or write a .gif)"
        ) from None
    imageio.mimwrite(out, [_pad_to(frame, 16) for frame in frames], fps=fps, macro_block_size=16)
    return out


def gif_bytes(frames: list[np.ndarray], *, fps: float) -> bytes:
    """Encode frames as an animated GIF that loops."""
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(20, round(1000 / fps)),
        loop=0,
    )
    return buffer.getvalue()


def _pad_to(frame: np.ndarray, block: int) -> np.ndarray:
    """Pad a frame with black to a multiple of `block` pixels (video codecs need it)."""
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, -h % block), (0, -w % block), (0, 0)))


def add_clip_to_tensorboard(writer: Any, tag: str, clip: Clip, step: int, *, fps: float) -> None:
    """Attach the clip to TensorBoard as an animated image, as `SummaryWriter.add_video`
    does, encoded with Pillow (add_video itself needs moviepy)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    height, width = clip.frames[0].shape[:2]
    image = Summary.Image(
        height=height,
        width=width,
        colorspace=3,
        encoded_image_string=gif_bytes(clip.frames, fps=fps),
    )
    summary = Summary(value=[Summary.Value(tag=tag, image=image)])
    writer._get_file_writer().add_summary(summary, step)
    writer.flush()
