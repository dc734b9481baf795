"""Run rollouts on Ray actors: a thin transport shell around `SerialRunner`.

Weights travel through the object store, put once per iteration (latest) or once
per snapshot; each worker fetches a snapshot the first time it draws it and keeps
a bounded cache of built networks. A worker that dies is replaced (its episodes
under way are lost) and its share of the iteration is run again on the replacement.

Synchronous (default): each learning rollout is split over the workers and waited
for whole. Asynchronous: every worker always has a learning rollout under way; a
call returns what has arrived once it holds `min_steps` and hands each worker that
delivered its next share at once, with the newest weights, so the workers collect
while the learner updates (their steps one or more policy versions stale).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch
from ray.exceptions import RayActorError, RayTaskError

from envs import GameInfo, GameSpec
from envs.adapter import BadValue
from league.rollout.loop import (
    TRACEBACKS,
    EnvFailure,
    RolloutRequest,
    RolloutResult,
    RolloutTimeout,
    WorkersLost,
)
from league.rollout.players import BotError, PolicyFactory
from league.rollout.serial import SerialRunner, Weights
from league.signals import abandon_if_stopped, keep_handlers
from matchmaking import PlayerId

logger = logging.getLogger(__name__)

MAX_RESTARTS_PER_CALL = 8
"""Give up on an iteration after this many worker failures within it."""

POLL_S = 0.5
"""How often a wait on the workers looks at placement deadlines and stop requests."""

TIMEOUT_GRACE_S = 30.0
"""Seconds past `rollout_timeout` after which a worker that has not answered (its own
watchdog could not interrupt it: a C call that never returns) is killed."""


def start_ray(address: str | None = None, *, log_file: Path | None = None) -> None:
    """Join the Ray cluster at `address`, or start an embedded local one (once per process).

    Starting the embedded instance, Ray's own start-up chatter (its banner, warnings)
    goes to `log_file` instead of the terminal; joining a cluster shows it.
    """
    if ray.is_initialized():
        return
    # The workers' stdout and stderr stay in Ray's log files on their nodes: what they
    # log travels with their results into the run's league.log (`WorkerLog`).
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is not None:
        with keep_handlers():  # Ray's native SIGTERM handler dumps a stack and aborts
            ray.init(address=address, **kwargs)
    else:
        # "local": start an instance for this run even if a `ray start` cluster is up.
        with _output_to(log_file), keep_handlers():
            ray.init(address="local", num_cpus=os.cpu_count(), **kwargs)
    _cluster_messages_to_log()


def _cluster_messages_to_log() -> None:
    """Send the cluster's error messages to the run's log instead of stdout.

    Ray's driver prints them (a worker died, a raylet is gone, with a state dump) on
    stdout, whatever `log_to_driver` says, where they would break `--json`; the runner
    names each failure in a warning of its own.
    """
    from ray._private import worker

    if hasattr(worker, "print_to_stdstream"):  # the one caller left: the error listener
        worker.print_to_stdstream = _log_cluster_message


def _log_cluster_message(data: Mapping[str, Any], ignore_prefix: bool = False) -> None:
    for line in data.get("lines", ()):
        TRACEBACKS.warning("(%s) %s", data.get("pid", "ray"), line)


@contextlib.contextmanager
def _output_to(log_file: Path | None) -> Iterator[None]:
    """Send this process's stdout and stderr (the file descriptors) to `log_file`."""
    if log_file is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log_file, "ab") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, old in zip((1, 2), saved, strict=True):
                os.dup2(old, fd)
                os.close(old)


def default_workers() -> int:
    """Return the CPUs Ray sees (at least one worker).

    Synchronous training: the learner waits while the workers collect and the
    workers wait while it learns, so it needs no core of its own (on 2 cores, 2
    workers collect 1.5x the env steps of 1 in the same 10 minutes: BENCHMARKS.md).
    """
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


class _SnapshotRefs(Mapping):
    """Snapshot weights by player, fetched from the object store on first use."""

    def __init__(self, refs: Mapping[PlayerId, ray.ObjectRef]) -> None:
        self.refs = refs

    def __getitem__(self, key: PlayerId) -> Weights:
        return ray.get(self.refs[key])

    def __contains__(self, key: object) -> bool:
        return key in self.refs  # without fetching the weights

    def __iter__(self) -> Iterator[PlayerId]:
        return iter(self.refs)

    def __len__(self) -> int:
        return len(self.refs)


