"""A league run: its lock, signals, checkpoints and TensorBoard around the learning loop.

Each iteration: `LearningLoop` collects and learns; `LeagueLearners` books the games
and freezes snapshots; `Evaluator` rates new snapshots and plays the random bot.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents import resolve_device, resolve_precision
from envs.adapter import BadValue
from league.config import Config
from league.evaluation.evaluator import Evaluator
from league.evaluation.exact import ExactGame
from league.rollout import EnvFailure, WorkersLost, make_runner
from league.rollout.loop import TRACEBACKS
from league.run import Run
from league.signals import Abandoned, Stopped, deferred_stop
from league.store import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    LOG_FILE,
    TENSORBOARD_DIR,
    RunLock,
    RunLog,
    load_checkpoint,
    save_checkpoint,
)
from league.training.league_agents import LeagueLearners, league_keys
from league.training.loop import LearningLoop, NonFiniteLoss, Schedules, metric_name
from league.training.scoring import SnapshotScorer
from league.training.state import Counters, rng_state, set_rng_state
from matchmaking import PlayerId

logger = logging.getLogger(__name__)


class Trainer:
    """One league run: a learner per league agent (each role's main agent and its
    exploiters), opponent samplers, registry, logs."""

    def __init__(
        self,
        run: Run | Config,
        run_dir: Path | None = None,
        *,
        resume: bool = False,
        address: str | None = None,
    ) -> None:
        """Train `run` (a `Run`; or a config and its run directory, whose game is resolved
        here), from its checkpoint with `resume`."""
        if isinstance(run, Config):
            assert run_dir is not None, "a config trains in a run directory"
            run = Run.of_config(run, run_dir, source=str(Path(run_dir) / CONFIG_FILE))
        assert run.dir is not None
        self.run, self.config, self.run_dir = run, run.config, run.dir
        self.spec, self.info, self.factory = run.spec, run.info, run.factory
        self.lock = RunLock(self.run_dir)  # one trainer per run; readers never lock
        self._log_handler: logging.Handler | None = None
        try:
            self._log_handler = RunLog(self.run_dir / LOG_FILE)  # quiet on a full disk
            logging.getLogger().addHandler(self._log_handler)
            TRACEBACKS.addHandler(self._log_handler)
            self._build(resume, address)
        except BaseException:
            self._release()
            raise

    def _build(self, resume: bool, address: str | None) -> None:
        """Read the checkpoint (when resuming), then build the runner, the writer, the
        evaluator and scorer, and the learners around them, once each."""
        config, run = self.config, self.run
        self.registry = run.connect()
        self.device = resolve_device(config.device)
        self.precision = resolve_precision(config.precision, self.device)
        self.rng = np.random.default_rng(config.seed)
        random.seed(config.seed)
        self.counters = Counters()
        state = self._read_checkpoint() if resume else None
        if state is None:
            self.registry.set_meta("game", self.spec.name)
            if not resume:
                self.registry.set_meta("created", time.time())
        else:
            self.counters.load_state(state["counters"])
        self.schedules = Schedules(config)
        tcfg = config.train
        self.runner = make_runner(
            self.spec,
            self.info,
            self.factory,
            workers=tcfg.workers,
            envs=tcfg.envs,
            address=address,
            log_file=self.run_dir / LOG_FILE,
            asynchronous=tcfg.asynchronous,
            placement_timeout=tcfg.placement_timeout,
            on_lost_worker=tcfg.on_lost_worker,
            rollout_timeout=tcfg.rollout_timeout,
            nan_rewards=tcfg.nan_rewards,
        )
        from league.store.events import EventWriter  # a failure names the event file

        self.writer = EventWriter(
            str(self.run_dir / TENSORBOARD_DIR), purge_step=self.counters.iteration + 1
        )
        keys = league_keys(config, self.info)
        self.evaluator = Evaluator(
            self.runner,
            self.info,
            self.registry,
            self.rng,
            scripted=self.spec.bot is not None,
            metric=lambda name, key: metric_name(name, key, dict.fromkeys(keys)),
        )
        self.scorer = SnapshotScorer(
            ExactGame.of(self.spec, self.factory),
            self.registry,
            versus=self.evaluator.versus,
            nash_games=config.league.nash_games,
            log=self.writer.add_scalar,
        )
        torch.manual_seed(config.seed)
        self.agents = LeagueLearners(
            run,
            self.runner,
            self.scorer,
            device=self.device,
            precision=self.precision,
            counters=self.counters,
        )
        torch.manual_seed(config.seed)
        if state is not None:
            self.agents.load_state_dict(state, source=str(self.run_dir))
            set_rng_state(self.rng, state["rng"])
            dropped = self.registry.rollback_after(self.counters.iteration)
            if dropped:
                logger.info("dropped %d registry rows written after the checkpoint", dropped)
        self.agents.share_pool()
        # The league's parts, by the names tests and benchmarks read them.
        self.learners, self.samplers = self.agents.learners, self.agents.samplers
        self.league = self.agents.league
        league = self.league
        self.loop = LearningLoop(
            self.runner,
            self.learners,
            self.schedules,
            tcfg,
            self.counters,
            self.rng,
            started=lambda key: league.started[key],
            learned=league.learned,
        )

    def _read_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint's state, or None for a run killed before its first one (its
        saved config is all there is: it trains from the start)."""
        path = self.run_dir / CHECKPOINT_FILE
        if not path.exists():
            logger.warning("%s has no checkpoint yet: training it from the start", self.run_dir)
            self.registry.rollback_after(0)
            return None
        return load_checkpoint(path)

    # ---------------------------------------------------------------- the loop

    def train(
        self,
        *,
        iterations: int | None = None,
        on_iteration: Callable[[dict[str, float]], None] | None = None,
    ) -> dict[str, Any]:
        """Run until `iterations` (total) or the time budget; return the summary.

        Ctrl-C and SIGTERM only set a flag that the loop reads between iterations: an
        exception raised at an arbitrary point could leave a lock held (seen: a hung
        exit) or a half-done iteration in the checkpoint. A second signal aborts at
        once. However the run ends (but an abort), the final policy is registered as a
        snapshot and a checkpoint is written.
        """
        total, budget = iterations or self.config.train.iterations, self.config.train.max_minutes
        start_seconds, t0 = self.counters.seconds, time.monotonic()
        metrics: dict[str, float] = {}
        aborted = False
        with deferred_stop() as stop:
            try:
                while self.counters.iteration < total:
                    if stop:
                        logger.warning("%s: writing a checkpoint before exit", stop.name)
                        break
                    if budget is not None and self.counters.seconds >= budget * 60.0:
                        break
                    it_start = time.monotonic()
                    metrics = self.iterate()
                    self.counters.seconds = start_seconds + (time.monotonic() - t0)
                    metrics["perf/iteration_seconds"] = time.monotonic() - it_start
                    self._log(metrics)
                    if self.counters.iteration % self.config.train.checkpoint_every == 0:
                        self.checkpoint()
                    if on_iteration is not None:
                        on_iteration(metrics)
            except Abandoned as dropped:
                # Stopped while the workers did not deliver (a lost node): nothing of
                # the iteration was used, so the state is whole.
                logger.warning("%s", dropped)
            except (WorkersLost, EnvFailure, BadValue) as lost:
                raise type(lost)(
                    f"{lost}; a checkpoint of iteration {self.counters.iteration} is kept: "
                    f"league train --resume {self.run_dir} continues from there"
                ) from None
            except NonFiniteLoss as poisoned:
                # The update's weights are not to be kept: the last checkpoint stands.
                aborted = True
                raise NonFiniteLoss(
                    f"{poisoned}; the last checkpoint is kept: league train --resume "
                    f"{self.run_dir} continues from there"
                ) from None
            except Stopped as second:
                # A second signal: the iteration may be half done, so keep the last
                # checkpoint.
                aborted = True
                stop.signum = stop.signum or second.signum
                logger.warning("aborted: resume continues from the last checkpoint")
            finally:
                self.counters.seconds = start_seconds + (time.monotonic() - t0)
                if not aborted:
                    self.agents.snapshot_if_newer()
                    self.checkpoint()
        return self.summary(metrics, stopped_by=stop.name, aborted=aborted)

    def iterate(self) -> dict[str, float]:
        """One iteration: collect and learn, book the games, freeze, snapshot, rate, evaluate.

        The first iteration after a checkpoint starts new learning episodes, as a resumed
        run must (the episodes under way are not in the checkpoint): a run killed after
        a checkpoint and resumed replays exactly what it would have played (`workers: 0`).
        """
        c, tcfg, agents = self.counters, self.config.train, self.agents
        fresh = c.iteration > 0 and c.iteration % tcfg.checkpoint_every == 0
        result, metrics = self.loop.iterate(agents.matchmaker(), fresh=fresh)
        t0 = time.perf_counter()
        metrics |= agents.book(result.episodes)
        agents.freeze_exploiters(self.rng)
        previous, (snapshots, due) = dict(c.last_snapshot), divmod(c.iteration, tcfg.snapshot_every)
        added = agents.snapshot() if due == 0 else {}
        t1 = time.perf_counter()  # the books and new snapshots (scored exactly in a tree)
        if added and tcfg.rating_games:
            metrics |= self.evaluator.rate(
                added, previous, games=tcfg.rating_games, iteration=c.iteration
            )
        if added and tcfg.video_every and snapshots % tcfg.video_every == 0:
            self.clip(added, previous)
        for role in agents.roles:
            metrics[agents.metric("league/pool_size", role)] = len(agents.samplers[role])
        if tcfg.eval_every and c.iteration % tcfg.eval_every == 0:
            metrics |= self.evaluator.vs_random(tcfg.eval_episodes, c.iteration)
        metrics["perf/snapshot_seconds"] = t1 - t0
        metrics["perf/evaluation_seconds"] = time.perf_counter() - t1
        return metrics

    # ---------------------------------------------------------------- state

    def clip(self, added: dict[str, int], previous: dict[str, int]) -> None:
        """Attach to TensorBoard a clip of each new snapshot playing the one before it (in
        an asymmetric game of two roles: the other role's previous snapshot)."""
        from league.play import add_clip_to_tensorboard, record_clip

        for role, sid in added.items():
            others = [r for r in self.agents.roles if r != role] or [role]
            if others[0] not in previous or len(others) > 1:
                continue
            a = PlayerId.of_snapshot(role, sid)
            b = PlayerId.of_snapshot(others[0], previous[others[0]])
            weights = {p: self.run.weights(p) for p in (a, b)}
            clip = record_clip(
                self.spec, self.info, self.factory, weights, a, b, seed=self.counters.iteration
            )
            tag = self.agents.metric("league/replay", role)
            add_clip_to_tensorboard(self.writer, tag, clip, self.counters.iteration, fps=8)

    def checkpoint(self) -> Path:
        """Write the full training state atomically (its cost: `perf/checkpoint_seconds`)."""
        start = time.perf_counter()
        self.loop.count_restarts()
        state = {
            "counters": self.counters.to_state(),
            **self.agents.state_dict(),
            "rng": rng_state(self.rng),
        }
        path = self.run_dir / CHECKPOINT_FILE
        save_checkpoint(path, state)
        spent = time.perf_counter() - start
        self.writer.add_scalar("perf/checkpoint_seconds", spent, self.counters.iteration)
        return path

    # ---------------------------------------------------------------- output

    def _log(self, metrics: dict[str, float]) -> None:
        step = self.counters.iteration
        for key, value in metrics.items():
            if np.isfinite(value):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def summary(
        self, metrics: dict[str, float], *, stopped_by: str = "", aborted: bool = False
    ) -> dict[str, Any]:
        """Return the end-of-run summary (what `--json` prints).

        `stopped_by` names the signal that stopped the run early (SIGINT, SIGTERM), if
        any; `aborted`, that a second one stopped it mid-iteration; `resume`, how to go on.
        """
        self.loop.count_restarts()
        c = self.counters
        stopped = {
            "interrupted": bool(stopped_by),
            "stopped_by": stopped_by or None,
            "aborted": aborted,
            "resume": f"league train --resume {self.run_dir}" if stopped_by else None,
        }
        return {
            "run_dir": str(self.run_dir),
            "game": self.spec.name,
            "mode": "cooperative" if len(self.info.teams) == 1 else "self-play",
            "learner": self.config.learner.algo,
            "iterations": c.iteration,
            "env_steps": c.env_steps,
            "agent_steps": c.agent_steps,
            "episodes": c.episodes,
            "seconds": round(c.seconds, 2),
            "gamma": self.schedules.gamma.value(c.iteration),
            "snapshots": len(self.registry.snapshots()),
            "last_snapshot": dict(c.last_snapshot),
            "agents": self.agents.summary(),
            "workers": len(self.runner.workers),
            "device": str(self.device),
            "precision": str(self.precision).removeprefix("torch."),
            "env_errors": c.env_errors,
            "worker_restarts": c.worker_restarts,
            "workers_lost": self.runner.lost,
            "async": self.config.train.asynchronous,
            "stale_fragments": c.stale_fragments,
            "abandoned_episodes": c.abandoned_episodes,
            **stopped,
            "metrics": {k: v for k, v in metrics.items() if np.isfinite(v)},
        }

    def close(self) -> None:
        """Release the writer, the envs, the database and the run's lock."""
        self.writer.close()
        self.runner.close()
        self.run.close()
        self._release()

    def _release(self) -> None:
        """Stop logging to the run directory and let another trainer take the run."""
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            TRACEBACKS.removeHandler(self._log_handler)
            self._log_handler.close()
        self.lock.release()
