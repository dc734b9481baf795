"""How a person sees a turn-based game and names its moves (`league play`).

A `TextBoard` draws the game's state as text and gives each action the label a
person types. Built-in board games have their own (connect four, tic-tac-toe);
any other game gets `generic_board`: its `ansi` render where the env has one,
else the acting agent's observation, and actions named by their index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TextBoard:
    """Draw a game for a person and name its moves.

    `draw(env, observation)` gets the unwrapped PettingZoo env and the acting
    agent's observation and returns the board as text; `label(action)` is what a
    person types to make `action`.
    """

    draw: Callable[[Any, np.ndarray], str]
    label: Callable[[int], str] = str
    hint: str = "type the move's number"
    """What the prompt says a move is (e.g. `a column`)."""

    def action_of(self, text: str, legal: list[int]) -> int | None:
        """The legal action whose label is `text` (None: no legal action has it)."""
        by_label = {self.label(a): a for a in legal}
        return by_label.get(text.strip())


CONNECT_FOUR_MARKS = {0: ".", 1: "X", 2: "O"}
"""Board cell value -> what is drawn (player_0 plays X, player_1 O)."""


def _draw_connect_four(env: Any, _obs: np.ndarray) -> str:
    cells = np.asarray(env.board).reshape(6, 7)
    header = " " + " ".join(str(c + 1) for c in range(7))
    rows = [" " + " ".join(CONNECT_FOUR_MARKS[int(v)] for v in row) for row in cells]
    return "\n".join([header, *rows, " " + "-" * 13])


CONNECT_FOUR = TextBoard(
    draw=_draw_connect_four, label=lambda action: str(action + 1), hint="a column 1-7"
)
"""Columns numbered 1-7 above the board; X moves first."""


def _tictactoe_cell(action: int) -> int:
    """Tic-tac-toe actions run down the columns; people number cells along the rows."""
    return (action % 3) * 3 + action // 3 + 1


def _draw_tictactoe(env: Any, _obs: np.ndarray) -> str:
    squares = list(env.board.squares)
    marks = {1: "X", 2: "O"}
    lines = []
    for row in range(3):
        cells = [marks.get(squares[col * 3 + row], str(row * 3 + col + 1)) for col in range(3)]
        lines.append(" " + " | ".join(cells))
    return "\n---+---+---\n".join(lines)


TICTACTOE = TextBoard(
    draw=_draw_tictactoe,
    label=lambda action: str(_tictactoe_cell(action)),
    hint="a free cell 1-9",
)
"""Free cells show their number 1-9 (along the rows); X moves first."""


def generic_board(ansi: bool) -> TextBoard:
    """A board for any game: its `ansi` render when `ansi`, else the observation."""

    def draw(env: Any, obs: np.ndarray) -> str:
        if ansi:
            text = env.render()
            if isinstance(text, str) and text:
                return text
        with np.printoptions(threshold=200, linewidth=80):
            return f"observation {obs.shape}:\n{obs}"

    return TextBoard(draw=draw)
