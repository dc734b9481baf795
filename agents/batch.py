"""The trajectory batch that rollouts produce and learners consume."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass
class Batch:
    """Agent-steps of one role, stream by stream.

    Each stream (one agent's part of one episode) is contiguous and its last
    step has `done` set, so `gae` can run over the flat arrays.

    | field      | shape          | meaning                                            |
    |------------|----------------|----------------------------------------------------|
    | obs        | [N, *obs]      | the agent's observation                            |
    | mask       | [N, A] bool    | legal actions (all True when the game has none)    |
    | member     | [N] int        | index of the agent within its team                 |
    | action     | [N] or [N, D]  | the action taken                                   |
    | logp       | [N]            | behaviour log-probability of the action            |
    | value      | [N]            | behaviour value estimate                           |
    | probs      | [N, A]         | behaviour action distribution (discrete; else [N,0])|
    | reward     | [N]            | shaped reward                                      |
    | components | [N, C]         | raw reward components, before shaping              |
    | done       | [N] bool       | last step of its stream                            |
    | bootstrap  | [N]            | value after a truncated last step (else 0)         |
    | version    | [N] int        | policy version that acted                          |
    | team       | [N] int        | team index of the agent                            |
    | episode    | [N] int        | episode id                                         |
    | opponent   | [N] int        | opponent snapshot id (-1: latest, -2: a bot)       |
    """

    obs: np.ndarray
    mask: np.ndarray
    member: np.ndarray
    action: np.ndarray
    logp: np.ndarray
    value: np.ndarray
    probs: np.ndarray
    reward: np.ndarray
    components: np.ndarray
    done: np.ndarray
    bootstrap: np.ndarray
    version: np.ndarray
    team: np.ndarray
    episode: np.ndarray
    opponent: np.ndarray

    def __len__(self) -> int:
        return len(self.reward)

    @staticmethod
    def concat(batches: list[Batch]) -> Batch:
        """Join batches end to end (streams stay contiguous)."""
        if not batches:
            raise ValueError("cannot concatenate an empty list of batches")
        return Batch(
            **{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(Batch)}
        )
