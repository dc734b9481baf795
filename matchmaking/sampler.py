"""Choose self-play opponents: the latest policy or a historical snapshot, drawn by
quality scores (`OpponentSampler`) or by PFSP (`PFSPSampler`; `NashSampler` is in
`nash.py`, beside its solver).

The history draw follows OpenAI Five's opponent sampling (Berner et al., 2019,
"Dota 2 with Large Scale Deep Reinforcement Learning", appendix on opponent
sampling): every snapshot ``i`` in the pool carries a quality score ``q_i`` and
is drawn with the softmax probability ``p_i = exp(q_i) / sum_j exp(q_j)``.  A new
snapshot enters with the current maximum score of the pool, and whenever the
learner beats snapshot ``i`` its score is lowered by ``quality_lr / (N * p_i)``,
where ``N`` is the pool size.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from numbers import Integral, Real
from typing import Any

import numpy as np

from matchmaking.identity import LATEST, PlayerId
from matchmaking.payoff import (
    _SAMPLER_STATE_VERSION,
    PayoffTable,
    _check_weighting,
    pfsp_weights,
)

__all__ = ["OpponentSampler", "PFSPSampler", "SnapshotPool"]

logger = logging.getLogger(__name__)


_METHODS = ("quality", "uniform")
_STATE_VERSION = 1
# Floor for p_i in the quality update so the decrement stays finite when a
# snapshot's probability underflows; it only matters once p_i < 1e-12, i.e. for
# snapshots that are practically never drawn.
_MIN_UPDATE_PROB = 1e-12


def _check_snapshot_id(snapshot_id: Any) -> int:
    """Return ``snapshot_id`` as an ``int`` or raise ValueError."""
    if isinstance(snapshot_id, bool) or not isinstance(snapshot_id, Integral):
        # ValueError (not TypeError) for every bad argument is part of the API contract.
        raise ValueError(f"snapshot_id must be an int, got {snapshot_id!r}")
    return int(snapshot_id)


def _check_p_latest(p_latest: Any) -> float:
    """Return ``p_latest`` as a float in [0, 1] or raise ValueError."""
    # The chained comparison is False for NaN, so NaN is rejected too.
    if isinstance(p_latest, bool) or not isinstance(p_latest, Real) or not 0.0 <= p_latest <= 1.0:
        raise ValueError(f"p_latest must be a number in [0, 1], got {p_latest!r}")
    return float(p_latest)


def _check_method(method: Any) -> str:
    """Return ``method`` if it names a known sampling method or raise ValueError."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    return str(method)


def _check_quality_lr(quality_lr: Any) -> float:
    """Return ``quality_lr`` as a positive finite float or raise ValueError."""
    if (
        isinstance(quality_lr, bool)
        or not isinstance(quality_lr, Real)
        or not (math.isfinite(quality_lr) and quality_lr > 0.0)
    ):
        raise ValueError(f"quality_lr must be a positive finite number, got {quality_lr!r}")
    return float(quality_lr)


def _check_max_pool(max_pool: Any) -> int | None:
    """Return ``max_pool`` as ``None`` or an int >= 1, else raise ValueError."""
    if max_pool is None:
        return None
    if isinstance(max_pool, bool) or not isinstance(max_pool, Integral) or max_pool < 1:
        raise ValueError(f"max_pool must be None or an int >= 1, got {max_pool!r}")
    return int(max_pool)


def _softmax(scores: np.ndarray) -> np.ndarray:
    """Return the numerically stable softmax of a 1-D score array."""
    shifted = np.exp(scores - scores.max())
    return shifted / shifted.sum()


