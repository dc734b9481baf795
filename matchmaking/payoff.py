"""Decayed payoff table and prioritised fictitious self-play (PFSP) weights; the PFSP
opponent sampler that uses them sits beside the other samplers (`sampler.py`).

Both follow the AlphaStar league pseudocode (Vinyals et al., 2019, "Grandmaster
level in StarCraft II using multi-agent reinforcement learning", supplementary
pseudocode ``payoff.py`` / ``pfsp``): the table keeps decayed win, draw and game
counts for every ordered pair of players, and PFSP draws an opponent with a
weight ``f(x)`` of the learner's win rate ``x`` against it, so opponents the
learner still loses to are played more often.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

__all__ = ["WEIGHTINGS", "PayoffTable", "pfsp_weights"]

logger = logging.getLogger(__name__)

#: Names accepted by :func:`pfsp_weights`.
WEIGHTINGS = ("squared", "variance", "linear", "linear_capped")

_TABLE_STATE_VERSION = 1
_SAMPLER_STATE_VERSION = 1
# Relative slack when checking that a loaded pair is consistent with its reverse.
_STATE_RTOL = 1e-9


def _is_number(value: Any) -> bool:
    """Return whether ``value`` is a real number other than a bool."""
    return not isinstance(value, bool) and isinstance(value, Real)


def _check_unit(name: str, value: Any) -> float:
    """Return ``value`` as a float in [0, 1] or raise ValueError naming ``name``."""
    # The chained comparison is False for NaN, so NaN is rejected too.
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _check_decay(decay: Any) -> float:
    """Return ``decay`` as a float in (0, 1] or raise ValueError."""
    if not _is_number(decay) or not 0.0 < decay <= 1.0:
        raise ValueError(f"decay must be a number in (0, 1], got {decay!r}")
    return float(decay)


def _check_player(name: str, player: Any) -> str:
    """Return ``player`` if it is a str or raise ValueError naming ``name``."""
    if not isinstance(player, str):
        raise ValueError(f"{name} must be a str, got {player!r}")
    return player


def _check_weighting(weighting: Any) -> str:
    """Return ``weighting`` if it names a PFSP weighting or raise ValueError."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    return str(weighting)


def _split_score(score: float) -> tuple[float, float]:
    """Split a score in [0, 1] into ``(wins, draws)`` with ``wins + draws / 2 == score``.

    1 is a win, 0.5 a draw and 0 a loss; fractional scores in between are a
    mix of a draw and the nearer decisive result.
    """
    draws = 1.0 - abs(2.0 * score - 1.0)
    wins = max(0.0, 2.0 * score - 1.0)
    return wins, draws


