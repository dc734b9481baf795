"""Measuring strength: matchups (`Arena`), ratings, tournaments and their plots."""

from __future__ import annotations

from league.evaluation.arena import LATEST, Arena, EvalError, MatchStats
from league.evaluation.leaderboard import (
    RATING_ANCHOR,
    Leaderboard,
    ReturnBoard,
    leaderboard,
    leaderboard_ratings,
    plot_leaderboard,
    plot_returns,
    results_from_matches,
    return_ranking,
    schedule_pairs,
    tournament,
)

__all__ = [
    "LATEST",
    "RATING_ANCHOR",
    "Arena",
    "EvalError",
    "Leaderboard",
    "MatchStats",
    "ReturnBoard",
    "leaderboard",
    "leaderboard_ratings",
    "plot_leaderboard",
    "plot_returns",
    "results_from_matches",
    "return_ranking",
    "schedule_pairs",
    "tournament",
]
