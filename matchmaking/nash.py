"""Nash equilibria of zero-sum matrix games, Nash averaging and a PSRO-style Nash sampler.

:func:`solve_zero_sum` finds each player's maximin strategy and the game value by
linear programming (``scipy.optimize.linprog``, HiGHS). A game often has many
optimal strategies (two identical strategies can share their weight in any
proportion), so, following Nash averaging (Balduzzi et al., 2018,
"Re-evaluating evaluation"), the solver returns the unique optimal strategy of
maximum entropy: it first finds the strategies that some optimal strategy plays
(a second linear program), then maximises entropy over the optimal strategies on
that support (``scipy.optimize.minimize``, SLSQP). Strategies no optimal strategy
plays, such as strictly dominated ones, get weight exactly 0.

:class:`NashSampler` is PSRO's Nash meta-strategy (Lanctot et al., 2017, "A
unified game-theoretic approach to multiagent reinforcement learning") as an
opponent sampler: it draws pool snapshots by the Nash mixture of the
snapshot-versus-snapshot payoff matrix.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
from scipy.optimize import linprog, minimize

from matchmaking.sampler import SnapshotPool, _check_snapshot_id

__all__ = ["NashSampler", "NashSolution", "nash_averaging", "solve_zero_sum"]

logger = logging.getLogger(__name__)

_STATE_VERSION = 1
# Weights below this are set to 0 (and the rest renormalised).
_MIN_WEIGHT = 1e-9
# Slack, in units of the payoff range, when checking a maximum-entropy strategy is optimal.
_OPTIMAL_TOL = 1e-9
# Cap on the unnormalised weights of the support program: a strategy counts as
# playable if some optimal strategy gives it at least about 1 / (pool * cap).
_SUPPORT_CAP = 1e6
_SLSQP_MAXITER = 500


@dataclass(frozen=True)
class NashSolution:
    """A Nash equilibrium of a two-player zero-sum matrix game."""

    row: np.ndarray
    """The row player's maximum-entropy maximin strategy (sums to 1)."""
    col: np.ndarray
    """The column player's maximum-entropy minimax strategy (sums to 1)."""
    value: float
    """The row player's expected payoff at equilibrium (the game value)."""


