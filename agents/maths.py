"""Pure return and advantage maths."""

from __future__ import annotations

import numpy as np


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    bootstrap: np.ndarray,
    *,
    gamma: float,
    lam: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute generalised advantage estimates and returns (Schulman et al. 2016).

    Streams are contiguous; `dones[t]` marks the last step of a stream, whose
    successor value is `bootstrap[t]` (0 for a terminal step, V(s_T) for a
    truncated one). Shapes: all inputs [N]; returns (advantages [N], returns [N]).
    """
    n = len(rewards)
    adv = np.zeros(n, dtype=np.float32)
    last = 0.0
    for t in range(n - 1, -1, -1):
        if dones[t]:
            next_value, last = bootstrap[t], 0.0
        else:
            next_value = values[t + 1]
        delta = rewards[t] + gamma * next_value - values[t]
        last = delta + gamma * lam * last
        adv[t] = last
    return adv, (adv + values).astype(np.float32)


def explained_variance(returns: np.ndarray, values: np.ndarray) -> float:
    """1 - Var(returns - values) / Var(returns): how much of the returns the values explain
    (1 perfect, 0 no better than a constant; NaN when the returns do not vary)."""
    var = float(np.var(returns))
    return float("nan") if var == 0 else 1.0 - float(np.var(returns - values)) / var
