from __future__ import annotations

# Opponent matchmaking for self-play: choose between the latest policy and history.
from matchmaking.sampler import LATEST, OpponentSampler

__all__ = ["LATEST", "OpponentSampler"]
