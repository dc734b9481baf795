"""One learning loop for league training and best responses: collect, drop stale, learn,
count.

`LearningLoop.iterate` plays an iteration's games with every learner's newest weights
(whatever the matchmaker asks), drops the fragments older than `train.max_staleness`,
updates each learner on its own batch with its own schedules, and counts the
iteration. What the games mean (the league's bookkeeping, snapshots, ratings) is the
caller's: `Trainer` for `league train`, `exploit` for `league exploit`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import numpy as np
import torch

from agents import Batch, Schedule, StepParams, make_learner
from envs import ShapingParams
from league.config import Config, ScheduleConfig, TrainConfig
from league.rollout import PolicyFactory, RolloutRequest, RolloutResult, Runner
from league.training.state import Counters, cpu_weights
from matchmaking.matchmakers import Matchmaker


class NonFiniteLoss(ArithmeticError):
    """A learner's update produced a loss (`losses/*_loss`: not a diagnostic such as
    ACER's `replay_age`, NaN while its replay is empty) that is NaN or infinite: its
    weights can no longer be trusted, so the run stops and keeps its last checkpoint."""


def schedule(cfg: ScheduleConfig | float) -> Schedule:
    """Build a Schedule from a ScheduleConfig (a plain number never moves)."""
    if not isinstance(cfg, ScheduleConfig):
        return Schedule(cfg, cfg)
    return Schedule(cfg.start, cfg.end, cfg.steps, cfg.interpolation)


def build_learner(
    config: Config,
    factory: PolicyFactory,
    role: str,
    *,
    seed: int,
    device: torch.device,
    precision: torch.dtype,
) -> Any:
    """A fresh learner of the run's algorithm and settings for `role`, its network's
    initial weights drawn from `seed` (which seeds the global torch RNG)."""
    torch.manual_seed(seed)
    policy = factory(role)
    policy.torso_dtype = precision  # rollout workers act in float32
    lcfg = config.learner
    return make_learner(lcfg.algo, policy, lcfg.settings, device=device, seed=seed)


class Schedules:
    """A run's annealed settings (discount, learning rate, entropy weight, team spirit),
    read at an iteration."""

    def __init__(self, config: Config) -> None:
        self.reward = config.reward
        lr, ent_coef = config.learner.schedules()
        self.lr, self.ent_coef = schedule(lr), schedule(ent_coef)
        self.gamma = schedule(config.gamma)
        self.tau = schedule(config.reward.tau)

    def step_params(self, iteration: int, age: int | None = None) -> StepParams:
        """The discount of `iteration`; the learning rate and entropy weight of a learner
        `age` iterations old (default: as old as the run)."""
        age = iteration if age is None else age
        return StepParams(
            gamma=self.gamma.value(iteration),
            lr=self.lr.value(age),
            ent_coef=self.ent_coef.value(age),
        )

    def shaping(self, iteration: int) -> ShapingParams:
        """The reward shaping of `iteration`."""
        r = self.reward
        return ShapingParams(
            weights=dict(r.weights),
            tau=self.tau.value(iteration),
            zero_sum=r.zero_sum,
            decay_base=r.time_decay.base,
            decay_period=r.time_decay.period,
        )


class LearningLoop:
    """Collect, drop stale, learn, count: one iteration of any set of learners.

    `learners` (learner key -> learner) is shared with the caller, who may replace one
    (an exploiter's reset). `started` gives the iteration a learner's schedules started
    at (default 0 for all); `learned(key, samples)` hears how much each one learned.
    """

    def __init__(
        self,
        runner: Runner,
        learners: MutableMapping[str, Any],
        schedules: Schedules,
        train: TrainConfig,
        counters: Counters,
        rng: np.random.Generator,
        *,
        started: Callable[[str], int] = lambda key: 0,
        learned: Callable[[str, int], None] = lambda key, samples: None,
    ) -> None:
        self.runner, self.learners, self.schedules = runner, learners, schedules
        self.train, self.counters, self.rng = train, counters, rng
        self.started, self.learned = started, learned
        self.restarts_at_start = counters.worker_restarts

    def iterate(
        self, matchmaker: Matchmaker, *, fresh: bool = False
    ) -> tuple[RolloutResult, dict[str, float]]:
        """Play one iteration's games (`fresh`: new episodes, not those under way), learn
        from them and count them; return the games and the iteration's metrics."""
        c = self.counters
        params, shaping = self.step_params(), self.schedules.shaping(c.iteration)
        t0 = time.perf_counter()
        self.broadcast()
        t1 = time.perf_counter()
        result = self.collect(matchmaker, shaping, fresh=fresh)
        t2 = time.perf_counter()
        metrics = self.learn(result.batches)
        t3 = time.perf_counter()
        metrics |= self.count(result)
        metrics |= {
            "charts/gamma": params.gamma,
            "charts/lr": params.lr,
            "charts/ent_coef": params.ent_coef,
            "charts/tau": shaping.tau,
            "charts/SPS": result.env_steps / max(t3 - t0, 1e-9),
            "charts/learn_steps": float(result.learn_steps),
            "perf/broadcast_seconds": t1 - t0,
            "perf/collect_seconds": t2 - t1,
            "perf/learn_seconds": t3 - t2,
        }
        for stage, seconds in result.timings.items():
            metrics[f"perf/worker_{stage}_seconds"] = seconds
        return result, metrics | self.reward_metrics(result.batches, shaping)

    def step_params(self, key: str | None = None) -> StepParams:
        """This iteration's discount, learning rate and entropy weight (of learner `key`:
        its optimizer's schedules start over when it restarts; the discount, like the
        reward shaping, is the run's)."""
        it = self.counters.iteration
        if key is None:
            return self.schedules.step_params(it)
        return self.schedules.step_params(it, it - self.started(key))

    def collect(
        self, matchmaker: Matchmaker, shaping: ShapingParams, *, fresh: bool = False
    ) -> RolloutResult:
        """Play the iteration with the weights last broadcast."""
        c, tcfg = self.counters, self.train
        return self.runner.run(
            RolloutRequest(
                matchmaker,
                shaping=shaping,
                seed=int(self.rng.integers(2**31)),
                min_steps=tcfg.steps_per_iteration,
                first_episode=c.episodes,
                fragment_length=tcfg.fragment_length,
                fresh=fresh,
            )
        )

    def broadcast(self) -> None:
        """Send the learners' newest weights to the runner."""
        self.runner.set_latest(
            {key: cpu_weights(learner.policy) for key, learner in self.learners.items()},
            self.counters.iteration,
        )

    def learn(self, batches: dict[str, Batch]) -> dict[str, float]:
        """Update each learner on its batch, less the fragments staler than
        `train.max_staleness` (counted), with its own schedules; return its losses and
        the staleness it learned."""
        c = self.counters
        metrics: dict[str, float] = {}
        for key, stale in batches.items():
            batch, dropped = drop_stale(stale, c.iteration - self.train.max_staleness)
            c.stale_fragments += dropped
            if batch is None:
                continue
            params = self.step_params(key)
            prefix = self.metric("losses", key)
            with np.errstate(all="ignore"):  # a non-finite loss is named below instead
                losses = self.learners[key].update(batch, params)
            for name, value in losses.items():
                if name.endswith("loss") and not np.isfinite(value):  # not diagnostics
                    raise NonFiniteLoss(
                        f"learner {key!r}: {name} is {value} at iteration {c.iteration + 1}"
                    )
                if name.startswith("perf/"):  # seconds: the learners' together
                    metrics[name] = metrics.get(name, 0.0) + value
                else:
                    metrics[name.replace("losses", prefix, 1)] = value
            if len(self.learners) > 1:
                metrics[f"league/lr/{key}"] = params.lr
            lag = c.iteration - batch.version
            metrics[self.metric("league/staleness", key)] = float(np.mean(lag))
            metrics[self.metric("league/staleness_max", key)] = float(np.max(lag))
            self.learned(key, len(batch))
        metrics["charts/stale_fragments"] = float(c.stale_fragments)
        return metrics

    def count(self, result: RolloutResult) -> dict[str, float]:
        """Count the iteration and what it played."""
        c = self.counters
        c.iteration += 1
        c.env_steps += result.env_steps
        c.agent_steps += result.agent_steps
        c.episodes += len(result.episodes)
        c.env_errors += result.env_errors
        c.abandoned_episodes += result.abandoned
        self.count_restarts()
        return {
            "charts/env_errors": float(c.env_errors),
            "charts/worker_restarts": float(c.worker_restarts),
            "charts/workers": float(len(self.runner.workers)),
            "charts/abandoned_episodes": float(c.abandoned_episodes),
            "charts/env_steps": float(c.env_steps),
        }

    def count_restarts(self) -> None:
        """Bring the counters' worker restarts up to date (including those of an
        iteration that never finished)."""
        self.counters.worker_restarts = self.restarts_at_start + self.runner.restarts

    def metric(self, name: str, key: str) -> str:
        """A metric's name for learner `key` (`metric_name`)."""
        return metric_name(name, key, self.learners)

    def reward_metrics(self, batches: dict[str, Batch], shaping: ShapingParams) -> dict[str, float]:
        """Mean raw reward components and shaped reward per stream, for each learner's
        batch (under its own namespace when there are several)."""
        out = {}
        for key, batch in batches.items():
            per_stream = max(int(batch.done.sum()), 1)
            for j, name in enumerate(shaping.components):
                out[self.metric(f"rewards/{name}", key)] = float(
                    batch.components[:, j].sum() / per_stream
                )
            out[self.metric("rewards/shaped", key)] = float(batch.reward.sum() / per_stream)
        return out


def metric_name(name: str, key: str, learners: Mapping[str, Any]) -> str:
    """A metric's name: plain with one learner, `name/<key>` with several (each league
    agent's TensorBoard namespace)."""
    return name if len(learners) == 1 else f"{name}/{key}"


def drop_stale(batch: Batch, oldest: int) -> tuple[Batch | None, int]:
    """The batch without the fragments (streams) holding a step acted by a policy version
    older than `oldest` (None if none is left), and how many fragments were dropped."""
    starts, lengths = batch.stream_bounds()
    keep = np.minimum.reduceat(batch.version, starts) >= oldest
    dropped = int((~keep).sum())
    if not dropped:
        return batch, 0
    if not keep.any():
        return None, dropped
    return batch.select(np.repeat(keep, lengths)), dropped
