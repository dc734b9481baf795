"""Rate players from game results: Wilson intervals, Bradley-Terry (Elo scale),
bootstrap rating intervals and payoff matrices; Student-t intervals of mean returns
(games of one team, where there is no one to win against).

The Bradley-Terry fit uses the minorisation-maximisation (MM) iteration of
Hunter (2004), "MM algorithms for generalized Bradley-Terry models", Annals of
Statistics 32(1): with strengths ``g`` and ``P(i beats j) = g_i / (g_i + g_j)``,
each step sets ``g_i = W_i / sum_j n_ij / (g_i + g_j)`` where ``W_i`` is i's total
score and ``n_ij`` the number of games between i and j. Draws count as half a
win for each side. A weak prior gives every player ``prior_games`` virtual draws
against a virtual opponent of fixed strength 1, which keeps the strengths of
unbeaten and winless players finite and pins down the otherwise free scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = [
    "Z_95",
    "bradley_terry",
    "expected",
    "fixed_panel_rating",
    "mean_interval",
    "payoff_matrix",
    "rating_intervals",
    "wilson_interval",
]

#: Two-sided 95% standard-normal quantile.
Z_95 = 1.959963984540054

# Elo points per natural-log unit of strength: 400 * log10(g) == _ELO_PER_LOG * ln(g).
_ELO_PER_LOG = 400.0 / math.log(10.0)
# Cap on Newton steps when solving for the prior's common shift (2-3 usually suffice).
_SHIFT_NEWTON_STEPS = 50


def _is_number(value: Any) -> bool:
    """Return whether ``value`` is a real number other than a bool."""
    return not isinstance(value, bool) and isinstance(value, Real)


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Return the Wilson score interval for a proportion of ``successes`` out of ``n``.

    ``successes`` may be fractional (e.g. wins plus half the draws). The
    default ``z`` gives a 95% interval. ``n == 0`` gives ``(0.0, 1.0)``.

    Raises:
        ValueError: if ``n`` is not an int >= 0, ``successes`` is not in
            [0, n] or ``z`` is not a positive finite number.
    """
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if not _is_number(successes) or not 0.0 <= successes <= n:
        raise ValueError(f"successes must be a number in [0, n={n}], got {successes!r}")
    if not _is_number(z) or not (math.isfinite(z) and z > 0.0):
        raise ValueError(f"z must be a positive finite number, got {z!r}")
    if n == 0:
        return (0.0, 1.0)
    n_f = float(n)
    p = float(successes) / n_f
    z2 = float(z) * float(z)
    denom = 1.0 + z2 / n_f
    centre = (p + z2 / (2.0 * n_f)) / denom
    half = float(z) * math.sqrt(p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)) / denom
    # At p == 0 or p == 1 the bound is exactly 0 or 1; avoid rounding residue.
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return (lower, upper)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """Return the Student-t interval of the mean of ``values`` (e.g. one team's return
    per game), or None for fewer than two values: one game says nothing of the spread.

    Raises:
        ValueError: if a value is not finite or ``confidence`` is not in (0, 1).
    """
    x = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite numbers")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if x.size < 2:
        return None
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, x.size - 1)) * float(x.std(ddof=1)) / math.sqrt(x.size)
    mean = float(x.mean())
    return (mean - half, mean + half)


