"""The trajectory batch that rollouts produce and learners consume."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from agents.maths import gae


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
    | truncated  | [N] bool       | stream cut before the episode ended (time limit)   |
    | bootstrap  | [N]            | behaviour V(next obs) after a truncated step, else 0|
    | version    | [N] int        | policy version that acted                          |
    | team       | [N] int        | team index of the agent                            |
    | episode    | [N] int        | episode id                                         |
    | state      | [N, S]         | recurrent state the agent acted from ([N, 0]: none)|

    A stream ends either at the end of its agent's episode (`done`, not `truncated`:
    nothing follows) or cut short (`done` and `truncated`: `bootstrap` holds the value
    of the observation that follows, to bootstrap from).
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
    truncated: np.ndarray
    bootstrap: np.ndarray
    version: np.ndarray
    team: np.ndarray
    episode: np.ndarray
    state: np.ndarray

    def __len__(self) -> int:
        return len(self.reward)

    def gae(self, *, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
        """Return GAE advantages and returns [N] against the behaviour values."""
        return gae(self.reward, self.value, self.done, self.bootstrap, gamma=gamma, lam=lam)

    def stream_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Each stream's first row and its length."""
        ends = np.flatnonzero(self.done)
        starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
        return starts, ends - starts + 1

    def chunks(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Cut every stream into sequences of `length` rows (truncated backpropagation
        through time): the rows of each sequence [C, length] and which are real [C,
        length]. A stream's last sequence is padded with its own first row (not real);
        sequences never cross streams, so no state is carried over an episode's start.
        With `length` 1 every row is a sequence of its own."""
        starts, lengths = self.stream_bounds()
        per = -(-lengths // length)  # sequences per stream
        first = np.repeat(np.cumsum(per) - per, per)  # index of each stream's first one
        begin = np.repeat(starts, per) + (np.arange(per.sum()) - first) * length
        end = np.repeat(starts + lengths, per)
        rows = begin[:, None] + np.arange(length)
        real = rows < end[:, None]
        return np.where(real, rows, begin[:, None]), real

    def select(self, rows: np.ndarray) -> Batch:
        """The batch of the given rows (an index or a boolean mask over whole streams)."""
        return Batch(**{f.name: getattr(self, f.name)[rows] for f in fields(Batch)})

    @staticmethod
    def concat(batches: list[Batch]) -> Batch:
        """Join batches end to end (streams stay contiguous)."""
        if not batches:
            raise ValueError("cannot concatenate an empty list of batches")
        return Batch(
            **{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(Batch)}
        )