# ---------------------------------------------------------------------- table
class PayoffTable:
    """Keep AlphaStar-style decayed win/draw/game counts between named players.

    Every call to :meth:`update` first multiplies the pair's accumulated
    counts (in both directions) by ``decay`` and then adds the new game, so
    old results fade geometrically. :meth:`win_rate` is
    ``(wins + draws / 2) / games`` from the first player's point of view, or
    ``prior`` for a pair that has never played.
    """

    def __init__(self, *, decay: float = 0.99, prior: float = 0.5) -> None:
        """Create an empty table.

        Args:
            decay: factor in (0, 1] applied to a pair's counts before each new game.
            prior: win rate reported for pairs that have not played, in [0, 1].

        Raises:
            ValueError: if an argument is out of range or of the wrong type.
        """
        self._decay = _check_decay(decay)
        self._prior = _check_unit("prior", prior)
        # (home, away) -> [wins, draws, games] from home's point of view; both
        # directions of a pair are always present together.
        self._stats: dict[tuple[str, str], list[float]] = {}
        # Insertion-ordered set of players seen in any game.
        self._players: dict[str, None] = {}

    # ------------------------------------------------------------------ info
    @property
    def decay(self) -> float:
        """Return the per-game decay factor."""
        return self._decay

    @property
    def prior(self) -> float:
        """Return the win rate reported for unplayed pairs."""
        return self._prior

    @property
    def players(self) -> list[str]:
        """Return every player that has played a game, in order of first appearance."""
        return list(self._players)

    def __len__(self) -> int:
        """Return the number of players in the table."""
        return len(self._players)

    def __contains__(self, player: object) -> bool:
        """Return whether ``player`` has played a game."""
        return player in self._players

    def __repr__(self) -> str:
        """Return a short description of the table."""
        return (
            f"{type(self).__name__}(decay={self._decay}, prior={self._prior}, "
            f"players={len(self._players)}, pairs={len(self._stats) // 2})"
        )

    def win_rate(self, a: str, b: str) -> float:
        """Return ``a``'s decayed score rate against ``b``, or ``prior`` if unplayed."""
        stats = self._stats.get((a, b))
        if stats is None or stats[2] <= 0.0:
            return self._prior
        wins, draws, games = stats
        return (wins + 0.5 * draws) / games

    def games(self, a: str, b: str) -> float:
        """Return the decayed number of games between ``a`` and ``b`` (0.0 if unplayed)."""
        stats = self._stats.get((a, b))
        return 0.0 if stats is None else stats[2]

    def wins(self, a: str, b: str) -> float:
        """Return ``a``'s decayed number of wins against ``b``."""
        stats = self._stats.get((a, b))
        return 0.0 if stats is None else stats[0]

    def draws(self, a: str, b: str) -> float:
        """Return the decayed number of draws between ``a`` and ``b``."""
        stats = self._stats.get((a, b))
        return 0.0 if stats is None else stats[1]

    # -------------------------------------------------------------- mutation
    def update(self, a: str, b: str, score_a: float) -> None:
        """Record one game of ``a`` against ``b``.

        ``score_a`` is 1 for a win of ``a``, 0.5 for a draw and 0 for a loss;
        a fractional score ``s`` counts as ``1 - |2s - 1|`` draws plus
        ``max(0, 2s - 1)`` wins. The pair's existing counts in both directions
        are multiplied by ``decay`` before the game is added.

        Raises:
            ValueError: if a player is not a str, ``a == b`` or ``score_a`` is not in [0, 1].
        """
        _check_player("a", a)
        _check_player("b", b)
        if a == b:
            raise ValueError(f"a and b must be different players, got {a!r} twice")
        score = _check_unit("score_a", score_a)
        wins_a, draws = _split_score(score)
        wins_b, _ = _split_score(1.0 - score)
        for home, away, wins in ((a, b, wins_a), (b, a, wins_b)):
            stats = self._stats.setdefault((home, away), [0.0, 0.0, 0.0])
            stats[0] = stats[0] * self._decay + wins
            stats[1] = stats[1] * self._decay + draws
            stats[2] = stats[2] * self._decay + 1.0
        self._players.setdefault(a, None)
        self._players.setdefault(b, None)

    def remove(self, player: str) -> None:
        """Forget ``player`` and every pair it belongs to; unknown players are ignored."""
        if player not in self._players:
            return
        del self._players[player]
        self._stats = {k: v for k, v in self._stats.items() if player not in k}

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable snapshot of the table.

        ``pairs`` lists ``[a, b, wins, draws, games]`` for every ordered pair
        (both directions), from ``a``'s point of view.
        """
        return {
            "version": _TABLE_STATE_VERSION,
            "decay": self._decay,
            "prior": self._prior,
            "pairs": [[a, b, *map(float, stats)] for (a, b), stats in self._stats.items()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the table from :meth:`state_dict` output.

        The table is left unchanged if ``state`` is invalid.

        Raises:
            ValueError: if ``state`` is malformed or its pairs are inconsistent.
        """
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict, got {type(state).__name__}")
        version = state.get("version")
        if version != _TABLE_STATE_VERSION:
            raise ValueError(f"state['version'] must be {_TABLE_STATE_VERSION}, got {version!r}")
        for key in ("decay", "prior", "pairs"):
            if key not in state:
                raise ValueError(f"state is missing key {key!r}")
        decay = _check_decay(state["decay"])
        prior = _check_unit("prior", state["prior"])
        pairs = state["pairs"]
        if not isinstance(pairs, list):
            raise ValueError(f"state['pairs'] must be a list, got {type(pairs).__name__}")
        stats: dict[tuple[str, str], list[float]] = {}
        players: dict[str, None] = {}
        for entry in pairs:
            if not isinstance(entry, list) or len(entry) != 5:
                raise ValueError(
                    f"each pair must be a list [a, b, wins, draws, games], got {entry!r}"
                )
            a, b, wins, draws, games = entry
            _check_player("pair player", a)
            _check_player("pair player", b)
            if a == b:
                raise ValueError(f"pair players must differ, got {a!r} twice")
            if (a, b) in stats:
                raise ValueError(f"state['pairs'] contains duplicate pair {[a, b]!r}")
            counts = (wins, draws, games)
            if not all(_is_number(c) and math.isfinite(c) and c >= 0.0 for c in counts):
                raise ValueError(f"pair counts must be finite numbers >= 0, got {entry!r}")
            if wins + draws > games * (1.0 + _STATE_RTOL):
                raise ValueError(f"pair wins + draws exceed games in {entry!r}")
            stats[(a, b)] = [float(wins), float(draws), float(games)]
            players.setdefault(a, None)
            players.setdefault(b, None)
        for (a, b), (_, draws, games) in stats.items():
            reverse = stats.get((b, a))
            if reverse is None:
                raise ValueError(f"state['pairs'] has {[a, b]!r} but not its reverse")
            if not (
                math.isclose(games, reverse[2], rel_tol=_STATE_RTOL, abs_tol=1e-12)
                and math.isclose(draws, reverse[1], rel_tol=_STATE_RTOL, abs_tol=1e-12)
            ):
                raise ValueError(f"pair {[a, b]!r} disagrees with its reverse on games or draws")
        self._decay = decay
        self._prior = prior
        self._stats = stats
        self._players = players


# ----------------------------------------------------------------------- PFSP
def pfsp_weights(win_rates: Sequence[float], weighting: str = "squared") -> np.ndarray:
    """Return AlphaStar's PFSP probabilities for opponents with the given win rates.

    ``win_rates[i]`` is the learner's win rate against candidate ``i``. The
    weights are ``(1 - x)**2`` (``"squared"``), ``x * (1 - x)``
    (``"variance"``), ``1 - x`` (``"linear"``) or ``min(0.5, 1 - x)``
    (``"linear_capped"``), normalised to sum to 1; if every weight is 0 the
    result is uniform. An empty input gives an empty array.

    Raises:
        ValueError: if ``weighting`` is unknown or a win rate is not in [0, 1].
    """
    weighting = _check_weighting(weighting)
    x = np.asarray(win_rates, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"win_rates must be one-dimensional, got shape {x.shape}")
    if x.size == 0:
        return np.zeros(0, dtype=np.float64)
    if not np.all((x >= 0.0) & (x <= 1.0)):
        raise ValueError(f"win_rates must all be in [0, 1], got {x.tolist()!r}")
    if weighting == "squared":
        weights = (1.0 - x) ** 2
    elif weighting == "variance":
        weights = x * (1.0 - x)
    elif weighting == "linear":
        weights = 1.0 - x
    else:
        weights = np.minimum(0.5, 1.0 - x)
    total = weights.sum()
    if total <= 0.0:
        return np.full(x.size, 1.0 / x.size)
    return weights / total
