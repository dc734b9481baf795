"""Playing games: players, the one rollout loop, and the runners that host it.

`make_runner` is the one place that decides where rollouts run: in this process
(`workers=0`) or on Ray rollout workers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Protocol

from envs import GameInfo, GameSpec
from league.rollout.loop import (
    EnvFailure,
    Episode,
    Games,
    RolloutRequest,
    RolloutResult,
    RolloutTimeout,
    Step,
    WorkersLost,
    rollout,
)
from league.rollout.players import DEFAULT_BOT_TIMEOUT, PlayerPool, PolicyFactory
from league.rollout.serial import SerialRunner, Weights
from matchmaking import PlayerId


class Runner(Protocol):
    """What plays the games: `SerialRunner` (in this process) or `RayRunner`."""

    restarts: int
    """Rollout workers replaced after they died."""
    lost: int
    """Rollout workers given up (they could not be placed)."""

    @property
    def workers(self) -> Mapping[int, Any]:
        """The rollout workers by number (none for the in-process runner)."""

    def set_latest(self, weights: Mapping[str, Weights], version: int) -> None:
        """Hand every learner's newest weights to the players."""

    def add_snapshots(self, snapshots: Mapping[PlayerId, Weights]) -> None:
        """Make these snapshots' weights available to the players."""

    def keep_snapshots(self, players: Collection[PlayerId]) -> None:
        """Forget every snapshot not in `players`."""

    def run(self, request: RolloutRequest) -> RolloutResult:
        """Play what `request` asks and return the games and the learning batches."""

    def close(self) -> None:
        """Release the envs and workers."""


DEFAULT_PLACEMENT_TIMEOUT = 60.0
"""Seconds a Ray rollout worker may wait for a CPU before the runner gives it up."""


def make_runner(
    spec: GameSpec,
    info: GameInfo,
    factory: PolicyFactory,
    *,
    workers: int | None,
    envs: int,
    greedy: bool = False,
    address: str | None = None,
    log_file: Path | None = None,
    asynchronous: bool = False,
    placement_timeout: float = DEFAULT_PLACEMENT_TIMEOUT,
    on_lost_worker: str = "continue",
    rollout_timeout: float | None = None,
    nan_rewards: str = "stop",
    bot_timeout: float | None = DEFAULT_BOT_TIMEOUT,
) -> Runner:
    """Build the in-process runner (`workers` 0) or the Ray runner (None: one per CPU).

    `log_file` takes an embedded Ray's start-up chatter (the workers write no file: what
    they log comes back with their results, through the driver's logging);
    `asynchronous` lets Ray workers collect while the learner updates. A Ray worker
    that cannot be placed within `placement_timeout` seconds (its node lost) is given
    up: the runner carries on without it (`on_lost_worker` "continue") or raises
    `WorkersLost` ("stop", or when none is left). A rollout past `rollout_timeout`
    seconds raises `RolloutTimeout` (a Ray worker is replaced and its share played again
    once); `nan_rewards` says what a NaN reward does (stop, or count as zero); a user's
    bot file past `bot_timeout` seconds on a move raises `BotError`.
    """
    faults = {
        "rollout_timeout": rollout_timeout,
        "nan_rewards": nan_rewards,
        "bot_timeout": bot_timeout,
    }
    if workers == 0:
        return SerialRunner(spec, info, envs=envs, factory=factory, greedy=greedy, **faults)
    from league.rollout.ray_workers import RayRunner, default_workers, start_ray

    start_ray(address, log_file=log_file)
    return RayRunner(
        spec,
        info,
        workers=workers or default_workers(),
        envs=envs,
        factory=factory,
        greedy=greedy,
        asynchronous=asynchronous,
        placement_timeout=placement_timeout,
        on_lost_worker=on_lost_worker,
        **faults,
    )


__all__ = [
    "EnvFailure",
    "Episode",
    "Games",
    "PlayerPool",
    "PolicyFactory",
    "RolloutRequest",
    "RolloutResult",
    "RolloutTimeout",
    "Runner",
    "SerialRunner",
    "Step",
    "WorkersLost",
    "make_runner",
    "rollout",
]
