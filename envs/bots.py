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
