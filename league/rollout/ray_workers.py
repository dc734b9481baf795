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
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch
from ray.exceptions import RayActorError, RayTaskError

from envs import GameInfo, GameSpec
from league.rollout.loop import TRACEBACKS, EnvFailure, RolloutRequest, RolloutResult
from league.rollout.players import PolicyFactory
from league.rollout.serial import SerialRunner, Weights
from league.signals import keep_handlers
from matchmaking import PlayerId

logger = logging.getLogger(__name__)

MAX_RESTARTS_PER_CALL = 8
"""Give up on an iteration after this many worker failures within it."""


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
        return
    # "local": start an instance for this run even if a `ray start` cluster is up.
    with _output_to(log_file), keep_handlers():
        ray.init(address="local", num_cpus=os.cpu_count(), **kwargs)


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
    ):
        torch.set_num_threads(1)  # two cores: a torch thread pool per worker fights the others
        # What it logs (warnings and full tracebacks) goes back with its results.
        self.log = WorkerLog(f"pid {os.getpid()} on {ray.util.get_node_ip_address()}")
        root = logging.getLogger()
        root.setLevel(log_level)
        root.addHandler(self.log)
        TRACEBACKS.addHandler(self.log)
        logging.captureWarnings(True)  # Python warnings too, not the worker's stderr
        self.runner = SerialRunner(spec, info, envs=envs, factory=factory, greedy=greedy)

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
    """Spread `run` over Ray rollout workers and merge their results."""

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
    ) -> None:
        if workers < 1:
            raise ValueError(f"RayRunner needs at least one worker, not {workers}")
        self.info, self.asynchronous = info, asynchronous
        level = logging.getLogger().getEffectiveLevel()  # -v: the workers log INFO too
        self._spawn_args = (spec, info, envs, factory, greedy, level)
        self.workers = [self._spawn() for _ in range(workers)]
        self.restarts = 0
        self._latest: ray.ObjectRef | None = None
        self._version = 0
        self._snapshots: dict[PlayerId, ray.ObjectRef] = {}
        self._under_way: dict[ray.ObjectRef, tuple[int, Any]] = {}
        """Asynchronous mode: each learning rollout under way -> (worker index, actor)."""
        self._submitted = 0

    def _spawn(self) -> Any:
        return RolloutWorker.remote(*self._spawn_args)

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
        """Split the targets over the workers, gather, and replace any that die."""
        if request.learning and self.asynchronous:
            return self._run_async(request)
        shares = request.split(len(self.workers))
        pending = {self._submit(w, share): (w, self.workers[w]) for w, share in enumerate(shares)}
        results: dict[int, RolloutResult] = {}
        failures = 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            w, actor = pending.pop(ready[0])
            result = self._get(ready[0], w, actor)
            if isinstance(result, Exception):
                failures += 1
                if failures > MAX_RESTARTS_PER_CALL:
                    raise result
                pending[self._submit(w, shares[w])] = (w, self.workers[w])
            else:
                results[w] = result
        return RolloutResult.merge([results[w] for w in range(len(shares))])

    def _run_async(self, request: RolloutRequest) -> RolloutResult:
        """Take the learning rollouts that arrive until they hold `min_steps`; give each
        worker that delivered (or failed) its next share at once, with the newest weights."""
        shares = request.split(len(self.workers))
        busy = {w for w, _ in self._under_way.values()}
        for w in range(len(self.workers)):
            if w not in busy:
                self._submit_async(w, shares[w])
        results: list[RolloutResult] = []
        got = failures = 0
        while got < request.min_steps:
            ready, _ = ray.wait(list(self._under_way), num_returns=1)
            w, actor = self._under_way.pop(ready[0])
            result = self._get(ready[0], w, actor)
            if isinstance(result, Exception):
                failures += 1
                if failures > MAX_RESTARTS_PER_CALL:
                    raise result
            else:
                results.append(result)
                got += result.learn_steps
            self._submit_async(w, shares[w])
        return RolloutResult.merge(results)

    def _submit_async(self, w: int, share: RolloutRequest) -> None:
        """Start worker `w`'s next learning rollout (a seed of its own per submission)."""
        self._submitted += 1
        seed = np.random.SeedSequence([share.seed, self._submitted]).generate_state(1)[0]
        ref = self._submit(w, dataclasses.replace(share, seed=int(seed)))
        self._under_way[ref] = (w, self.workers[w])

    def _get(self, ref: ray.ObjectRef, w: int, actor: Any) -> RolloutResult | Exception:
        """A worker's result, or the Ray error when it failed (the worker is then
        replaced)."""
        try:
            result, records = ray.get(ref)
        except EnvFailure as err:  # the game itself keeps failing: no worker can help
            cause = getattr(err, "cause", err)
            replay_worker_log(w, getattr(cause, "worker_log", ()))
            raise EnvFailure(str(cause)) from None
        except (RayActorError, RayTaskError) as err:
            replay_worker_log(w, getattr(getattr(err, "cause", None), "worker_log", ()))
            if self.workers[w] is actor:  # not replaced yet (after another call failed)
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
                self.workers[w] = self._spawn()
            return err
        replay_worker_log(w, records)
        return result

    def _submit(self, w: int, request: RolloutRequest) -> ray.ObjectRef:
        return self.workers[w].run.remote(self._latest, self._version, self._snapshots, request)

    def close(self) -> None:
        """Stop the workers (the Ray cluster itself stays up)."""
        self._under_way.clear()
        for worker in self.workers:
            with contextlib.suppress(Exception):
                ray.kill(worker)
        self.workers = []