# ------------------------------------------------------------------- results
def _check_results(results: Any) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Validate game results and return ``(players, idx_a, idx_b, score_a)``.

    Players are listed in order of first appearance; the index arrays map
    each game to positions in that list.

    Raises:
        ValueError: if ``results`` is not a sequence of ``(a, b, score_a)``
            with distinct str players and a score in [0, 1].
    """
    if isinstance(results, (str, bytes)) or not isinstance(results, Sequence):
        raise ValueError(f"results must be a sequence of (a, b, score_a), got {results!r}")
    index: dict[str, int] = {}
    idx_a: list[int] = []
    idx_b: list[int] = []
    scores: list[float] = []
    for game in results:
        if isinstance(game, (str, bytes)) or not isinstance(game, Sequence) or len(game) != 3:
            raise ValueError(f"each result must be (a, b, score_a), got {game!r}")
        a, b, score = game
        if not isinstance(a, str) or not isinstance(b, str):
            raise ValueError(f"result players must be str, got {game!r}")
        if a == b:
            raise ValueError(f"result players must differ, got {game!r}")
        if not _is_number(score) or not 0.0 <= score <= 1.0:
            raise ValueError(f"result score must be a number in [0, 1], got {game!r}")
        idx_a.append(index.setdefault(a, len(index)))
        idx_b.append(index.setdefault(b, len(index)))
        scores.append(float(score))
    return (
        list(index),
        np.asarray(idx_a, dtype=np.intp),
        np.asarray(idx_b, dtype=np.intp),
        np.asarray(scores, dtype=np.float64),
    )


def _check_fit_args(prior_games: Any, iterations: Any, tol: Any) -> None:
    """Raise ValueError if a Bradley-Terry fitting argument is out of range."""
    if not _is_number(prior_games) or not (math.isfinite(prior_games) and prior_games > 0.0):
        raise ValueError(f"prior_games must be a positive finite number, got {prior_games!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, Integral) or iterations < 1:
        raise ValueError(f"iterations must be an int >= 1, got {iterations!r}")
    if not _is_number(tol) or not tol >= 0.0:
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")


def _check_anchor(anchor: Any, anchor_rating: Any, players: Sequence[str]) -> None:
    """Raise ValueError unless ``anchor`` is None or a known player and the rating is finite."""
    if anchor is not None and anchor not in players:
        raise ValueError(f"anchor must be None or a player in results, got {anchor!r}")
    if not _is_number(anchor_rating) or not math.isfinite(anchor_rating):
        raise ValueError(f"anchor_rating must be a finite number, got {anchor_rating!r}")


def _fit_log_strengths(
    n_players: int,
    idx_a: np.ndarray,
    idx_b: np.ndarray,
    score_a: np.ndarray,
    *,
    prior_games: float,
    iterations: int,
    tol: float,
) -> np.ndarray:
    """Return fitted natural-log strengths (virtual opponent at 0) via Hunter's MM."""
    size = n_players * n_players
    # Symmetric game-count matrix and total score (including the prior's half wins).
    counts = np.bincount(idx_a * n_players + idx_b, minlength=size).astype(np.float64)
    counts = counts.reshape(n_players, n_players)
    counts = counts + counts.T
    score = np.bincount(idx_a, weights=score_a, minlength=n_players)
    score += np.bincount(idx_b, weights=1.0 - score_a, minlength=n_players)
    score += 0.5 * prior_games
    log_strength = np.zeros(n_players)
    for _ in range(iterations):
        strength = np.exp(log_strength)
        pair = counts / (strength[:, None] + strength[None, :])
        denom = pair.sum(axis=1) + prior_games / (strength + 1.0)
        new = np.log(score / denom)
        # The games fix only strength ratios; the prior alone sets the common
        # scale and would move it by tiny MM steps, so solve for it exactly.
        new += _prior_shift(new)
        change = np.max(np.abs(new - log_strength))
        log_strength = new
        if change <= tol:
            break
    return log_strength


def _prior_shift(log_strength: np.ndarray) -> float:
    """Return the shift ``c`` that maximises the prior term over common rescalings.

    Solves ``sum_i sigmoid(l_i + c) == n / 2`` (the players' mean expected
    score against the virtual opponent is one half) by damped Newton steps.
    Adding ``c`` leaves the games' likelihood unchanged, so combined with an
    MM step it keeps every iteration an ascent step of the penalised likelihood.
    """
    target = 0.5 * log_strength.size
    shift = 0.0
    for _ in range(_SHIFT_NEWTON_STEPS):
        prob = 0.5 * (1.0 + np.tanh(0.5 * (log_strength + shift)))
        slope = float(np.sum(prob * (1.0 - prob)))
        if slope <= 0.0:
            break
        step = float(np.clip((target - prob.sum()) / slope, -2.0, 2.0))
        shift += step
        if abs(step) <= 1e-13:
            break
    return shift


def _to_elo(
    log_strength: np.ndarray,
    players: Sequence[str],
    present: np.ndarray,
    anchor: str | None,
    anchor_rating: float,
) -> np.ndarray:
    """Convert log strengths to Elo and shift by the anchor (or to mean 0 over ``present``)."""
    elo = _ELO_PER_LOG * log_strength
    if anchor is None:
        return elo - elo[present].mean()
    return elo - elo[players.index(anchor)] + anchor_rating


