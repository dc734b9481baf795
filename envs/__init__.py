"""PettingZoo games for the league: specs, built-in games and unified stepping.

This package knows PettingZoo and numpy, never torch, Ray or SQLite.
"""

from __future__ import annotations

from envs.adapter import GameEnv, StepResult
from envs.games import BUILTIN_GAMES, builtin_game, list_games
from envs.rewards import ShapingParams, shape_rewards
from envs.spec import GameError, GameInfo, GameSpec, Mirror, Spaces, infer_teams

__all__ = [
    "BUILTIN_GAMES",
    "GameEnv",
    "GameError",
    "GameInfo",
    "GameSpec",
    "Mirror",
    "ShapingParams",
    "Spaces",
    "StepResult",
    "builtin_game",
    "infer_teams",
    "list_games",
    "shape_rewards",
]