class SnapshotPool(ABC):
    """What every opponent sampler shares: the latest/history split and a bounded pool.

    ``sample`` returns ``"latest"`` with probability ``p_latest`` (or always while
    the pool is empty), else a pool snapshot drawn from ``_history_probs()``,
    which a subclass defines. The pool is insertion-ordered (oldest first) and
    maps each snapshot id to a per-snapshot value the subclass may use.
    """

    def __init__(self, *, role: str, p_latest: float, max_pool: int | None) -> None:
        self.role = role
        """The role whose snapshots this pool holds (and whose latest policy it may pick)."""
        self._p_latest = _check_p_latest(p_latest)
        self._max_pool = _check_max_pool(max_pool)
        self._pool: dict[int, float] = {}

    @property
    def p_latest(self) -> float:
        """Return the probability of drawing ``"latest"`` from a non-empty pool."""
        return self._p_latest

    @property
    def max_pool(self) -> int | None:
        """Return the pool capacity, or ``None`` if unbounded."""
        return self._max_pool

    @property
    def pool(self) -> list[int]:
        """Return the snapshot ids in the pool, oldest first."""
        return list(self._pool)

    def __len__(self) -> int:
        """Return the number of snapshots in the pool."""
        return len(self._pool)

    def __contains__(self, snapshot_id: object) -> bool:
        """Return whether ``snapshot_id`` is in the pool."""
        return snapshot_id in self._pool

    def probabilities(self) -> dict[int, float]:
        """Return each snapshot's probability in a history draw.

        The values sum to 1 when the pool is non-empty; the dict is empty
        otherwise. They do not include the ``p_latest`` mixing.
        """
        if not self._pool:
            return {}
        probs = self._history_probs()
        return {sid: float(p) for sid, p in zip(self._pool, probs, strict=True)}

    def sample(self, rng: np.random.Generator) -> PlayerId:
        """Draw an opponent: the role's latest policy or a snapshot from the pool.

        Returns the latest policy without consuming randomness when the pool is
        empty. Otherwise one uniform number decides between the latest policy
        (probability ``p_latest``) and the history, and a history draw
        consumes further randomness from ``rng``.
        """
        if not self._pool or rng.random() < self._p_latest:
            return PlayerId.latest(self.role)
        ids = list(self._pool)
        return PlayerId.of_snapshot(
            self.role, ids[int(rng.choice(len(ids), p=self._history_probs()))]
        )

    def update(self, opponent: PlayerId, score: float) -> None:
        """Record a game of the learner (score 1 win, 0.5 draw, 0 loss) against `opponent`.

        Only snapshots of this pool's role that are still in the pool count; any
        other opponent (the latest policy, a bot, a dropped snapshot) is ignored.
        """
        if not isinstance(score, Real) or not 0.0 <= score <= 1.0:
            raise ValueError(f"score must be a number in [0, 1], got {score!r}")
        sid = self._known(opponent)
        if sid is not None:
            self._record(sid, float(score))

    @abstractmethod
    def _record(self, snapshot_id: int, score: float) -> None:
        """Apply a game's result against a known pool snapshot."""

    def _insert(self, snapshot_id: int, value: float) -> None:
        """Add a snapshot (no-op if present), dropping the oldest beyond ``max_pool``."""
        sid = _check_snapshot_id(snapshot_id)
        if sid in self._pool:
            return
        self._pool[sid] = value
        while self._max_pool is not None and len(self._pool) > self._max_pool:
            oldest = next(iter(self._pool))
            del self._pool[oldest]
            self._dropped(oldest)
            logger.debug("dropped oldest snapshot %d (max_pool=%d)", oldest, self._max_pool)

    def _known(self, opponent: Any) -> int | None:
        """Return the snapshot id if `opponent` is in the pool, else None (ignored)."""
        if not isinstance(opponent, PlayerId):
            raise ValueError(f"opponent must be a PlayerId, got {opponent!r}")
        if opponent.role != self.role or opponent.snapshot not in self._pool:
            logger.debug("ignoring update for %s (not in the %s pool)", opponent, self.role)
            return None
        return opponent.snapshot

    def _state(self, version: int, **fields: Any) -> dict[str, Any]:
        """The state every sampler saves (version, p_latest, pool; max_pool when set)
        with a subclass's own `fields`."""
        state = {"version": version, "p_latest": self._p_latest, "pool": list(self._pool)}
        if self._max_pool is not None:
            state["max_pool"] = self._max_pool
        return state | fields

    @staticmethod
    def _check_state(
        state: Any, *, version: int, keys: tuple[str, ...]
    ) -> tuple[float, int | None]:
        """Check a state dict's type, version and keys; return its (p_latest, max_pool)."""
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict, got {type(state).__name__}")
        if state.get("version") != version:
            raise ValueError(f"state['version'] must be {version}, got {state.get('version')!r}")
        for key in ("p_latest", "pool", *keys):
            if key not in state:
                raise ValueError(f"state is missing key {key!r}")
        return _check_p_latest(state["p_latest"]), _check_max_pool(state.get("max_pool"))

    @staticmethod
    def _check_pool_ids(raw_pool: Any, max_pool: int | None) -> list[int]:
        """Check a stored pool: a list of distinct snapshot ids within ``max_pool``."""
        if not isinstance(raw_pool, list):
            raise ValueError(f"state['pool'] must be a list, got {type(raw_pool).__name__}")
        if max_pool is not None and len(raw_pool) > max_pool:
            raise ValueError(
                f"state['pool'] has {len(raw_pool)} snapshots, more than max_pool={max_pool}"
            )
        ids: list[int] = []
        for raw_id in raw_pool:
            sid = _check_snapshot_id(raw_id)
            if sid in ids:
                raise ValueError(f"state['pool'] contains duplicate snapshot id {sid}")
            ids.append(sid)
        return ids

    def discard(self, snapshot_id: int) -> None:
        """Take a snapshot out of the pool (its weights are lost: quarantined); no-op if
        absent."""
        if self._pool.pop(snapshot_id, None) is not None:
            self._dropped(snapshot_id)

    def _dropped(self, snapshot_id: int) -> None:  # noqa: B027 - an optional hook
        """React to a snapshot leaving the pool (subclasses may forget its records)."""

    @abstractmethod
    def _history_probs(self) -> np.ndarray:
        """Return history-draw probabilities in pool order (pool non-empty)."""


