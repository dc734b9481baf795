"""The training loop: collect, learn, snapshot, evaluate, checkpoint, log."""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml

from agents import PPO, PPOConfig, Schedule, resolve_device, resolve_precision
from envs import GameInfo, GameSpec, ShapingParams
from league.checkpoint import load_checkpoint, save_checkpoint
from league.config import Config, LeagueConfig, ScheduleConfig, dump_config, parse_config
from league.games import resolve_game
from league.players import (
    OPPONENT_BOT,
    OPPONENT_LATEST,
    RANDOM,
    SCRIPTED,
    PolicyFactory,
    policy_key,
)
from league.registry import Registry
from league.rollout import Episode, SelfPlayMatchmaker, VersusMatchmaker, match_row
from league.runner import SerialRunner
from matchmaking import OpponentSampler, PFSPSampler

if TYPE_CHECKING:
    from league.ray_runner import RayRunner

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
CHECKPOINT_FILE = "checkpoint.safetensors"
TENSORBOARD_DIR = "tb"


class RunError(RuntimeError):
    """A run directory cannot be created or resumed."""


@dataclass
class Counters:
    """Progress that a resumed run continues exactly."""

    iteration: int = 0
    env_steps: int = 0
    agent_steps: int = 0
    episodes: int = 0
    seconds: float = 0.0
    last_snapshot: dict[str, int] = field(default_factory=dict)
    env_errors: int = 0
    worker_restarts: int = 0


def schedule(cfg: ScheduleConfig | float) -> Schedule:
    """Build a Schedule from a ScheduleConfig (a plain number never moves)."""
    if not isinstance(cfg, ScheduleConfig):
        return Schedule(cfg, cfg)
    return Schedule(cfg.start, cfg.end, cfg.steps, cfg.interpolation)


