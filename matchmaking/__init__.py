"""Matchmaking: who plays whom (pure Python + numpy; no torch, no Ray, no database)."""

from __future__ import annotations

from matchmaking.identity import (
    HUMAN,
    LATEST,
    MCTS,
    RANDOM,
    RESERVED,
    SCRIPTED,
    PlayerId,
    mcts_simulations,
)
from matchmaking.league import (
    BEST_RESPONSE,
    DEFAULT_SHARES,
    KINDS,
    LEAGUE_EXPLOITER,
    MAIN,
    MAIN_EXPLOITER,
    FreezeRule,
    Frozen,
    League,
    LeagueAgent,
    LeagueMatchmaker,
)
from matchmaking.matchmakers import (
    Matchmaker,
    Matchup,
    SelfPlayMatchmaker,
    VersusMatchmaker,
    record_outcome,
)
from matchmaking.nash import NashSampler, NashSolution, nash_averaging, solve_zero_sum
from matchmaking.payoff import WEIGHTINGS, PayoffTable, pfsp_weights
from matchmaking.ratings import (
    bradley_terry,
    mean_interval,
    payoff_matrix,
    rating_intervals,
    wilson_interval,
)
from matchmaking.sampler import OpponentSampler, PFSPSampler, SnapshotPool

__all__ = [
    "BEST_RESPONSE",
    "DEFAULT_SHARES",
    "HUMAN",
    "KINDS",
    "LATEST",
    "LEAGUE_EXPLOITER",
    "MAIN",
    "MAIN_EXPLOITER",
    "MCTS",
    "RANDOM",
    "RESERVED",
    "SCRIPTED",
    "WEIGHTINGS",
    "FreezeRule",
    "Frozen",
    "League",
    "LeagueAgent",
    "LeagueMatchmaker",
    "Matchmaker",
    "Matchup",
    "NashSampler",
    "NashSolution",
    "OpponentSampler",
    "PFSPSampler",
    "PayoffTable",
    "PlayerId",
    "SelfPlayMatchmaker",
    "SnapshotPool",
    "VersusMatchmaker",
    "bradley_terry",
    "mcts_simulations",
    "mean_interval",
    "nash_averaging",
    "payoff_matrix",
    "pfsp_weights",
    "rating_intervals",
    "record_outcome",
    "solve_zero_sum",
    "wilson_interval",
]