def bradley_terry(
    results: Sequence[tuple[str, str, float]],
    *,
    anchor: str | None = None,
    anchor_rating: float = 0.0,
    prior_games: float = 1.0,
    iterations: int = 1000,
    tol: float = 1e-10,
) -> dict[str, float]:
    """Fit Bradley-Terry ratings on the Elo scale from ``(a, b, score_a)`` results.

    ``score_a`` is 1 for a win of ``a``, 0.5 for a draw and 0 for a loss
    (draws count as half a win each). Strengths are fitted with Hunter's MM
    algorithm for at most ``iterations`` steps, stopping once no log strength
    moves by more than ``tol``; each player also gets ``prior_games``
    virtual draws against a virtual average opponent. Ratings are
    ``400 * log10(strength)``, shifted so ``anchor`` has exactly
    ``anchor_rating``, or to mean 0 when ``anchor`` is None
    (``anchor_rating`` is then unused). Players appear in order of first
    appearance; no results give ``{}``.

    Raises:
        ValueError: if ``results`` is malformed, ``anchor`` is not a player
            in it or a numeric argument is out of range.
    """
    players, idx_a, idx_b, score_a = _check_results(results)
    _check_fit_args(prior_games, iterations, tol)
    _check_anchor(anchor, anchor_rating, players)
    if not players:
        return {}
    log_strength = _fit_log_strengths(
        len(players),
        idx_a,
        idx_b,
        score_a,
        prior_games=float(prior_games),
        iterations=int(iterations),
        tol=float(tol),
    )
    present = np.ones(len(players), dtype=bool)
    elo = _to_elo(log_strength, players, present, anchor, float(anchor_rating))
    if anchor is not None:
        # Exact by construction, but write it so no rounding residue remains.
        elo[players.index(anchor)] = float(anchor_rating)
    return {p: float(r) for p, r in zip(players, elo, strict=True)}


def rating_intervals(
    results: Sequence[tuple[str, str, float]],
    *,
    anchor: str | None = None,
    anchor_rating: float = 0.0,
    samples: int = 200,
    seed: int = 0,
    level: float = 0.95,
    prior_games: float = 1.0,
    iterations: int = 1000,
    tol: float = 1e-10,
) -> dict[str, tuple[float, float]]:
    """Return bootstrap confidence intervals for :func:`bradley_terry` ratings.

    Each of ``samples`` resamples draws ``len(results)`` games with
    replacement (seeded by ``seed``) and refits; a player's interval is the
    central ``level`` percentile range of its refitted ratings. Resamples
    without the anchor are skipped, and a player is left out of a resample
    it does not appear in; a player never rated gets ``(-inf, inf)``. The
    anchor's interval is ``(anchor_rating, anchor_rating)``.

    Raises:
        ValueError: if an argument is malformed or out of range, as in
            :func:`bradley_terry`, or ``samples``/``level`` are invalid.
    """
    players, idx_a, idx_b, score_a = _check_results(results)
    _check_fit_args(prior_games, iterations, tol)
    _check_anchor(anchor, anchor_rating, players)
    if isinstance(samples, bool) or not isinstance(samples, Integral) or samples < 1:
        raise ValueError(f"samples must be an int >= 1, got {samples!r}")
    if not _is_number(level) or not 0.0 < level < 1.0:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    if not players:
        return {}
    n_players, n_games = len(players), len(score_a)
    rng = np.random.default_rng(seed)
    draws = np.full((int(samples), n_players), np.nan)
    anchor_idx = None if anchor is None else players.index(anchor)
    for row in range(int(samples)):
        pick = rng.integers(n_games, size=n_games)
        a, b = idx_a[pick], idx_b[pick]
        present = np.zeros(n_players, dtype=bool)
        present[a] = True
        present[b] = True
        if anchor_idx is not None and not present[anchor_idx]:
            continue
        log_strength = _fit_log_strengths(
            n_players,
            a,
            b,
            score_a[pick],
            prior_games=float(prior_games),
            iterations=int(iterations),
            tol=float(tol),
        )
        elo = _to_elo(log_strength, players, present, anchor, float(anchor_rating))
        draws[row, present] = elo[present]
    return _percentile_intervals(draws, players, anchor_idx, float(anchor_rating), float(level))