MAX_LOG_RECORDS = 1000
"""A worker ships at most this many log records with one result; the rest are counted."""

_RECORD_FIELDS = (
    "name", "levelno", "levelname", "pathname", "filename", "module", "lineno", "funcName",
    "created", "msecs", "relativeCreated", "process", "processName", "thread", "threadName",
)  # fmt: skip


class WorkerLog(logging.Handler):
    """What a rollout worker logs, kept in the worker until its next result (or error)
    carries it to the driver, whose logging writes it to the run's `league.log`.

    A worker never touches the driver's disk: on a cluster its machine has no `runs/`.
    Each record is kept as a plain copy that pickles: its message formatted, with the
    traceback it carried, and where it was logged (`worker`: process and node).
    """

    def __init__(self, where: str, limit: int = MAX_LOG_RECORDS) -> None:
        super().__init__()
        self.where, self.limit = where, limit
        self.records: list[logging.LogRecord] = []
        self.dropped = 0
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) >= self.limit:
            self.dropped += 1
            return
        fields = {name: getattr(record, name, None) for name in _RECORD_FIELDS}
        fields |= {"msg": self.format(record), "args": None, "worker": self.where}
        self.records.append(logging.makeLogRecord(fields))

    def drain(self) -> list[logging.LogRecord]:
        """The records since the last drain, and how many were dropped past the limit."""
        records, self.records = self.records, []
        if self.dropped:
            records.append(
                logging.makeLogRecord(
                    {
                        "name": __name__,
                        "levelno": logging.WARNING,
                        "levelname": "WARNING",
                        "msg": f"{self.dropped} more log records of this rollout dropped",
                        "worker": self.where,
                    }
                )
            )
            self.dropped = 0
        return records


def replay_worker_log(w: int, records: Collection[logging.LogRecord]) -> None:
    """Write rollout worker `w`'s log records through this (the driver's) logging.

    In a run they go to its `league.log` only (the handlers of `league.tracebacks`),
    never the terminal, which keeps the run's one message; without a run log (`league
    eval` on workers) they are handled as if logged here.
    """
    to_run_log = any(not isinstance(h, logging.NullHandler) for h in TRACEBACKS.handlers)
    for record in records:
        record.msg = f"rollout worker {w} ({getattr(record, 'worker', '?')}): {record.msg}"
        target = TRACEBACKS if to_run_log else logging.getLogger(record.name)
        if to_run_log or record.name == TRACEBACKS.name or target.isEnabledFor(record.levelno):
            target.handle(record)


@ray.remote(num_cpus=1)
class RolloutWorker:
    """A Ray actor holding E env copies; `run` is `SerialRunner.run` plus weight transport."""

    def __init__(
        self,
        spec: GameSpec,
        info: GameInfo,
        envs: int,
        factory: PolicyFactory,
        greedy: bool,
        log_level: int = logging.WARNING,
        rollout_timeout: float | None = None,
        nan_rewards: str = "stop",
        bot_timeout: float | None = None,
    ):
        torch.set_num_threads(1)  # two cores: a torch thread pool per worker fights the others
        # What it logs (warnings and full tracebacks) goes back with its results.
        self.log = WorkerLog(f"pid {os.getpid()} on {ray.util.get_node_ip_address()}")
        root = logging.getLogger()
        root.setLevel(log_level)
        root.addHandler(self.log)
        TRACEBACKS.addHandler(self.log)
        logging.captureWarnings(True)  # Python warnings too, not the worker's stderr
        self.runner = SerialRunner(
            spec,
            info,
            envs=envs,
            factory=factory,
            greedy=greedy,
            rollout_timeout=rollout_timeout,
            nan_rewards=nan_rewards,
            bot_timeout=bot_timeout,
        )

    def run(
        self,
        latest: Mapping[str, Weights] | None,
        version: int,
        snapshots: dict[PlayerId, ray.ObjectRef],
        request: RolloutRequest,
    ) -> tuple[RolloutResult, list[logging.LogRecord]]:
        """Load the latest weights (if any), point the pool at the snapshots, and roll out;
        return the result and what was logged meanwhile (an error carries that as
        `worker_log`)."""
        try:
            if latest is not None:
                self.runner.set_latest(latest, version)
            self.runner.pool.set_snapshots(_SnapshotRefs(snapshots))
            result = self.runner.run(request)
        except Exception as err:
            err.worker_log = self.log.drain()  # type: ignore[attr-defined]
            raise
        return result, self.log.drain()

    def pid(self) -> int:
        """Return the worker's process id (tests kill it)."""
        return os.getpid()


