"""Annealing schedules for the discount factor and team spirit."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """Move a value from `start` to `end` over `steps` training iterations.

    `interpolation` is `linear` in the value itself or `horizon`, linear in
    the horizon 1/(1-value) (the right way to anneal a discount factor: OpenAI
    Five's 0.998 -> 0.9997 is a horizon of 500 -> 3333 steps).
    """

    start: float
    end: float
    steps: int = 0
    interpolation: str = "linear"

    def __post_init__(self) -> None:
        if self.interpolation not in ("linear", "horizon"):
            raise ValueError(
                f"interpolation must be 'linear' or 'horizon', not {self.interpolation!r}"
            )
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, not {self.steps}")
        if self.interpolation == "horizon" and not (self.start < 1 and self.end < 1):
            raise ValueError("horizon interpolation needs start and end below 1")

    def value(self, step: int) -> float:
        """Return the value at training iteration `step`."""
        frac = 1.0 if self.steps == 0 else min(max(step / self.steps, 0.0), 1.0)
        if self.interpolation == "linear":
            return self.start + frac * (self.end - self.start)
        h0, h1 = 1.0 / (1.0 - self.start), 1.0 / (1.0 - self.end)
        return 1.0 - 1.0 / (h0 + frac * (h1 - h0))