class OpponentSampler(SnapshotPool):
    """Pick self-play opponents: the latest policy or a historical snapshot.

    With probability ``p_latest`` (or always, while the pool is empty)
    :meth:`sample` returns the role's latest policy; otherwise a snapshot
    from the pool, drawn by softmax over quality scores
    (``method="quality"``, OpenAI Five) or uniformly (``method="uniform"``).

    Quality scores are maintained under both methods, so :meth:`update` is
    meaningful either way; only the history-draw distribution differs.
    """

    def __init__(
        self,
        *,
        role: str = "main",
        p_latest: float = 0.8,
        method: str = "quality",
        quality_lr: float = 0.01,
        max_pool: int | None = None,
    ) -> None:
        """Create an empty sampler.

        Args:
            role: the role whose snapshots the pool holds.
            p_latest: probability of returning the latest policy when the pool is non-empty.
            method: ``"quality"`` (softmax over quality scores) or ``"uniform"``.
            quality_lr: step size of the quality-score update.
            max_pool: if set, adding beyond this many snapshots drops the oldest.

        Raises:
            ValueError: if an argument is out of range or of the wrong type.
        """
        super().__init__(role=role, p_latest=p_latest, max_pool=max_pool)
        self._method = _check_method(method)
        self._quality_lr = _check_quality_lr(quality_lr)

    # ------------------------------------------------------------------ info
    @property
    def method(self) -> str:
        """Return the history-draw method (``"quality"`` or ``"uniform"``)."""
        return self._method

    @property
    def quality_lr(self) -> float:
        """Return the quality-score step size."""
        return self._quality_lr

    def __repr__(self) -> str:
        """Return a short description of the sampler."""
        return (
            f"{type(self).__name__}(p_latest={self._p_latest}, method={self._method!r}, "
            f"quality_lr={self._quality_lr}, max_pool={self._max_pool}, pool_size={len(self)})"
        )

    def scores(self) -> dict[int, float]:
        """Return a copy of the quality score of every snapshot, oldest first."""
        return dict(self._pool)

    # -------------------------------------------------------------- mutation
    def add(self, snapshot_id: int) -> None:
        """Add a snapshot to the pool at the pool's current maximum score.

        The first snapshot gets score 0.0. Adding an id already in the pool is
        a no-op. If ``max_pool`` is set and the pool is full, the oldest
        snapshot is dropped after the new score has been computed.
        """
        score = max(self._pool.values()) if self._pool else 0.0
        self._insert(snapshot_id, score)

    def _record(self, sid: int, score: float) -> None:
        """Apply OpenAI Five's quality update after a game against a snapshot.

        If the learner beat snapshot ``i`` (score 1), ``q_i -= quality_lr / (N * p_i)``
        with ``N`` the pool size and ``p_i`` the snapshot's current softmax
        probability (the softmax is used even under ``method="uniform"``);
        ``p_i`` is floored at 1e-12 to keep scores finite. A draw or a loss
        changes nothing.
        """
        if score != 1.0:
            return
        ids = list(self._pool)
        p_i = max(float(self._quality_probs()[ids.index(sid)]), _MIN_UPDATE_PROB)
        self._pool[sid] -= self._quality_lr / (len(ids) * p_i)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable snapshot of the configuration and pool.

        The result contains only str keys and int, float, str and list
        values; ``max_pool`` is omitted when it is ``None``.
        """
        return self._state(
            _STATE_VERSION,
            method=self._method,
            quality_lr=self._quality_lr,
            scores=[float(s) for s in self._pool.values()],
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore configuration and pool from :meth:`state_dict` output.

        The sampler is left unchanged if ``state`` is invalid.

        Raises:
            ValueError: if ``state`` is malformed.
        """
        p_latest, max_pool = self._check_state(
            state, version=_STATE_VERSION, keys=("method", "quality_lr", "scores")
        )
        method = _check_method(state["method"])
        quality_lr = _check_quality_lr(state["quality_lr"])
        ids, scores = self._check_pool_ids(state["pool"], max_pool), state["scores"]
        if not isinstance(scores, list) or len(scores) != len(ids):
            raise ValueError(
                f"state['scores'] must be a list of the same length as state['pool'] "
                f"({len(ids)}), got {scores!r}"
            )
        restored: dict[int, float] = {}
        for sid, raw_score in zip(ids, scores, strict=True):
            if (
                isinstance(raw_score, bool)
                or not isinstance(raw_score, Real)
                or not math.isfinite(raw_score)
            ):
                raise ValueError(
                    f"score for snapshot {sid} must be a finite number, got {raw_score!r}"
                )
            restored[sid] = float(raw_score)
        self._p_latest = p_latest
        self._method = method
        self._quality_lr = quality_lr
        self._max_pool = max_pool
        self._pool = restored

    # -------------------------------------------------------------- internal
    def _history_probs(self) -> np.ndarray:
        """Return softmax over quality scores, or uniform, in pool order."""
        if self._method == "uniform":
            return np.full(len(self), 1.0 / len(self))
        return self._quality_probs()

    def _quality_probs(self) -> np.ndarray:
        """Return the softmax over quality scores in pool order (pool must be non-empty)."""
        return _softmax(np.fromiter(self._pool.values(), dtype=np.float64, count=len(self)))


