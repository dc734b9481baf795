"""Playing games: players, the one rollout loop, and the runners that host it.

`make_runner` is the one place that decides where rollouts run: in this process
(`workers=0`) or on Ray rollout workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from envs import GameInfo, GameSpec
from league.rollout.loop import (
    EnvFailure,
    Episode,
    Games,
    RolloutRequest,
    RolloutResult,
    Step,
    WorkersLost,
    rollout,
)
from league.rollout.players import PlayerPool, PolicyFactory
from league.rollout.serial import SerialRunner

if TYPE_CHECKING:
    from league.rollout.ray_workers import RayRunner

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
) -> SerialRunner | RayRunner:
    """Build the in-process runner (`workers` 0) or the Ray runner (None: one per CPU).

    `log_file` takes an embedded Ray's start-up chatter (the workers write no file: what
    they log comes back with their results, through the driver's logging);
    `asynchronous` lets Ray workers collect while the learner updates. A Ray worker
    that cannot be placed within `placement_timeout` seconds (its node lost) is given
    up: the runner carries on without it (`on_lost_worker` "continue") or raises
    `WorkersLost` ("stop", or when none is left).
    """
    if workers == 0:
        return SerialRunner(spec, info, envs=envs, factory=factory, greedy=greedy)
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
    )


__all__ = [
    "EnvFailure",
    "Episode",
    "Games",
    "PlayerPool",
    "PolicyFactory",
    "RolloutRequest",
    "RolloutResult",
    "SerialRunner",
    "Step",
    "WorkersLost",
    "make_runner",
    "rollout",
]