def _percentile_intervals(
    draws: np.ndarray, players: Sequence[str], anchor_idx: int | None, anchor: float, level: float
) -> dict[str, tuple[float, float]]:
    """Each player's central `level` range of its bootstrap ratings (a column of
    `draws`, NaN where a resample left it out); the anchor's is its fixed rating."""
    tail = 50.0 * (1.0 - level)
    intervals: dict[str, tuple[float, float]] = {}
    for j, player in enumerate(players):
        if j == anchor_idx:
            intervals[player] = (anchor, anchor)
            continue
        column = draws[:, j]
        column = column[~np.isnan(column)]
        if column.size == 0:
            intervals[player] = (-math.inf, math.inf)
            continue
        low, high = np.percentile(column, [tail, 100.0 - tail])
        intervals[player] = (float(low), float(high))
    return intervals


def payoff_matrix(results: Sequence[tuple[str, str, float]], players: Sequence[str]) -> np.ndarray:
    """Return the mean score of each row player against each column player.

    Entry ``[i, j]`` averages player ``i``'s score over all games between
    ``players[i]`` and ``players[j]`` in either seating order, so
    ``M[i, j] + M[j, i] == 1`` where played. Unplayed pairs and the diagonal
    are NaN; games involving players not in ``players`` are ignored.

    Raises:
        ValueError: if ``results`` is malformed or ``players`` has
            duplicates or non-str entries.
    """
    if isinstance(players, str) or not isinstance(players, Sequence):
        raise ValueError(f"players must be a sequence of str, got {players!r}")
    order: dict[str, int] = {}
    for player in players:
        if not isinstance(player, str):
            raise ValueError(f"players must contain only str, got {player!r}")
        if player in order:
            raise ValueError(f"players contains duplicate {player!r}")
        order[player] = len(order)
    names, idx_a, idx_b, score_a = _check_results(results)
    n = len(order)
    total = np.zeros((n, n))
    games = np.zeros((n, n))
    for ia, ib, score in zip(idx_a, idx_b, score_a, strict=True):
        i, j = order.get(names[ia]), order.get(names[ib])
        if i is None or j is None:
            continue
        total[i, j] += score
        total[j, i] += 1.0 - score
        games[i, j] += 1.0
        games[j, i] += 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(games > 0.0, total / games, np.nan)
    np.fill_diagonal(matrix, np.nan)
    return matrix


def expected(rating: float, other: float) -> float:
    """The Bradley-Terry expected score of `rating` against `other` (Elo scale)."""
    return 1.0 / (1.0 + 10.0 ** ((other - rating) / 400.0))


def fixed_panel_rating(
    results: Mapping[str, tuple[float, int]],
    ratings: Mapping[str, float],
    *,
    low: float = -4000.0,
    high: float = 8000.0,
) -> dict[str, Any]:
    """The maximum-likelihood rating of a player whose opponents' ratings are fixed (a
    held-out panel's: bench/panel.py, bench/team_panel.py).

    `results`: opponent -> (mean score, games); `ratings`: opponent -> its rating.
    The rating solves sum_j n_j (s_j - E(r, r_j)) = 0 (decreasing in r: bisection);
    its 95% interval is r +/- 1.96 / sqrt(I) with the Fisher information
    I = sum_j n_j p_j (1 - p_j) / ELO^2. A player that won (or lost) every game has no
    finite estimate: the bound it reached is returned, with `bounded` False.
    """
    missing = set(results) - set(ratings)
    if missing:
        raise ValueError(f"no panel rating for {sorted(missing)}")
    if not results or not any(n for _, n in results.values()):
        raise ValueError("no games to rate from")

    def surplus(r: float) -> float:
        return sum(n * (s - expected(r, ratings[o])) for o, (s, n) in results.items())

    played = [s for s, n in results.values() if n]
    if all(s >= 1.0 for s in played) or all(s <= 0.0 for s in played):
        rating = high if played[0] >= 1.0 else low  # won (lost) them all: no finite estimate
        return {"rating": rating, "rating_95ci": [-math.inf, math.inf], "bounded": False}
    lo, hi = low, high
    for _ in range(200):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if surplus(mid) > 0 else (lo, mid)
    rating = (lo + hi) / 2.0
    info = sum(
        n * expected(rating, ratings[o]) * (1.0 - expected(rating, ratings[o]))
        for o, (_, n) in results.items()
    )
    half = Z_95 * _ELO_PER_LOG / math.sqrt(info) if info > 0 else math.inf
    return {"rating": rating, "rating_95ci": [rating - half, rating + half], "bounded": True}