def _check_payoff(payoff: Any) -> np.ndarray:
    """Return ``payoff`` as a finite non-empty 2-D float array or raise ValueError."""
    try:
        matrix = np.array(payoff, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"payoff must be a 2-D array of numbers, got {payoff!r}") from None
    if matrix.ndim != 2 or matrix.size == 0:
        raise ValueError(f"payoff must be a non-empty 2-D array, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("payoff must contain only finite numbers")
    return matrix


def _maximin(payoff: np.ndarray) -> tuple[np.ndarray, float]:
    """Solve the row player's LP: maximise ``v`` with ``payoff.T @ p >= v`` on the simplex."""
    m, n = payoff.shape
    cost = np.zeros(m + 1)
    cost[-1] = -1.0
    res = linprog(
        cost,
        A_ub=np.hstack([-payoff.T, np.ones((n, 1))]),
        b_ub=np.zeros(n),
        A_eq=np.append(np.ones(m), 0.0)[None, :],
        b_eq=[1.0],
        bounds=[(0.0, None)] * m + [(None, None)],
        method="highs",
    )
    if res.status != 0:
        raise RuntimeError(f"maximin linear program failed: {res.message}")
    strategy = np.clip(res.x[:m], 0.0, None)
    return strategy / strategy.sum(), float(res.x[-1])


def _playable(payoff: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the strategies some optimal strategy plays, and an optimal point playing all.

    Solves ``max sum(t)`` over ``0 <= t <= min(y, 1)``, ``0 <= y <= cap`` and
    ``(payoff - floor).T @ y >= 0``. Scaling an optimal strategy up keeps it
    feasible, so ``t_i`` reaches 1 for every strategy that some optimal
    strategy plays (with weight at least about ``1 / (m * cap)``) and stays 0
    for the others; ``y / sum(y)`` is an optimal strategy that plays them all.
    """
    m, n = payoff.shape
    res = linprog(
        np.concatenate([np.zeros(m), -np.ones(m)]),
        A_ub=np.block([[-(payoff - floor).T, np.zeros((n, m))], [-np.eye(m), np.eye(m)]]),
        b_ub=np.zeros(n + m),
        bounds=[(0.0, _SUPPORT_CAP)] * m + [(0.0, 1.0)] * m,
        method="highs",
    )
    if res.status != 0:
        raise RuntimeError(f"support linear program failed: {res.message}")
    support = res.x[m:] > 0.5
    weights = res.x[:m][support]
    return support, weights / weights.sum()


def _max_entropy(payoff: np.ndarray, start: np.ndarray, floor: float) -> np.ndarray | None:
    """Maximise entropy over ``p`` on the simplex with ``payoff.T @ p >= floor`` (SLSQP).

    Starts from the optimal strategy ``start``; returns None if SLSQP ends at
    a point that is not a (nearly) optimal strategy or has less entropy than ``start``.
    """

    def neg_entropy(p: np.ndarray) -> tuple[float, np.ndarray]:
        log_p = np.log(np.maximum(p, 1e-300))
        return float(p @ log_p), log_p + 1.0

    constraints = [
        {"type": "ineq", "fun": lambda p: payoff.T @ p - floor, "jac": lambda p: payoff.T},
        {"type": "eq", "fun": lambda p: p.sum() - 1.0, "jac": lambda p: np.ones((1, p.size))},
    ]
    res = minimize(
        neg_entropy,
        start,
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * start.size,
        constraints=constraints,
        options={"maxiter": _SLSQP_MAXITER, "ftol": 1e-14},
    )
    p = res.x
    if (
        not np.all(np.isfinite(p))
        or p.min() < -_OPTIMAL_TOL
        or abs(p.sum() - 1.0) > _OPTIMAL_TOL
        or (payoff.T @ p).min() < floor - _OPTIMAL_TOL
        or neg_entropy(p)[0] > neg_entropy(start)[0] + _OPTIMAL_TOL
    ):
        logger.debug("maximum-entropy step failed (%s); keeping an LP solution", res.message)
        return None
    return p


def _optimal_strategy(payoff: np.ndarray) -> tuple[np.ndarray, float]:
    """Return the row player's maximum-entropy maximin strategy and the game value."""
    low, spread = float(payoff.min()), float(np.ptp(payoff))
    scale = spread if spread > 0.0 else 1.0
    scaled = (payoff - low) / scale  # entries in [0, 1], so tolerances are absolute
    lp_strategy, value = _maximin(scaled)
    floor = float((scaled.T @ lp_strategy).min())
    support, start = _playable(scaled, floor)
    strategy = np.zeros(payoff.shape[0])
    strategy[support] = start
    if support.sum() > 1:
        refined = _max_entropy(scaled[support], start, floor)
        if refined is not None:
            strategy[support] = refined
    strategy[strategy < _MIN_WEIGHT] = 0.0
    return strategy / strategy.sum(), low + scale * value


def solve_zero_sum(payoff: np.ndarray) -> NashSolution:
    """Return the maximum-entropy Nash equilibrium of a two-player zero-sum matrix game.

    ``payoff[i, j]`` is what the row player wins (and the column player loses)
    when the row player plays ``i`` and the column player ``j``; any shape
    ``m x n`` works. Each player's strategy is the maximum-entropy one among
    its optimal (maximin) strategies, so the answer is unique; weights below
    1e-9 are set to 0.

    Raises:
        ValueError: if ``payoff`` is not a non-empty 2-D array of finite numbers.
    """
    matrix = _check_payoff(payoff)
    row, value = _optimal_strategy(matrix)
    col, _ = _optimal_strategy(-matrix.T)
    return NashSolution(row=row, col=col, value=value)


def nash_averaging(payoff: np.ndarray, centre: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Return Nash averaging of a population: Nash weights and payoffs against the mixture.

    ``payoff[i, j]`` is what player ``i`` scores against player ``j`` in a
    symmetric game that is zero-sum around ``centre`` (``payoff[i, j] +
    payoff[j, i] == 2 * centre``; ``centre=0.5`` for win rates). NaN entries,
    such as the diagonal and unplayed pairs of :func:`matchmaking.payoff_matrix`,
    count as even games (``centre``). The weights are the maximum-entropy Nash
    equilibrium of the antisymmetric game ``(P - P.T) / 2`` (Balduzzi et al.,
    2018); the payoffs are ``P @ weights``, each player's expected score
    against the Nash mixture. One player gets weight 1; no players give empty arrays.

    Raises:
        ValueError: if ``payoff`` is not square, has an infinite entry or
            ``centre`` is not a finite number.
    """
    if isinstance(centre, bool) or not isinstance(centre, Real) or not math.isfinite(centre):
        raise ValueError(f"centre must be a finite number, got {centre!r}")
    matrix = np.array(payoff, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"payoff must be a square 2-D array, got shape {matrix.shape}")
    if np.any(np.isinf(matrix)):
        raise ValueError("payoff must not contain infinite entries")
    matrix = np.where(np.isnan(matrix), float(centre), matrix)
    if matrix.shape[0] <= 1:
        weights = np.ones(matrix.shape[0])
    else:
        # A symmetric game: the column player's strategy equals the row player's.
        weights, _ = _optimal_strategy((matrix - matrix.T) / 2.0)
    return weights, matrix @ weights


# --------------------------------------------------------------------- sampler
def _check_pair(a: Any, b: Any) -> tuple[int, int]:
    """Return two distinct snapshot ids ``(a, b)`` or raise ValueError naming the bad one."""
    for name, value in (("a", a), ("b", b)):
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise ValueError(f"{name} must be an int snapshot id, got {value!r}")
    if a == b:
        raise ValueError(f"a and b must be different snapshots, got {a!r} twice")
    return int(a), int(b)


def _check_finite(name: str, value: Any) -> float:
    """Return ``value`` as a finite float or raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _check_games(name: str, games: Any) -> int:
    """Return ``games`` as an int >= 1 or raise ValueError naming ``name``."""
    if isinstance(games, bool) or not isinstance(games, Integral) or games < 1:
        raise ValueError(f"{name} must be an int >= 1, got {games!r}")
    return int(games)


class NashSampler(SnapshotPool):
    """Pick self-play opponents: the latest policy or a snapshot drawn by the Nash mixture.

    PSRO's Nash meta-strategy (Lanctot et al., 2017) as an alternative to
    :class:`matchmaking.OpponentSampler`. With probability ``p_latest`` (or
    always, while the pool is empty) :meth:`sample` returns the latest policy;
    otherwise it draws a pool snapshot from the maximum-entropy Nash
    equilibrium of the pool's snapshot-versus-snapshot payoff matrix ``M``.

    ``M[a, b]`` is the mean payoff of snapshot ``a`` against snapshot ``b`` in
    the game's zero-sum units (centre 0: a score minus 0.5, or chips), fed by
    :meth:`record_pair` and :meth:`set_pair`; ``M[b, a] == -M[a, b]`` and pairs
    without results count as even (0). The trainer plays the pairs that
    :meth:`pairs_missing` lists. The equilibrium is recomputed only when ``M``
    changed since it was last needed.

    :meth:`update` (the learner's games against snapshots) validates its
    arguments but does not change the mixture: the learner keeps changing,
    so its results say nothing lasting about how the snapshots compare.
    """

    def __init__(
        self, *, role: str = "main", p_latest: float = 0.8, max_pool: int | None = None
    ) -> None:
        """Create an empty sampler.

        Args:
            role: the role whose snapshots the pool holds.
            p_latest: probability of returning the latest policy when the pool is non-empty.
            max_pool: if set, adding beyond this many snapshots drops the oldest
                together with its pair results.

        Raises:
            ValueError: if an argument is out of range or of the wrong type.
        """
        super().__init__(role=role, p_latest=p_latest, max_pool=max_pool)
        # (lower id, higher id) -> [total payoff of the lower id, games].
        self._pairs: dict[tuple[int, int], list[float]] = {}
        self._weights: np.ndarray | None = None  # cached Nash mixture, pool order

    # ------------------------------------------------------------------ info
    @property
    def method(self) -> str:
        """Return the history-draw method, always ``"nash"``."""
        return "nash"

    def __repr__(self) -> str:
        """Return a short description of the sampler."""
        return (
            f"{type(self).__name__}(p_latest={self._p_latest}, max_pool={self._max_pool}, "
            f"pool_size={len(self)}, pairs={len(self._pairs)})"
        )

    def pair_payoff(self, a: int, b: int) -> float:
        """Return the mean payoff of snapshot ``a`` against ``b`` (0.0 if unplayed)."""
        a, b = _check_pair(a, b)
        total, games = self._pairs.get((min(a, b), max(a, b)), (0.0, 1))
        mean = total / games
        return mean if a < b else -mean

    def pair_games(self, a: int, b: int) -> int:
        """Return the number of recorded games between snapshots ``a`` and ``b``."""
        a, b = _check_pair(a, b)
        return int(self._pairs.get((min(a, b), max(a, b)), (0.0, 0))[1])

    def payoff_matrix(self) -> np.ndarray:
        """Return ``M`` in pool order: ``M[i, j]`` is snapshot i's mean payoff against j."""
        index = {sid: i for i, sid in enumerate(self._pool)}
        matrix = np.zeros((len(index), len(index)))
        for (a, b), (total, games) in self._pairs.items():
            matrix[index[a], index[b]] = total / games
            matrix[index[b], index[a]] = -total / games
        return matrix

    def nash_weights(self) -> dict[int, float]:
        """Return each snapshot's weight in the Nash mixture, oldest first (empty if no pool)."""
        return self.probabilities()

    def pairs_missing(self, snapshot_id: int) -> list[int]:
        """Return the pool snapshots ``snapshot_id`` has no recorded result against.

        Raises:
            ValueError: if ``snapshot_id`` is not an int or not in the pool.
        """
        sid = _check_snapshot_id(snapshot_id)
        if sid not in self._pool:
            raise ValueError(f"snapshot_id {sid} is not in the pool")
        return [
            other
            for other in self._pool
            if other != sid and (min(sid, other), max(sid, other)) not in self._pairs
        ]

    # -------------------------------------------------------------- mutation
    def add(self, snapshot_id: int) -> None:
        """Add a snapshot to the pool with no pair results (even against everyone).

        Adding an id already in the pool is a no-op. If ``max_pool`` is set and
        the pool is full, the oldest snapshot and its pair results are dropped.
        """
        sid = _check_snapshot_id(snapshot_id)
        if sid not in self._pool:
            self._insert(sid, 0.0)
            self._weights = None

    def record_pair(self, a: int, b: int, payoff_a: float, games: int = 1) -> None:
        """Record ``games`` games of snapshot ``a`` against ``b`` with mean payoff ``payoff_a``.

        ``payoff_a`` is in the game's zero-sum units (centre 0: a score minus
        0.5, or chips); the pair's mean is kept over all its games, in both
        seating orders. Pairs with a snapshot outside the pool (not yet added,
        or dropped) are ignored.

        Raises:
            ValueError: if ``a`` or ``b`` is not an int, ``a == b``, ``payoff_a``
                is not a finite number or ``games`` is not an int >= 1.
        """
        a, b = _check_pair(a, b)
        payoff = _check_finite("payoff_a", payoff_a)
        count = _check_games("games", games)
        if not self._in_pool(a, b):
            return
        stats = self._pairs.setdefault((min(a, b), max(a, b)), [0.0, 0])
        stats[0] += (payoff if a < b else -payoff) * count
        stats[1] += count
        self._weights = None

    def set_pair(self, a: int, b: int, value: float) -> None:
        """Set snapshot ``a``'s exact expected payoff against ``b`` (for exactly computed games).

        Replaces the pair's results by one game of payoff ``value``, so later
        :meth:`record_pair` calls average with it as one game. Pairs with a
        snapshot outside the pool are ignored.

        Raises:
            ValueError: if ``a`` or ``b`` is not an int, ``a == b`` or ``value``
                is not a finite number.
        """
        a, b = _check_pair(a, b)
        payoff = _check_finite("value", value)
        if not self._in_pool(a, b):
            return
        self._pairs[(min(a, b), max(a, b))] = [payoff if a < b else -payoff, 1]
        self._weights = None

    def _in_pool(self, a: int, b: int) -> bool:
        """Return whether both snapshots are in the pool (logging the pair if not)."""
        if a in self._pool and b in self._pool:
            return True
        logger.debug("ignoring pair (%d, %d): not both in the %s pool", a, b, self.role)
        return False

    def _dropped(self, snapshot_id: int) -> None:
        self._pairs = {pair: s for pair, s in self._pairs.items() if snapshot_id not in pair}
        self._weights = None

    def _record(self, snapshot_id: int, score: float) -> None:
        """Ignore the learner's result: only snapshot-versus-snapshot results shape ``M``."""

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable snapshot of the configuration, pool and pair results.

        ``pairs`` lists ``[a, b, total_payoff_of_a, games]`` with ``a < b``;
        ``max_pool`` is omitted when it is ``None``.
        """
        pairs = [[a, b, float(total), int(games)] for (a, b), (total, games) in self._pairs.items()]
        return self._state(_STATE_VERSION, pairs=pairs)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore configuration, pool and pair results from :meth:`state_dict` output.

        The sampler is left unchanged if ``state`` is invalid.

        Raises:
            ValueError: if ``state`` is malformed.
        """
        p_latest, max_pool = self._check_state(state, version=_STATE_VERSION, keys=("pairs",))
        pool = dict.fromkeys(self._check_pool_ids(state["pool"], max_pool), 0.0)
        pairs = self._check_pairs(state["pairs"], pool)
        self._p_latest = p_latest
        self._max_pool = max_pool
        self._pool = pool
        self._pairs = pairs
        self._weights = None

    @staticmethod
    def _check_pairs(raw_pairs: Any, pool: dict[int, float]) -> dict[tuple[int, int], list[float]]:
        """Check stored pair results against the pool; return them keyed by (lower, higher) id."""
        if not isinstance(raw_pairs, list):
            raise ValueError(f"state['pairs'] must be a list, got {type(raw_pairs).__name__}")
        pairs: dict[tuple[int, int], list[float]] = {}
        for entry in raw_pairs:
            if not isinstance(entry, list) or len(entry) != 4:
                raise ValueError(f"each pair must be a list [a, b, total, games], got {entry!r}")
            a, b = _check_pair(entry[0], entry[1])
            total = _check_finite("pair total", entry[2])
            games = _check_games("pair games", entry[3])
            if a not in pool or b not in pool:
                raise ValueError(f"pair {[a, b]!r} names a snapshot outside state['pool']")
            key = (min(a, b), max(a, b))
            if key in pairs:
                raise ValueError(f"state['pairs'] contains duplicate pair {list(key)!r}")
            pairs[key] = [total if a < b else -total, games]
        return pairs

    # -------------------------------------------------------------- internal
    def _history_probs(self) -> np.ndarray:
        """Return the Nash mixture in pool order, recomputing it only after ``M`` changed."""
        if self._weights is None:
            self._weights, _ = nash_averaging(self.payoff_matrix())
        return self._weights
