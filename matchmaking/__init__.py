"""Opponent matchmaking for self-play: choose between the latest policy and history."""

from __future__ import annotations

from matchmaking.payoff import WEIGHTINGS, PayoffTable, PFSPSampler, pfsp_weights
from matchmaking.ratings import bradley_terry, payoff_matrix, rating_intervals, wilson_interval
from matchmaking.sampler import LATEST, OpponentSampler

__all__ = [
    "LATEST",
    "WEIGHTINGS",
    "OpponentSampler",
    "PFSPSampler",
    "PayoffTable",
    "bradley_terry",
    "payoff_matrix",
    "pfsp_weights",
    "rating_intervals",
    "wilson_interval",
]
