"""What a game's rules say, for every loop that plays it (training, evaluation, a person
at the terminal): a policy's action as the env takes it, and who won an episode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from envs.spec import GameError, GameInfo


def env_action(action: Any, spaces: Any) -> Any:
    """Turn a policy's action into what the env takes (Box actions clipped to bounds)."""
    if spaces.discrete:
        return action
    if spaces.multi:
        return np.asarray(action, dtype=np.int64)
    return np.clip(
        action,
        np.reshape(spaces.action_low, spaces.action_shape),
        np.reshape(spaces.action_high, spaces.action_shape),
    ).astype(np.float32)


def decide_outcome(
    returns: dict[str, float],
    infos: dict[str, dict],
    info: GameInfo,
    outcome: Callable | None,
) -> dict[str, float]:
    """Team -> 1 win, 0.5 draw, 0 loss: the game's `outcome` hook, else the highest
    summed env reward wins (empty for a one-team game)."""
    if len(returns) < 2:
        return {}
    if outcome is not None:
        return _checked_outcome(outcome(dict(returns), dict(infos)), returns, info)
    best = max(returns.values())
    winners = [t for t, r in returns.items() if r == best]
    share = 0.5 if len(winners) == len(returns) else 1.0 / len(winners)
    return {team: share if team in winners else 0.0 for team in returns}


def _checked_outcome(got: Any, returns: dict[str, float], info: GameInfo) -> dict[str, float]:
    """Check what a game's outcome hook returned."""
    if (
        not isinstance(got, dict)
        or set(got) != set(returns)
        or not all(isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in got.values())
    ):
        raise GameError(
            f"game {info.name!r}: outcome hook returned {got!r}; it must map every team "
            f"({sorted(returns)}) to 1 (win), 0.5 (draw) or 0 (loss)"
        )
    return {team: float(v) for team, v in got.items()}