class PFSPSampler(SnapshotPool):
    """Pick self-play opponents: the latest policy or a snapshot chosen by PFSP.

    Drop-in alternative to :class:`matchmaking.OpponentSampler`. With
    probability ``p_latest`` (or always, while the pool is empty)
    :meth:`sample` returns the latest policy; otherwise it draws a pool snapshot
    with :func:`pfsp_weights` of the learner's decayed win rate against it.
    The rates live in an owned :class:`PayoffTable` between the players as
    ``PlayerId`` names them (``main@latest``, ``main@12``); unplayed snapshots get
    ``prior``.
    """

    def __init__(
        self,
        *,
        role: str = "main",
        p_latest: float = 0.8,
        weighting: str = "squared",
        decay: float = 0.99,
        prior: float = 0.5,
        max_pool: int | None = None,
    ) -> None:
        """Create an empty sampler.

        Args:
            role: the role whose snapshots the pool holds.
            p_latest: probability of returning the latest policy when the pool is non-empty.
            weighting: PFSP weighting, one of :data:`WEIGHTINGS`.
            decay: payoff-table decay applied per game against a snapshot.
            prior: win rate assumed against snapshots the learner has not played.
            max_pool: if set, adding beyond this many snapshots drops the oldest.

        Raises:
            ValueError: if an argument is out of range or of the wrong type.
        """
        super().__init__(role=role, p_latest=p_latest, max_pool=max_pool)
        self._weighting = _check_weighting(weighting)
        self._payoff = PayoffTable(decay=decay, prior=prior)

    # ------------------------------------------------------------------ info
    @property
    def weighting(self) -> str:
        """Return the PFSP weighting name."""
        return self._weighting

    @property
    def payoff(self) -> PayoffTable:
        """Return the sampler's payoff table (live, not a copy)."""
        return self._payoff

    def __repr__(self) -> str:
        """Return a short description of the sampler."""
        return (
            f"{type(self).__name__}(p_latest={self._p_latest}, weighting={self._weighting!r}, "
            f"decay={self._payoff.decay}, prior={self._payoff.prior}, "
            f"max_pool={self._max_pool}, pool_size={len(self)})"
        )

    def win_rates(self) -> dict[int, float]:
        """Return the learner's decayed win rate against every snapshot, oldest first."""
        me = self._name(None)
        return {sid: self._payoff.win_rate(me, self._name(sid)) for sid in self._pool}

    # -------------------------------------------------------------- mutation
    def add(self, snapshot_id: int) -> None:
        """Add a snapshot to the pool with no recorded games.

        Adding an id already in the pool is a no-op. If ``max_pool`` is set and
        the pool is full, the oldest snapshot and its payoff entries are dropped.
        """
        self._insert(snapshot_id, 0.0)

    def _dropped(self, snapshot_id: int) -> None:
        self._payoff.remove(self._name(snapshot_id))

    def _record(self, sid: int, score: float) -> None:
        """Record the learner's score (1 win, 0.5 draw, 0 loss) against a pool snapshot."""
        self._payoff.update(self._name(None), self._name(sid), score)

    def _name(self, sid: int | None) -> str:
        """A player's name in the payoff table: the role's latest policy (None) or one of
        its snapshots, as `PlayerId` writes it."""
        player = PlayerId.latest(self.role) if sid is None else PlayerId.of_snapshot(self.role, sid)
        return str(player)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable snapshot of the configuration, pool and payoffs.

        ``max_pool`` is omitted when it is ``None``.
        """
        return self._state(
            _SAMPLER_STATE_VERSION, weighting=self._weighting, payoff=self._payoff.state_dict()
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore configuration, pool and payoffs from :meth:`state_dict` output.

        The sampler is left unchanged if ``state`` is invalid.

        Raises:
            ValueError: if ``state`` is malformed.
        """
        p_latest, max_pool = self._check_state(
            state, version=_SAMPLER_STATE_VERSION, keys=("weighting", "payoff")
        )
        weighting = _check_weighting(state["weighting"])
        pool = dict.fromkeys(self._check_pool_ids(state["pool"], max_pool), 0.0)
        payoff = PayoffTable()
        payoff.load_state_dict(self._renamed(state["payoff"]))
        self._p_latest = p_latest
        self._weighting = weighting
        self._max_pool = max_pool
        self._pool = pool
        self._payoff = payoff

    def _renamed(self, payoff: Any) -> Any:
        """A payoff table's state with the names of a checkpoint written before players
        had one name everywhere (``latest`` and bare snapshot ids) in today's form."""
        if not isinstance(payoff, dict) or not isinstance(payoff.get("pairs"), list):
            return payoff  # malformed: PayoffTable says how

        def name(old: Any) -> Any:
            if old == LATEST:
                return self._name(None)
            return self._name(int(old)) if isinstance(old, str) and old.isdigit() else old

        pairs = [
            [name(e[0]), name(e[1]), *e[2:]] if isinstance(e, list) and len(e) > 2 else e
            for e in payoff["pairs"]
        ]
        return {**payoff, "pairs": pairs}

    # -------------------------------------------------------------- internal
    def _history_probs(self) -> np.ndarray:
        """Return the PFSP probabilities in pool order (pool must be non-empty)."""
        return pfsp_weights(list(self.win_rates().values()), self._weighting)
