"""Scripted bots for the built-in board games: better than random, easy to read.

A bot is `act(observation, action_mask) -> action` on one agent's raw observation
(own pieces in channel 0, the opponent's in channel 1, as PettingZoo gives them); a bot
that takes an `rng` keyword is handed the player pool's seeded generator.
"""

from __future__ import annotations

import numpy as np

_C4_ROWS, _C4_COLS = 6, 7
_C4_CENTRE_FIRST = (3, 2, 4, 1, 5, 0, 6)
_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _connects(board: np.ndarray, row: int, col: int, need: int) -> bool:
    """Return True if the stone at (row, col) completes a line of `need` on `board`."""
    rows, cols = board.shape
    for dr, dc in _DIRECTIONS:
        count = 1
        for sign in (1, -1):
            r, c = row + sign * dr, col + sign * dc
            while 0 <= r < rows and 0 <= c < cols and board[r, c]:
                count += 1
                r, c = r + sign * dr, c + sign * dc
        if count >= need:
            return True
    return False


def _landing_row(occupied: np.ndarray, col: int) -> int | None:
    empty = np.flatnonzero(~occupied[:, col])
    return int(empty[-1]) if len(empty) else None


def _connect_four_choices(observation: np.ndarray, action_mask: np.ndarray | None) -> list[int]:
    """The columns a tactical player considers: its winning column, else the column that
    blocks the opponent's win, else every legal column that does not let the opponent win
    by playing on top of it (all legal columns if none is safe)."""
    mine, theirs = observation[:, :, 0].astype(bool), observation[:, :, 1].astype(bool)
    occupied = mine | theirs
    legal = [c for c in range(_C4_COLS) if action_mask is None or action_mask[c]]
    landing = {c: _landing_row(occupied, c) for c in legal}
    legal = [c for c in legal if landing[c] is not None]
    for board in (mine, theirs):  # first our win, then their threat
        for col in legal:
            row = landing[col]
            trial = board.copy()
            trial[row, col] = True
            if _connects(trial, row, col, 4):
                return [col]
    safe = []
    for col in legal:
        row = landing[col]
        if row > 0:
            above = theirs.copy()
            above[row - 1, col] = True
            if _connects(above, row - 1, col, 4):
                continue
        safe.append(col)
    return safe or legal


def connect_four_bot(observation: np.ndarray, action_mask: np.ndarray | None) -> int:
    """Win if possible, else block the opponent's win, else play centre-first.

    Among the remaining moves it avoids one that lets the opponent win by playing
    on top of it.
    """
    pool = _connect_four_choices(observation, action_mask)
    return next(c for c in _C4_CENTRE_FIRST if c in pool)


def connect_four_tactical_bot(
    observation: np.ndarray, action_mask: np.ndarray | None, *, rng: np.random.Generator
) -> int:
    """The scripted bot's tactics (win, block, do not play under the opponent's win), but
    any other move at random: a sparring partner that punishes every missed block in the
    scattered positions that random play makes, where the centre-first bot always plays
    the same lines."""
    pool = _connect_four_choices(observation, action_mask)
    return int(pool[rng.integers(len(pool))])


_TTT_PREFERENCE = (4, 0, 2, 6, 8, 1, 3, 5, 7)  # centre, corners, edges


def tictactoe_bot(observation: np.ndarray, action_mask: np.ndarray | None) -> int:
    """Win if possible, else block, else centre, corners, edges."""
    mine, theirs = observation[:, :, 0].astype(bool), observation[:, :, 1].astype(bool)
    free = ~(mine | theirs)
    legal = [a for a in range(9) if free[a // 3, a % 3] and (action_mask is None or action_mask[a])]
    for board in (mine, theirs):
        for a in legal:
            trial = board.copy()
            trial[a // 3, a % 3] = True
            if _connects(trial, a // 3, a % 3, 3):
                return a
    return next(a for a in _TTT_PREFERENCE if a in legal)


# Simple tag (MPE, 3 predators `adversary_*` against 1 prey `agent_0`, 2 obstacles).
# An adversary sees [own velocity, own position, 2 obstacles, 2 other adversaries, the
# prey, the prey's velocity] (16 numbers, positions relative to itself); the prey sees
# [own velocity, own position, 2 obstacles, 3 adversaries] (14). Actions: 0 stay,
# 1 -x, 2 +x, 3 -y, 4 +y.
_TAG_DIRECTIONS = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.float64)
_TAG_ADVERSARY_OBS, _TAG_PREY_OBS = 16, 14
_TAG_LEAD = 0.3
"""Seconds of the prey's velocity a predator aims ahead of it."""
_TAG_EDGE = 0.6
"""The prey is pushed back towards the middle once a coordinate is past this (the
arena's edge, where the env starts penalising it, is at 0.9)."""


def simple_tag_bot(observation: np.ndarray, action_mask: np.ndarray | None, *, role: str) -> int:
    """Predators (`adversary`) chase the prey, aiming a little ahead of where it runs;
    the prey flees its predators (the nearest weighs most) and keeps off the walls.

    Written for simple tag's default layout (3 predators, 1 prey, 2 obstacles)."""
    obs = np.asarray(observation, dtype=np.float64)
    want = _TAG_ADVERSARY_OBS if role == "adversary" else _TAG_PREY_OBS
    if obs.shape != (want,):
        raise ValueError(
            f"simple tag's scripted {role} expects {want} numbers (the default layout: "
            f"num_adversaries 3, num_good 1, num_obstacles 2), got shape {obs.shape}"
        )
    if role == "adversary":
        target = obs[12:14] + _TAG_LEAD * obs[14:16]
    else:
        rel = obs[8:14].reshape(3, 2)
        dist = np.maximum(np.linalg.norm(rel, axis=1, keepdims=True), 1e-3)
        target = -(rel / dist**3).sum(axis=0)
        target /= max(np.linalg.norm(target), 1e-6)
        pos = obs[2:4]
        past = np.sign(pos) * np.maximum(np.abs(pos) - _TAG_EDGE, 0.0)
        target -= 10.0 * past
    return int(np.argmax(_TAG_DIRECTIONS @ target)) if np.any(target) else 0
