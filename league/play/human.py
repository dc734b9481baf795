"""A person plays a turn-based game against an agent in the terminal (`league play`).

Moves are read line by line from a text stream (the keyboard, or a pipe); the
board is drawn after every move with the game's `TextBoard`. A finished game is
recorded in the run's registry as an evaluation match against the player `human`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from agents import ActOutput
from envs import GameEnv, GameInfo, GameSpec
from envs.boards import TextBoard, generic_board
from league.evaluation import Arena, EvalError
from league.play.match import MatchResult, play_match, render_env
from league.rollout import PlayerPool
from matchmaking import HUMAN, PlayerId

QUIT = ("q", "quit", "exit")
"""What a person types to stop (the game is then not recorded)."""


class Quit(Exception):
    """The person quit (typed q, or the input ended)."""


@dataclass
class HumanPlayer:
    """Ask a person for each move: legal moves shown, bad input asked again with why."""

    board: TextBoard
    n_actions: int
    stdin: TextIO
    stdout: TextIO
    state_size = 0  # no recurrent state (not a dataclass field: unannotated)

    def act(self, obs: np.ndarray, member: np.ndarray, mask: np.ndarray | None) -> ActOutput:
        """Read one legal move for the one acting agent."""
        everything = list(range(self.n_actions))
        legal = np.flatnonzero(mask[0]).tolist() if mask is not None else everything
        labels = {self.board.label(a): a for a in range(self.n_actions)}
        shown = " ".join(self.board.label(a) for a in legal)
        while True:
            self.say(f"your move ({self.board.hint}; legal: {shown}; q quits): ", end="")
            line = self.stdin.readline()
            if not line:
                self.say("")
                raise Quit("the input ended")
            text = line.strip()
            if text.lower() in QUIT:
                raise Quit("you quit")
            if not text:
                continue
            action = self.board.action_of(text, legal)
            if action is not None:
                zero = np.zeros(1, dtype=np.float32)
                return ActOutput(np.array([action]), zero, zero, np.zeros((1, 0), np.float32))
            if text in labels:
                self.say(f"{text} is not a legal move now; legal: {shown}")
            else:
                self.say(f"{text!r} is not a move: type {self.board.hint} ({shown}), or q")

    def say(self, text: str, end: str = "\n") -> None:
        """Write to the person's terminal."""
        self.stdout.write(text + end)
        self.stdout.flush()


def check_playable(spec: GameSpec, info: GameInfo) -> None:
    """Refuse games a person cannot play in a terminal, saying why."""
    if len(info.teams) == 1:
        raise EvalError(
            f"league play seats you against an agent; {spec.name!r} has one team "
            "(cooperative), with no one to play against (watch its agents with league replay)"
        )
    if info.api != "aec":
        raise EvalError(
            f"league play is for turn-based games; {spec.name!r} is simultaneous "
            "(watch its agents with league replay instead)"
        )
    if any(s.image for s in info.spaces.values()):
        raise EvalError(f"league play is for turn-based board games; {spec.name!r} is pixels")
    if not all(s.discrete for s in info.spaces.values()):
        raise EvalError(
            f"league play needs numbered moves (a Discrete action space); {spec.name!r} has "
            "MultiDiscrete or continuous actions"
        )


def _text_board(spec: GameSpec) -> tuple[TextBoard, str | None]:
    """The game's board for people, and the render mode its env must be built with."""
    if spec.text_board is not None:
        return spec.text_board, None
    ansi = "ansi" in spec.render_modes()
    return generic_board(ansi), "ansi" if ansi else None


def play_human(
    arena: Arena,
    opponent: PlayerId,
    *,
    seat: int,
    seed: int,
    greedy: bool,
    stdin: TextIO,
    stdout: TextIO,
) -> MatchResult:
    """Play one game: the person on team number `seat`, `opponent` on every other team."""
    spec, info = arena.spec, arena.info
    check_playable(spec, info)
    teams = list(info.teams)
    if not 0 <= seat < len(teams):
        raise EvalError(f"--seat {seat}: {spec.name!r} has seats 0-{len(teams) - 1} ({teams})")
    mine = teams[seat]
    roles = info.roles
    if opponent.role and any(roles[t] != opponent.role for t in teams if t != mine):
        raise EvalError(
            f"{opponent} plays role {opponent.role!r}; the other seats are roles "
            f"{sorted({roles[t] for t in teams if t != mine})}: pick another --seat"
        )
    board, mode = _text_board(spec)
    human = HumanPlayer(board, info.spaces[mine].n_actions, stdin, stdout)
    pool = PlayerPool(
        arena.factory,
        info=info,
        rng=np.random.default_rng(seed),
        bots=spec.named_bots(),
        greedy=greedy,
        bot_timeout=arena.bot_timeout,
    )
    pool.set_snapshots(arena.weights)
    actors: dict[str, Any] = {
        t: human if t == mine else pool.get(opponent, roles[t]) for t in teams
    }
    players = {t: PlayerId.of_bot(HUMAN) if t == mine else opponent for t in teams}
    env = render_env(spec, info, mode)
    order = " then ".join(teams)
    human.say(f"{spec.name}: you are {mine} (seat {seat}) against {opponent}; turns: {order}")

    def show(game: GameEnv, actions: dict[str, Any]) -> None:
        for agent, action in actions.items():
            who = "you" if info.team_of[agent] == mine else str(opponent)
            human.say(f"{agent} ({who}) plays {board.label(int(action))}")
        acting = game.acting()
        obs = game.observe(acting[0])[0] if acting else np.zeros(0)
        human.say(board.draw(game.unwrapped, obs))

    try:
        return play_match(env, actors, players, seed=seed, on_step=show)
    finally:
        env.close()


def verdict(result: MatchResult, team: str) -> str:
    """How the game ended, from `team`'s side, in words."""
    score = result.result.get(team)
    if score is None:
        return "game over"
    return {1.0: "you win", 0.0: "you lose"}.get(score, "draw")