def cpu_weights(policy: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Return a detached CPU copy of a network's weights."""
    return {k: v.detach().to("cpu", copy=True) for k, v in policy.state_dict().items()}


class Trainer:
    """One league run: learners per role, opponent samplers, registry, logs."""

    def __init__(
        self, config: Config, run_dir: Path, *, resume: bool = False, address: str | None = None
    ) -> None:
        self.config, self.run_dir = config, Path(run_dir)
        self.spec = resolve_game(config, source=str(self.run_dir / CONFIG_FILE))
        self.info: GameInfo = self.spec.info()
        self.roles = sorted(set(self.info.roles.values()))
        if len(self.info.teams) == 1:
            logger.warning(
                "%s has a single team (%d agents): training plain multi-agent PPO, "
                "no opponent and no evaluation against bots",
                self.spec.name,
                len(self.info.agents),
            )
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        random.seed(config.seed)
        self.factory = PolicyFactory.from_config(self.info, config.model)
        self.lr = schedule(config.learner.ppo.lr)
        self.ent_coef = schedule(config.learner.ppo.ent_coef)
        ppo = PPOConfig(
            **{
                **config.learner.ppo.model_dump(),
                "lr": self.lr.value(0),
                "ent_coef": self.ent_coef.value(0),
            }
        )
        self.precision = resolve_precision(config.precision, self.device)
        self.learners = {}
        for i, role in enumerate(self.roles):
            torch.manual_seed(config.seed + i)  # each role's own initial weights
            policy = self.factory(role)
            policy.torso_dtype = self.precision  # rollout workers act in float32
            self.learners[role] = PPO(policy, ppo, device=self.device, seed=config.seed + i)
        torch.manual_seed(config.seed)
        lg = config.league
        self.samplers = {role: make_sampler(lg) for role in self.roles}
        self.gamma = schedule(config.gamma)
        self.tau = schedule(config.reward.tau)
        self.counters = Counters()
        self.registry = Registry(self.run_dir)
        if resume:
            self._restore()
        else:
            self.registry.set_meta("game", self.spec.name)
            self.registry.set_meta("created", time.time())
        self.runner = make_runner(config, self.spec, self.info, self.factory, address=address)
        self._restarts_at_start = self.counters.worker_restarts
        for role in self.roles:
            pool = self.samplers[role].pool
            self.runner.add_snapshots(
                {policy_key(role, sid): self.registry.load_snapshot(sid) for sid in pool}
            )
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(
            str(self.run_dir / TENSORBOARD_DIR), purge_step=self.counters.iteration + 1
        )

    # ---------------------------------------------------------------- shaping

    def shaping(self) -> ShapingParams:
        """Return the reward shaping for the current iteration."""
        r = self.config.reward
        return ShapingParams(
            weights=dict(r.weights),
            tau=self.tau.value(self.counters.iteration),
            zero_sum=r.zero_sum,
            decay_base=r.time_decay.base,
            decay_period=r.time_decay.period,
        )

    # ---------------------------------------------------------------- loop

    def train(
        self,
        *,
        iterations: int | None = None,
        on_iteration: Callable[[dict[str, float]], None] | None = None,
    ) -> dict[str, Any]:
        """Run until `iterations` (total) or the time budget; return the summary."""
        total = iterations or self.config.train.iterations
        tcfg = self.config.train
        budget = None if tcfg.max_minutes is None else tcfg.max_minutes * 60.0
        start_seconds = self.counters.seconds
        t0 = time.monotonic()
        last_metrics: dict[str, float] = {}
        interrupted = aborted = False
        # Ctrl-C only sets a flag that the loop reads between iterations: an exception
        # raised at an arbitrary point could leave a lock held (seen: a hung exit) or
        # a half-done iteration in the checkpoint. A second Ctrl-C aborts at once.
        asked: list[int] = []

        def on_sigint(signum: int, frame: Any) -> None:
            if asked:
                raise KeyboardInterrupt
            asked.append(signum)

        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
        try:
            while self.counters.iteration < total:
                if asked:
                    interrupted = True
                    logger.warning("interrupted: writing a checkpoint before exit")
                    break
                if budget is not None and self.counters.seconds >= budget:
                    break
                it_start = time.monotonic()
                last_metrics = self.iterate()
                self.counters.seconds = start_seconds + (time.monotonic() - t0)
                last_metrics["charts/iteration_seconds"] = time.monotonic() - it_start
                self._log(last_metrics)
                if self.counters.iteration % tcfg.checkpoint_every == 0:
                    self.checkpoint()
                if on_iteration is not None:
                    on_iteration(last_metrics)
        except KeyboardInterrupt:
            # Second Ctrl-C: the iteration may be half done, so keep the last checkpoint.
            interrupted = aborted = True
            logger.warning("aborted: resume continues from the last checkpoint")
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)
            self.counters.seconds = start_seconds + (time.monotonic() - t0)
            if not aborted:
                self.checkpoint()
        return self.summary(last_metrics, interrupted=interrupted)

    def iterate(self) -> dict[str, float]:
        """Run one iteration: collect, learn, book-keep, maybe snapshot and evaluate."""
        c, tcfg = self.counters, self.config.train
        gamma = self.gamma.value(c.iteration)
        lr = self.lr.value(c.iteration)
        ent_coef = self.ent_coef.value(c.iteration)
        for learner in self.learners.values():
            learner.gamma = gamma
            learner.ent_coef = ent_coef
            learner.set_lr(lr)
        shaping = self.shaping()
        self.runner.set_latest(
            {role: cpu_weights(lr.policy) for role, lr in self.learners.items()}, c.iteration
        )
        t = time.monotonic()
        result = self.runner.run(
            SelfPlayMatchmaker(
                self.info,
                self.samplers,
                random_opening=self.config.league.random_opening,
                bots=self.config.league.bots,
                opening_side=self.config.league.opening_side,
            ),
            shaping=shaping,
            seed=int(self.rng.integers(2**31)),
            min_steps=tcfg.steps_per_iteration,
            first_episode=c.episodes,
        )
        collect_s = time.monotonic() - t
        metrics: dict[str, float] = {}
        t = time.monotonic()
        for role, batch in result.batches.items():
            prefix = "losses" if len(self.roles) == 1 else f"losses/{role}"
            for key, value in self.learners[role].update(batch).items():
                metrics[key.replace("losses", prefix, 1)] = value
            metrics[f"league/staleness{'' if len(self.roles) == 1 else '/' + role}"] = float(
                np.mean(c.iteration - batch.version)
            )
            per_stream = max(int(batch.done.sum()), 1)
            for j, name in enumerate(shaping.components):
                metrics[f"rewards/{name}"] = float(batch.components[:, j].sum() / per_stream)
            metrics["rewards/shaped"] = float(batch.reward.sum() / per_stream)
        learn_s = time.monotonic() - t
        self._book_episodes(result.episodes)
        c.env_errors += result.env_errors
        c.worker_restarts = self._restarts_at_start + self.runner.restarts
        metrics["charts/env_errors"] = float(c.env_errors)
        metrics["charts/worker_restarts"] = float(c.worker_restarts)
        c.iteration += 1
        c.env_steps += result.env_steps
        c.agent_steps += result.agent_steps
        c.episodes += len(result.episodes)
        metrics.update(self._episode_metrics(result.episodes))
        metrics["charts/gamma"] = gamma
        metrics["charts/lr"] = lr
        metrics["charts/ent_coef"] = ent_coef
        metrics["charts/tau"] = shaping.tau
        metrics["charts/env_steps"] = float(c.env_steps)
        metrics["charts/SPS"] = result.env_steps / max(collect_s + learn_s, 1e-9)
        metrics["charts/collect_seconds"] = collect_s
        metrics["charts/learn_seconds"] = learn_s
        if c.iteration % tcfg.snapshot_every == 0:
            previous = dict(c.last_snapshot)
            added = self.snapshot()
            if tcfg.rating_games:
                metrics.update(self.rate(added, previous, games=tcfg.rating_games))
            # Snapshots a bounded pool (`league.max_pool`) evicted leave the runner's
            # memory (and Ray's object store); the registry keeps them on disk.
            self.runner.keep_snapshots(
                {policy_key(role, sid) for role in self.roles for sid in self.samplers[role].pool}
            )
        for role in self.roles:
            metrics[f"league/pool_size{'' if len(self.roles) == 1 else '/' + role}"] = len(
                self.samplers[role]
            )
        if tcfg.eval_every and c.iteration % tcfg.eval_every == 0:
            metrics.update(self.evaluate_vs_random(tcfg.eval_episodes))
        return metrics

    def _book_episodes(self, episodes: list[Episode]) -> None:
        """Update quality scores and record the training matches."""
        roles = self.info.roles
        rows = []
        for ep in episodes:
            if ep.opponent >= 0 and ep.result:
                opponent_team = next(t for t in ep.players if t != ep.focal)
                sampler = self.samplers[roles[opponent_team]]
                score = ep.result[ep.focal]
                if isinstance(sampler, PFSPSampler):
                    sampler.update(ep.opponent, score=score)  # draws count as half
                else:
                    sampler.update(ep.opponent, learner_won=score == 1.0)
            rows.append(match_row(ep, self.counters.iteration + 1, kind="train"))
        self.registry.add_matches(rows)

    def _episode_metrics(self, episodes: list[Episode]) -> dict[str, float]:
        out = {"charts/episode_length": float(np.mean([e.length for e in episodes]))}
        if episodes and episodes[0].result:
            for name, games in (
                ("latest", [e for e in episodes if e.opponent == OPPONENT_LATEST]),
                ("history", [e for e in episodes if e.opponent >= 0]),
                ("bots", [e for e in episodes if e.opponent == OPPONENT_BOT]),
            ):
                if games:
                    out[f"league/win_rate_vs_{name}"] = float(
                        np.mean([e.result[e.focal] for e in games])
                    )
        return out

    def evaluate_vs_random(self, episodes: int) -> dict[str, float]:
        """Play the latest policy against the random bot, seats alternating."""
        if len(self.info.teams) < 2:
            return {}
        result = self.runner.run(
            VersusMatchmaker(self.info, "latest", RANDOM),
            shaping=ShapingParams(),
            seed=int(self.rng.integers(2**31)),
            episodes=episodes,
        )
        scores = [e.result[e.focal] for e in result.episodes]
        wins = [e.result[e.focal] == 1.0 for e in result.episodes]
        self.registry.add_matches([match_row(e, self.counters.iteration) for e in result.episodes])
        return {
            "league/win_rate_vs_random": float(np.mean(wins)),
            "league/score_vs_random": float(np.mean(scores)),
        }

    def rate(
        self, added: dict[str, int], previous: dict[str, int], *, games: int
    ) -> dict[str, float]:
        """Play new snapshots against the bots and their predecessors; return their ratings."""
        from league.evaluate import leaderboard_ratings

        if len(self.info.teams) < 2:
            return {}
        rows = []
        for role, sid in added.items():
            me = policy_key(role, sid)
            opponents = [RANDOM] + ([SCRIPTED] if self.spec.bot is not None else [])
            if role in previous and self.info.symmetric:
                opponents.append(policy_key(role, previous[role]))
            for opponent in opponents:
                result = self.runner.run(
                    VersusMatchmaker(self.info, me, opponent),
                    shaping=ShapingParams(),
                    seed=int(self.rng.integers(2**31)),
                    episodes=games,
                )
                rows += [match_row(e, self.counters.iteration) for e in result.episodes]
        self.registry.add_matches(rows)
        ratings = leaderboard_ratings(self.registry)
        out = {}
        for role, sid in added.items():
            suffix = "" if len(self.roles) == 1 else f"/{role}"
            out[f"league/rating{suffix}"] = ratings.get(policy_key(role, sid), float("nan"))
        return out

    # ---------------------------------------------------------------- state

    def snapshot(self) -> dict[str, int]:
        """Register each role's current weights and add them to its opponent pool."""
        c = self.counters
        added = {}
        for role, learner in self.learners.items():
            weights = cpu_weights(learner.policy)
            sid = self.registry.add_snapshot(
                role=role,
                iteration=c.iteration,
                env_steps=c.env_steps,
                tensors=weights,
                parent=c.last_snapshot.get(role),
                config=self.config.model_dump(mode="json"),
            )
            self.samplers[role].add(sid)
            self.runner.add_snapshots({policy_key(role, sid): weights})
            c.last_snapshot[role] = sid
            added[role] = sid
        return added

    def checkpoint(self) -> Path:
        """Write the full training state atomically."""
        c = self.counters
        state = {
            "counters": {
                "iteration": c.iteration,
                "env_steps": c.env_steps,
                "agent_steps": c.agent_steps,
                "episodes": c.episodes,
                "seconds": c.seconds,
                "last_snapshot": dict(c.last_snapshot),
                "env_errors": c.env_errors,
                "worker_restarts": c.worker_restarts,
            },
            "learners": {role: lr.state_dict() for role, lr in self.learners.items()},
            "samplers": {role: s.state_dict() for role, s in self.samplers.items()},
            "rng": {
                "numpy": self.rng.bit_generator.state,
                "torch": torch.get_rng_state(),
                "python": random.getstate(),
            },
            "gamma": self.gamma.value(c.iteration),
        }
        path = self.run_dir / CHECKPOINT_FILE
        save_checkpoint(path, state)
        return path

    def _restore(self) -> None:
        path = self.run_dir / CHECKPOINT_FILE
        if not path.exists():
            raise RunError(f"{self.run_dir}: no checkpoint to resume from ({path} is missing)")
        state = load_checkpoint(path)
        counters = state["counters"]
        self.counters = Counters(
            iteration=int(counters["iteration"]),
            env_steps=int(counters["env_steps"]),
            agent_steps=int(counters["agent_steps"]),
            episodes=int(counters["episodes"]),
            seconds=float(counters["seconds"]),
            last_snapshot={k: int(v) for k, v in counters["last_snapshot"].items()},
            env_errors=int(counters["env_errors"]),
            worker_restarts=int(counters["worker_restarts"]),
        )
        for role, learner in self.learners.items():
            learner.load_state_dict(state["learners"][role])
        for role, sampler in self.samplers.items():
            sampler.load_state_dict(state["samplers"][role])
        self.rng.bit_generator.state = state["rng"]["numpy"]
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        dropped = self.registry.rollback_after(self.counters.iteration)
        if dropped:
            logger.info("dropped %d registry rows written after the checkpoint", dropped)

    # ---------------------------------------------------------------- output

    def _log(self, metrics: dict[str, float]) -> None:
        step = self.counters.iteration
        for key, value in metrics.items():
            if np.isfinite(value):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def summary(self, metrics: dict[str, float], *, interrupted: bool) -> dict[str, Any]:
        """Return the end-of-run summary (what `--json` prints)."""
        c = self.counters
        return {
            "run_dir": str(self.run_dir),
            "game": self.spec.name,
            "mode": "cooperative" if len(self.info.teams) == 1 else "self-play",
            "iterations": c.iteration,
            "env_steps": c.env_steps,
            "agent_steps": c.agent_steps,
            "episodes": c.episodes,
            "seconds": round(c.seconds, 2),
            "gamma": self.gamma.value(c.iteration),
            "snapshots": len(self.registry.snapshots()),
            "last_snapshot": dict(c.last_snapshot),
            "workers": len(getattr(self.runner, "workers", ())),
            "device": str(self.device),
            "precision": str(self.precision).removeprefix("torch."),
            "env_errors": c.env_errors,
            "worker_restarts": c.worker_restarts,
            "interrupted": interrupted,
            "metrics": {k: v for k, v in metrics.items() if np.isfinite(v)},
        }

    def close(self) -> None:
        """Release the writer, the envs and the database."""
        self.writer.close()
        self.runner.close()
        self.registry.close()