class RayRunner:
    """Spread `run` over Ray rollout workers and merge their results.

    Workers are numbered from 0; a dead one is replaced under its number. One that
    cannot be placed (a lost node's CPUs) within `placement_timeout` seconds, at the
    start or as a replacement, is given up: its share goes to the others, and with
    `on_lost_worker` "stop" (or none left) the call raises `WorkersLost`, naming what it
    lacked. While waiting, a stop asked of the training loop over a few seconds ago
    abandons the call (`Abandoned`).
    """

    def __init__(
        self,
        spec: GameSpec,
        info: GameInfo,
        *,
        workers: int,
        envs: int,
        factory: PolicyFactory,
        greedy: bool = False,
        asynchronous: bool = False,
        placement_timeout: float = 60.0,
        on_lost_worker: str = "continue",
        rollout_timeout: float | None = None,
        nan_rewards: str = "stop",
        bot_timeout: float | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"RayRunner needs at least one worker, not {workers}")
        if on_lost_worker not in ("continue", "stop"):
            raise ValueError(f"on_lost_worker is 'continue' or 'stop', not {on_lost_worker!r}")
        self.info, self.asynchronous = info, asynchronous
        self.placement_timeout, self.on_lost_worker = placement_timeout, on_lost_worker
        level = logging.getLogger().getEffectiveLevel()  # -v: the workers log INFO too
        self._spawn_args = (
            *(spec, info, envs, factory, greedy, level),
            *(rollout_timeout, nan_rewards, bot_timeout),
        )
        self.rollout_timeout = rollout_timeout
        self._deadlines: dict[ray.ObjectRef, float] = {}
        """Each rollout under way -> when its worker is killed for not answering."""
        self._overdue: set[ray.ObjectRef] = set()
        """Rollouts whose worker was killed for not answering in time."""
        self._owner: dict[ray.ObjectRef, Any] = {}
        """Each rollout under way -> the actor running it."""
        self._placing: dict[int, tuple[ray.ObjectRef, float]] = {}
        """Each worker not known to be up yet -> (its readiness probe, its deadline)."""
        self.workers: dict[int, Any] = {w: self._spawn(w) for w in range(workers)}
        self.restarts = 0
        self.lost = 0
        """Workers given up because they could not be placed."""
        self._latest: ray.ObjectRef | None = None
        self._version = 0
        self._snapshots: dict[PlayerId, ray.ObjectRef] = {}
        self._under_way: dict[ray.ObjectRef, tuple[int, Any]] = {}
        """Asynchronous mode: each learning rollout under way -> (worker number, actor)."""
        self._submitted = 0

    def _spawn(self, w: int) -> Any:
        actor = RolloutWorker.remote(*self._spawn_args)
        self._placing[w] = (actor.__ray_ready__.remote(), time.monotonic() + self.placement_timeout)
        return actor

    def set_latest(self, weights: Mapping[str, Weights], version: int) -> None:
        """Put the learners' weights in the object store once for all workers."""
        self._latest = ray.put(dict(weights))
        self._version = version

    def add_snapshots(self, snapshots: Mapping[PlayerId, Weights]) -> None:
        """Put each snapshot's weights in the object store once."""
        for key, state in snapshots.items():
            if key not in self._snapshots:
                self._snapshots[key] = ray.put(dict(state))

    def keep_snapshots(self, players: Collection[PlayerId]) -> None:
        """Release the object-store copies of every snapshot not in `players`.

        Each run hands the workers the references that are left; a worker forgets
        its built network of any snapshot no longer among them.
        """
        self._snapshots = {p: ref for p, ref in self._snapshots.items() if p in players}

    def run(self, request: RolloutRequest) -> RolloutResult:
        """Split the targets over the workers, gather, and replace any that die; the share
        of a worker given up goes to another."""
        if request.learning and self.asynchronous:
            return self._run_async(request)
        shares = request.split(len(self.workers))
        pending = {}  # ref -> (share, worker, actor)
        for i, w in enumerate(self.workers):
            pending[self._submit(w, shares[i])] = (i, w, self.workers[w])
        results: dict[int, RolloutResult] = {}
        failures = 0
        timeouts: dict[int, int] = {}
        while pending:
            ref = self._wait(pending)
            i, w, actor = pending.pop(ref)
            result = self._get(ref, w, actor)
            if isinstance(result, Exception):
                failures += 1
                if isinstance(result, RolloutTimeout):
                    timeouts[i] = timeouts.get(i, 0) + 1
                    if timeouts[i] >= 2:  # the same share, twice: the game hangs
                        raise RolloutTimeout(f"{result} (twice in the same rollout)") from None
                if failures > MAX_RESTARTS_PER_CALL:
                    raise result
                if w not in self.workers:  # given up: the least busy worker takes the share
                    busy = [v for _, v, _ in pending.values()]
                    w = min(self.workers, key=busy.count)
                pending[self._submit(w, shares[i])] = (i, w, self.workers[w])
            else:
                results[i] = result
        return RolloutResult.merge([results[i] for i in range(len(shares))])

    def _run_async(self, request: RolloutRequest) -> RolloutResult:
        """Take the learning rollouts that arrive until they hold `min_steps`; give each
        worker that delivered (or failed) its next share at once, with the newest weights."""
        shares = dict(zip(self.workers, request.split(len(self.workers)), strict=True))
        busy = {w for w, _ in self._under_way.values()}
        for w in self.workers:
            if w not in busy:
                self._submit_async(w, shares[w])
        results: list[RolloutResult] = []
        got = failures = 0
        while got < request.min_steps:
            ref = self._wait(self._under_way)
            w, actor = self._under_way.pop(ref)
            result = self._get(ref, w, actor)
            if isinstance(result, Exception):
                failures += 1
                if failures > MAX_RESTARTS_PER_CALL:
                    raise result
            else:
                results.append(result)
                got += result.learn_steps
            if w in self.workers:  # not given up
                self._submit_async(w, shares[w])
        return RolloutResult.merge(results)

    def _submit_async(self, w: int, share: RolloutRequest) -> None:
        """Start worker `w`'s next learning rollout (a seed of its own per submission)."""
        self._submitted += 1
        seed = np.random.SeedSequence([share.seed, self._submitted]).generate_state(1)[0]
        ref = self._submit(w, dataclasses.replace(share, seed=int(seed)))
        self._under_way[ref] = (w, self.workers[w])

    def _wait(self, refs: Collection[ray.ObjectRef]) -> ray.ObjectRef:
        """The first of `refs` to finish. Meanwhile give up the workers that could not be
        placed in time, and abandon the wait if a stop was asked a while ago."""
        while True:
            self._give_up_unplaced()  # also while others deliver (async mode)
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
            if ready:
                return ready[0]
            self._kill_overdue(refs)
            abandon_if_stopped()

    def _kill_overdue(self, refs: Collection[ray.ObjectRef]) -> None:
        """Kill the worker of each rollout that has not answered by its deadline: its
        result becomes a `RolloutTimeout` (see `_get`)."""
        now = time.monotonic()
        for ref in refs:
            if ref not in self._overdue and self._deadlines.get(ref, now + 1) <= now:
                self._overdue.add(ref)
                w = next((w for w, a in self.workers.items() if self._owner.get(ref) is a), None)
                if w is not None:
                    with contextlib.suppress(Exception):
                        ray.kill(self.workers[w])

    def _give_up_unplaced(self) -> None:
        """Give up each worker still not up past its deadline (its rollouts then fail,
        and their shares go to the others); raise `WorkersLost` if the run should stop."""
        now = time.monotonic()
        for w, (probe, deadline) in list(self._placing.items()):
            if ray.wait([probe], timeout=0)[0] or _placed(self.workers[w]):
                del self._placing[w]  # on a node (a failed start: its run will say so)
            elif now >= deadline:
                del self._placing[w]
                with contextlib.suppress(Exception):
                    ray.kill(self.workers.pop(w))
                self.lost += 1
                why = (
                    f"rollout worker {w} could not be placed within {self.placement_timeout:g} s: "
                    f"it needs {{'CPU': 1}}; {cluster_state()}"
                )
                if self.on_lost_worker == "stop" or not self.workers:
                    left = (
                        "no worker is left" if not self.workers else "train.on_lost_worker is stop"
                    )
                    raise WorkersLost(f"{why} ({left})")
                logger.warning("%s; carrying on with %d workers", why, len(self.workers))

    def _get(self, ref: ray.ObjectRef, w: int, actor: Any) -> RolloutResult | Exception:
        """A worker's result, or the Ray error when it failed (the worker is then
        replaced, unless it was given up)."""
        self._deadlines.pop(ref, None)
        self._owner.pop(ref, None)
        overdue = ref in self._overdue
        self._overdue.discard(ref)
        try:
            result, records = ray.get(ref)
        except (BadValue, BotError) as err:  # the game's numbers, a bot: no worker can help
            cause = getattr(err, "cause", err)
            replay_worker_log(w, getattr(cause, "worker_log", ()))
            raise type(cause)(str(cause)) from None
        except RolloutTimeout as err:  # the worker's watchdog: its env may be stuck
            cause = getattr(err, "cause", err)
            replay_worker_log(w, getattr(cause, "worker_log", ()))
            return self._replace(w, actor, RolloutTimeout(str(cause)))
        except EnvFailure as err:  # the game itself keeps failing: no worker can help
            cause = getattr(err, "cause", err)
            replay_worker_log(w, getattr(cause, "worker_log", ()))
            raise EnvFailure(str(cause)) from None
        except (RayActorError, RayTaskError) as err:
            replay_worker_log(w, getattr(getattr(err, "cause", None), "worker_log", ()))
            if overdue:
                late = RolloutTimeout(
                    f"game {self.info.name!r}: rollout worker {w} ran past "
                    f"train.rollout_timeout ({self.rollout_timeout:g} s) and did not answer"
                )
                return self._replace(w, actor, late)
            if self.workers.get(w) is actor:  # not replaced yet (after another call failed)
                self.restarts += 1
                logger.warning("rollout worker %d failed (%s); replacing it", w, type(err).__name__)
                TRACEBACKS.warning(  # Ray's full account, and where the worker's own output is
                    "rollout worker %d failed: %s\n(its stdout and stderr are in Ray's logs on "
                    "its node, by default /tmp/ray/session_latest/logs)",
                    w,
                    err,
                )
                with contextlib.suppress(Exception):
                    ray.kill(actor)
                self.workers[w] = self._spawn(w)
            return err
        replay_worker_log(w, records)
        return result

    def _replace(self, w: int, actor: Any, late: RolloutTimeout) -> RolloutTimeout:
        """Replace worker `w` (whose rollout overran; its env may be stuck mid-step)."""
        logger.warning("%s; replacing rollout worker %d", late, w)
        if self.workers.get(w) is actor:
            self.restarts += 1
            with contextlib.suppress(Exception):
                ray.kill(actor)
            self.workers[w] = self._spawn(w)
        return late

    def _submit(self, w: int, request: RolloutRequest) -> ray.ObjectRef:
        actor = self.workers[w]
        ref = actor.run.remote(self._latest, self._version, self._snapshots, request)
        self._owner[ref] = actor
        if self.rollout_timeout:
            self._deadlines[ref] = time.monotonic() + self.rollout_timeout + TIMEOUT_GRACE_S
        return ref

    def close(self) -> None:
        """Stop the workers (the Ray cluster itself stays up)."""
        self._under_way.clear()
        self._placing.clear()
        for worker in self.workers.values():
            with contextlib.suppress(Exception):
                ray.kill(worker)
        self.workers = {}


def _placed(actor: Any) -> bool:
    """Whether Ray has given the actor a worker process on some node (it may still be
    starting: importing torch takes seconds). From the GCS actor table, whose entry for
    an actor waiting for resources has no address yet; Ray has no public call for it
    without its dashboard."""
    from ray._private.state import actors

    try:
        entry = actors(actor_id=actor._actor_id.hex())
    except Exception:  # the table's layout changed: fall back on the readiness probe
        return False
    return bool(entry and entry.get("Address", {}).get("IPAddress"))


def cluster_state() -> str:
    """What the cluster has: its free CPUs and its nodes alive (for a message)."""
    try:
        free = ray.available_resources().get("CPU", 0.0)
        total = ray.cluster_resources().get("CPU", 0.0)
        nodes = ray.nodes()
    except Exception as err:  # the cluster itself is gone
        return f"the cluster does not answer ({type(err).__name__})"
    alive = sum(bool(n.get("Alive")) for n in nodes)
    return f"the cluster has {free:g} of {total:g} CPUs free, {alive} of {len(nodes)} nodes alive"