def make_sampler(lg: LeagueConfig) -> OpponentSampler | PFSPSampler:
    """Build a role's opponent sampler from the `league` config section."""
    if lg.history == "pfsp":
        return PFSPSampler(
            p_latest=lg.p_latest,
            weighting=lg.pfsp_weighting,
            decay=lg.payoff_decay,
            max_pool=lg.max_pool,
        )
    return OpponentSampler(
        p_latest=lg.p_latest, method=lg.history, quality_lr=lg.quality_lr, max_pool=lg.max_pool
    )


def make_runner(
    config: Config,
    spec: GameSpec,
    info: GameInfo,
    factory: PolicyFactory,
    *,
    address: str | None = None,
) -> SerialRunner | RayRunner:
    """Build the in-process runner (`workers: 0`) or the Ray runner (the default)."""
    workers = config.train.workers
    if workers == 0:
        return SerialRunner(spec, info, envs=config.train.envs, factory=factory)
    from league.ray_runner import RayRunner, default_workers, start_ray

    start_ray(address)
    return RayRunner(
        spec, info, workers=workers or default_workers(), envs=config.train.envs, factory=factory
    )


def new_run(config: Config, runs_dir: Path) -> Path:
    """Create runs/<name> and save the config there; refuse to overwrite a run."""
    run_dir = Path(runs_dir) / str(config.name)
    if (run_dir / CONFIG_FILE).exists():
        raise RunError(
            f"{run_dir} already holds a run; resume it with --resume {run_dir} "
            "or pick another --name"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(dump_config(config))
    return run_dir


def load_run_config(run_dir: Path, overrides: list[str] | None = None) -> Config:
    """Read a run directory's saved config (with optional overrides)."""
    from league.config import apply_overrides

    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise RunError(f"{run_dir} is not a run directory ({CONFIG_FILE} is missing)")
    raw = yaml.safe_load(path.read_text())
    raw = apply_overrides(raw, list(overrides or []), source=str(path))
    return parse_config(raw, source=str(path))


__all__ = ["Trainer", "load_run_config", "new_run"]
