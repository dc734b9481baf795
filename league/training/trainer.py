"""The training loop: collect, learn, book-keep, snapshot, rate, evaluate, checkpoint, log."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents import (
    Batch,
    Schedule,
    StepParams,
    make_learner,
    resolve_device,
    resolve_precision,
)
from envs import GameInfo, ShapingParams
from league.config import Config, ScheduleConfig
from league.evaluation import leaderboard_ratings
from league.evaluation.exact import ExactGame
from league.games import check_learner_fits, check_options, resolve_game
from league.rollout import (
    Episode,
    PolicyFactory,
    RolloutRequest,
    RolloutResult,
    WorkersLost,
    make_runner,
)
from league.rollout.loop import TRACEBACKS
from league.signals import Abandoned, Stopped, deferred_stop
from league.store import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    LOG_FILE,
    TENSORBOARD_DIR,
    Registry,
    RunLock,
    RunLog,
    load_checkpoint,
    save_checkpoint,
)
from league.training.scoring import SnapshotScorer
from league.training.state import (
    Counters,
    cpu_weights,
    make_sampler,
    restore_sampler,
    rng_state,
    set_rng_state,
)
from matchmaking import (
    MAIN,
    RANDOM,
    SCRIPTED,
    FreezeRule,
    League,
    LeagueAgent,
    LeagueMatchmaker,
    NashSampler,
    PlayerId,
    SelfPlayMatchmaker,
    VersusMatchmaker,
    record_outcome,
)

logger = logging.getLogger(__name__)


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


class Trainer:
    """One league run: a learner per league agent (each role's main agent and its
    exploiters), opponent samplers, registry, logs."""

    def __init__(
        self, config: Config, run_dir: Path, *, resume: bool = False, address: str | None = None
    ) -> None:
        self.config, self.run_dir = config, Path(run_dir)
        self.lock = RunLock(self.run_dir)  # one trainer per run; readers never lock
        self._log_handler: logging.Handler | None = None
        try:
            self._log_handler = RunLog(self.run_dir / LOG_FILE)  # quiet on a full disk
            self._setup(resume, address)
        except BaseException:
            self._release()
            raise

    def _setup(self, resume: bool, address: str | None) -> None:
        """Build the game, learners, samplers, registry, runner and writer (or restore them)."""
        config = self.config
        logging.getLogger().addHandler(self._log_handler)
        TRACEBACKS.addHandler(self._log_handler)
        self.spec = resolve_game(config, source=str(self.run_dir / CONFIG_FILE))
        self.info: GameInfo = self.spec.info()
        check_learner_fits(config, self.info, source=str(self.run_dir / CONFIG_FILE))
        check_options(config, self.spec, source=str(self.run_dir / CONFIG_FILE))
        self.roles = sorted(set(self.info.roles.values()))
        if len(self.info.teams) == 1:
            logger.warning(
                "%s has a single team (%d agents): training plain multi-agent %s, "
                "no opponent and no evaluation against bots",
                self.spec.name,
                len(self.info.agents),
                config.learner.algo.upper(),
            )
        self.device = resolve_device(config.device)
        self.precision = resolve_precision(config.precision, self.device)
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        random.seed(config.seed)
        self.factory = PolicyFactory.from_config(self.info, config.model, config.learner.algo)
        ag = config.league.agents
        self.league = League.of_roles(
            self.roles,
            main_exploiters=ag.main_exploiters,
            league_exploiters=ag.league_exploiters,
            shares=dict(ag.shares),
            mix=ag.main_mix,
            rule=FreezeRule(**ag.freeze.model_dump(), league_reset=ag.league_exploiter_reset),
            decay=config.league.payoff_decay,
        )
        # Main agents first (role i keeps seed + i), then the exploiters.
        self.learners = {
            a.key: self._make_learner(i, a.role) for i, a in enumerate(self.league.agents)
        }
        for agent in self.league.exploiters:
            self._restart_from_main(agent)
        torch.manual_seed(config.seed)
        self.schedules = Schedules(config)
        self.samplers = {role: make_sampler(config.league, role) for role in self.roles}
        self.counters = Counters()
        self.registry = Registry(self.run_dir)
        if resume:
            self._restore()
        else:
            self.registry.set_meta("game", self.spec.name)
            self.registry.set_meta("created", time.time())
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
        )
        self._restarts_at_start = self.counters.worker_restarts
        self.runner.add_snapshots(
            {p: self.registry.load_snapshot(p.snapshot) for p in self._pool_players()}
        )
        from league.store.events import EventWriter  # a failure names the event file

        self.writer = EventWriter(
            str(self.run_dir / TENSORBOARD_DIR), purge_step=self.counters.iteration + 1
        )
        self.scorer = self._make_scorer()

    def _make_scorer(self) -> SnapshotScorer:
        """What scores each new snapshot: exactly in a game with a game tree, and for a
        Nash pool against the pool."""
        return SnapshotScorer(
            ExactGame.of(self.spec, self.factory),
            self.registry,
            versus=self._versus,
            nash_games=self.config.league.nash_games,
            log=self.writer.add_scalar,
        )

    def _make_learner(self, i: int, role: str) -> Any:
        """Build agent `i`'s network (its own seed) and learner."""
        return build_learner(
            self.config,
            self.factory,
            role,
            seed=self.config.seed + i,
            device=self.device,
            precision=self.precision,
        )

    def _pool_players(self) -> set[PlayerId]:
        """Every snapshot that some opponent pool or exploiter may draw."""
        pools = {PlayerId.of_snapshot(r, sid) for r, s in self.samplers.items() for sid in s.pool}
        if self.league.exploiters:
            pools |= {f.player for f in self.league.frozen}
        return pools

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
        total = iterations or self.config.train.iterations
        budget = self.config.train.max_minutes
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
                    metrics["charts/iteration_seconds"] = time.monotonic() - it_start
                    self._log(metrics)
                    if self.counters.iteration % self.config.train.checkpoint_every == 0:
                        self.checkpoint()
                    if on_iteration is not None:
                        on_iteration(metrics)
            except Abandoned as dropped:
                # Stopped while the workers did not deliver (a lost node): nothing of
                # the iteration was used, so the state is whole.
                logger.warning("%s", dropped)
            except WorkersLost as lost:
                raise WorkersLost(
                    f"{lost}; a checkpoint of iteration {self.counters.iteration} is kept: "
                    f"league train --resume {self.run_dir} continues from there"
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
                    self.snapshot_if_newer()
                    self.checkpoint()
        return self.summary(metrics, stopped_by=stop.name, aborted=aborted)

    def iterate(self) -> dict[str, float]:
        """One iteration: schedules, collect, learn, book-keep, snapshot, rate, evaluate."""
        c, tcfg = self.counters, self.config.train
        params, shaping = self.step_params(), self.shaping()
        t = time.monotonic()
        result = self.collect(shaping)
        collect_s, t = time.monotonic() - t, time.monotonic()
        metrics = self.learn(result.batches)
        learn_s = time.monotonic() - t
        metrics |= self.book(result)
        self.freeze_exploiters()
        metrics |= {
            "charts/gamma": params.gamma,
            "charts/lr": params.lr,
            "charts/ent_coef": params.ent_coef,
            "charts/tau": shaping.tau,
            "charts/SPS": result.env_steps / max(collect_s + learn_s, 1e-9),
            "charts/collect_seconds": collect_s,
            "charts/learn_seconds": learn_s,
        }
        metrics |= _reward_metrics(result.batches, shaping, self._per_agent)
        if c.iteration % tcfg.snapshot_every == 0:
            previous = dict(c.last_snapshot)
            added = self.snapshot()
            if tcfg.rating_games:
                metrics |= self.rate(added, previous, games=tcfg.rating_games)
            if tcfg.video_every and (c.iteration // tcfg.snapshot_every) % tcfg.video_every == 0:
                self.clip(added, previous)
        for role in self.roles:
            metrics[self._per_agent("league/pool_size", role)] = len(self.samplers[role])
        if tcfg.eval_every and c.iteration % tcfg.eval_every == 0:
            metrics |= self.evaluate_vs_random(tcfg.eval_episodes)
        return metrics

    def step_params(self, agent: str | None = None) -> StepParams:
        """This iteration's discount, learning rate and entropy weight (of `agent`'s
        learner: its optimizer's schedules start over when it restarts; the discount,
        like the reward shaping, is the run's)."""
        c = self.counters
        if agent is None:
            return self.schedules.step_params(c.iteration)
        return self.schedules.step_params(c.iteration, c.iteration - self.league.started[agent])

    def shaping(self) -> ShapingParams:
        """The reward shaping of this iteration."""
        return self.schedules.shaping(self.counters.iteration)

    def collect(self, shaping: ShapingParams) -> RolloutResult:
        """Send the latest weights to the runner and play this iteration's self-play games."""
        c, lg = self.counters, self.config.league
        self.runner.set_latest(
            {key: cpu_weights(learner.policy) for key, learner in self.learners.items()},
            c.iteration,
        )
        matchmaker = LeagueMatchmaker(
            self.league,
            SelfPlayMatchmaker(
                self.info,
                self.samplers,
                random_opening=lg.random_opening,
                bots=lg.bots,
                opening_side=lg.opening_side,
            ),
            menu=lg.agents.opponent_menu,
        )
        return self.runner.run(
            RolloutRequest(
                matchmaker,
                shaping=shaping,
                seed=int(self.rng.integers(2**31)),
                min_steps=self.config.train.steps_per_iteration,
                first_episode=c.episodes,
                fragment_length=self.config.train.fragment_length,
            )
        )

    def learn(self, batches: dict[str, Batch]) -> dict[str, float]:
        """Update each agent's learner on its batch, less the fragments staler than
        `train.max_staleness` (counted), with the agent's own schedules; return its
        losses and the staleness it learned."""
        c = self.counters
        metrics: dict[str, float] = {}
        for agent, stale in batches.items():
            batch, dropped = drop_stale(stale, c.iteration - self.config.train.max_staleness)
            c.stale_fragments += dropped
            if batch is None:
                continue
            prefix = self._per_agent("losses", agent)
            params = self.step_params(agent)
            for key, value in self.learners[agent].update(batch, params).items():
                metrics[key.replace("losses", prefix, 1)] = value
            if len(self.learners) > 1:
                metrics[f"league/lr/{agent}"] = params.lr
            lag = c.iteration - batch.version
            metrics[self._per_agent("league/staleness", agent)] = float(np.mean(lag))
            metrics[self._per_agent("league/staleness_max", agent)] = float(np.max(lag))
            self.league.learned(agent, len(batch))
        metrics["charts/stale_fragments"] = float(c.stale_fragments)
        return metrics

    def book(self, result: RolloutResult) -> dict[str, float]:
        """Count the iteration, record its matches and update the opponents' quality."""
        c = self.counters
        c.iteration += 1
        c.env_steps += result.env_steps
        c.agent_steps += result.agent_steps
        c.episodes += len(result.episodes)
        c.env_errors += result.env_errors
        c.abandoned_episodes += result.abandoned
        self._count_restarts()
        for ep in result.episodes:
            if not ep.result:
                continue
            score = ep.result[ep.focal]
            self.league.record(ep.players, ep.focal, score)
            if ep.players[ep.focal].agent == "":  # a main agent's game: its opponents' quality
                record_outcome(self.samplers, ep.opponents(), score)
        self.registry.add_matches(
            [ep.match_row(c.iteration, kind="train") for ep in result.episodes]
        )
        return {
            "charts/env_errors": float(c.env_errors),
            "charts/worker_restarts": float(c.worker_restarts),
            "charts/workers": float(len(self.runner.workers)),
            "charts/abandoned_episodes": float(c.abandoned_episodes),
            "charts/env_steps": float(c.env_steps),
            **_episode_metrics([e for e in result.episodes if e.players[e.focal].agent == ""]),
            **self._exploiter_metrics(result.episodes),
        }

    def _count_restarts(self) -> None:
        """Bring the counters' worker restarts up to date (including those of an
        iteration that never finished)."""
        self.counters.worker_restarts = self._restarts_at_start + self.runner.restarts

    def _per_agent(self, name: str, agent: str) -> str:
        """A metric's name: plain with one learner, `name/<agent key>` with several (each
        league agent's TensorBoard namespace)."""
        return name if len(self.learners) == 1 else f"{name}/{agent}"

    def _exploiter_metrics(self, episodes: list[Episode]) -> dict[str, float]:
        """Each exploiter's score in the episodes it was focal in, and its generation."""
        out: dict[str, float] = {}
        for agent in self.league.exploiters:
            scores = [
                e.result[e.focal]
                for e in episodes
                if e.result and e.players[e.focal] == agent.player
            ]
            if scores:
                out[f"league/score/{agent.key}"] = float(np.mean(scores))
            out[f"league/freezes/{agent.key}"] = float(self.league.freezes[agent.key])
        if self.league.exploiters:
            out["league/frozen_players"] = float(len(self.league.frozen))
        return out

    def freeze_exploiters(self) -> None:
        """Freeze every exploiter that is ready (registry snapshot of its kind, a frozen
        player of the league and of the main agents' history), then reset it or not."""
        added: dict[str, int] = {}
        for agent in self.league.exploiters:
            if not self.league.ready(agent, self.info.opponent_roles(agent.role)):
                continue
            added[agent.key] = sid = self._register(agent)
            if self.league.after_freeze(agent, self.rng):
                self._reset(agent)
            logger.info("%s froze snapshot %d", agent.player, sid)
        if added:
            self.runner.keep_snapshots(self._pool_players())

    def _reset(self, agent: LeagueAgent) -> None:
        """Restart an exploiter with a fresh optimizer whose learning-rate and entropy
        schedules start over, from fresh weights (a new seed per generation) or, with
        `restart_from: main`, from its main agent's current weights."""
        generation = self.league.resets[agent.key]
        index = self.league.agents.index(agent) + generation * len(self.league.agents)
        with torch.random.fork_rng(devices=[]):
            self.learners[agent.key] = self._make_learner(index, agent.role)
        self._restart_from_main(agent)
        self.league.started[agent.key] = self.counters.iteration

    def _restart_from_main(self, agent: LeagueAgent) -> None:
        """With `restart_from: main`, copy the role's main agent's weights into `agent`."""
        if self.config.league.agents.restart_from != "main":
            return
        main = next(a for a in self.league.agents if a.kind == MAIN and a.role == agent.role)
        weights = self.learners[main.key].policy.state_dict()
        self.learners[agent.key].policy.load_state_dict(weights)

    # ---------------------------------------------------------------- strength

    def evaluate_vs_random(self, episodes: int) -> dict[str, float]:
        """Play each team's latest policy against the random bot, seats alternating."""
        if len(self.info.teams) < 2:
            return {}
        episodes_played = self._versus(None, PlayerId.of_bot(RANDOM), episodes)
        self.registry.add_matches([e.match_row(self.counters.iteration) for e in episodes_played])
        return {
            "league/win_rate_vs_random": float(
                np.mean([e.result[e.focal] == 1.0 for e in episodes_played])
            ),
            "league/score_vs_random": float(np.mean([e.result[e.focal] for e in episodes_played])),
        }

    def rate(
        self, added: dict[str, int], previous: dict[str, int], *, games: int
    ) -> dict[str, float]:
        """Play new snapshots against the bots and their predecessors; return their ratings."""
        if len(self.info.teams) < 2:
            return {}
        bots = [RANDOM] + ([SCRIPTED] if self.spec.bot is not None else [])
        rows = []
        for role, sid in added.items():
            opponents = [PlayerId.of_bot(b) for b in bots]
            if role in previous and self.info.symmetric:
                opponents.append(PlayerId.of_snapshot(role, previous[role]))
            for opponent in opponents:
                played = self._versus(PlayerId.of_snapshot(role, sid), opponent, games)
                rows += [e.match_row(self.counters.iteration) for e in played]
        self.registry.add_matches(rows)
        ratings = leaderboard_ratings(self.registry)
        return {
            self._per_agent("league/rating", role): ratings.get(
                str(PlayerId.of_snapshot(role, sid)), float("nan")
            )
            for role, sid in added.items()
        }

    def _versus(self, player: PlayerId | None, opponent: PlayerId, games: int) -> list[Episode]:
        """Play `games` evaluation games of `player` (None: each latest) against `opponent`."""
        request = RolloutRequest(
            VersusMatchmaker(self.info, player, opponent),
            seed=int(self.rng.integers(2**31)),
            episodes=games,
        )
        return self.runner.run(request).episodes

    # ---------------------------------------------------------------- state

    def clip(self, added: dict[str, int], previous: dict[str, int]) -> None:
        """Attach to TensorBoard a clip of each new snapshot playing the one before it (in
        an asymmetric game of two roles: the other role's previous snapshot)."""
        from league.play import add_clip_to_tensorboard, record_clip

        for role, sid in added.items():
            others = [r for r in self.roles if r != role] or [role]
            if others[0] not in previous or len(others) > 1:
                continue
            a = PlayerId.of_snapshot(role, sid)
            b = PlayerId.of_snapshot(others[0], previous[others[0]])
            weights = {p: self.registry.load_snapshot(p.snapshot) for p in (a, b)}
            clip = record_clip(
                self.spec, self.info, self.factory, weights, a, b, seed=self.counters.iteration
            )
            tag = self._per_agent("league/replay", role)
            add_clip_to_tensorboard(self.writer, tag, clip, self.counters.iteration, fps=8)

    def snapshot(self) -> dict[str, int]:
        """Register each role's main agent's current weights (role -> snapshot id)."""
        added = {a.role: self._register(a) for a in self.league.agents if a.kind == MAIN}
        # Snapshots a bounded pool (`league.max_pool`) evicted leave the runner's
        # memory (and Ray's object store); the registry keeps them on disk.
        self.runner.keep_snapshots(self._pool_players())
        return added

    def _register(self, agent: LeagueAgent) -> int:
        """Store an agent's current weights as a snapshot of its kind (its parent: the
        snapshot its weights continue from) and make it a frozen player of the league
        and of its role's opponent pool."""
        c = self.counters
        weights = cpu_weights(self.learners[agent.key].policy)
        sid = self.registry.add_snapshot(
            role=agent.role,
            agent=agent.key,
            kind=agent.kind,
            iteration=c.iteration,
            env_steps=c.env_steps,
            tensors=weights,
            parent=self.league.lineage.get(agent.key, c.last_snapshot.get(agent.key)),
            config=self.config.model_dump(mode="json"),
        )
        self.league.add_frozen(agent, sid)
        sampler = self.samplers[agent.role]
        sampler.add(sid)
        self.runner.add_snapshots({PlayerId.of_snapshot(agent.role, sid): weights})
        c.last_snapshot[agent.key] = sid
        tag = self._per_agent("league/exploitability", agent.key)
        self.scorer.score(sid, self.learners[agent.key].policy, tag=tag, env_steps=c.env_steps)
        if isinstance(sampler, NashSampler):
            self.scorer.fill(sampler, sid, iteration=c.iteration)
        self.scorer.forget({p.snapshot for p in self._pool_players()})
        return sid

    def snapshot_if_newer(self) -> None:
        """Register the final policy unless the newest snapshot already holds it."""
        newest = self.registry.latest_snapshot(kind=MAIN)
        if self.counters.iteration > 0 and (
            newest is None or newest["iteration"] < self.counters.iteration
        ):
            self.snapshot()

    def checkpoint(self) -> Path:
        """Write the full training state atomically."""
        self._count_restarts()
        state = {
            "counters": self.counters.to_state(),
            "learners": {key: lr.state_dict() for key, lr in self.learners.items()},
            "samplers": {role: s.state_dict() for role, s in self.samplers.items()},
            "league": self.league.state_dict(),
            "rng": rng_state(self.rng),
        }
        path = self.run_dir / CHECKPOINT_FILE
        save_checkpoint(path, state)
        return path

    def _restore(self) -> None:
        path = self.run_dir / CHECKPOINT_FILE
        if not path.exists():
            # Killed before its first checkpoint: the saved config is all there is.
            logger.warning("%s has no checkpoint yet: training it from the start", self.run_dir)
            self.registry.rollback_after(0)
            self.registry.set_meta("game", self.spec.name)
            return
        state = load_checkpoint(path)
        self.counters = Counters.from_state(state["counters"])
        if "league" in state:  # checkpoints before league agents had none
            self.league.load_state_dict(state["league"])
        for key, learner in self.learners.items():
            learner.load_state_dict(state["learners"][key])
        for role, sampler in self.samplers.items():  # with the settings of the config
            restore_sampler(sampler, state["samplers"][role], source=str(self.run_dir))
        set_rng_state(self.rng, state["rng"])
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

    def summary(
        self, metrics: dict[str, float], *, stopped_by: str = "", aborted: bool = False
    ) -> dict[str, Any]:
        """Return the end-of-run summary (what `--json` prints).

        `stopped_by` names the signal that stopped the run early (SIGINT, SIGTERM), if
        any; `aborted`, that a second one stopped it mid-iteration. A stopped run says
        how to continue it.
        """
        self._count_restarts()
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
            "agents": {
                a.key: {
                    "kind": a.kind,
                    "freezes": self.league.freezes[a.key],
                    "resets": self.league.resets[a.key],
                    "learned_steps": self.league.learned_steps[a.key],
                    "steps_since_freeze": self.league.steps[a.key],
                }
                for a in self.league.agents
            },
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
        self.registry.close()
        self._release()

    def _release(self) -> None:
        """Stop logging to the run directory and let another trainer take the run."""
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            TRACEBACKS.removeHandler(self._log_handler)
            self._log_handler.close()
        self.lock.release()


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


def _reward_metrics(
    batches: dict[str, Batch], shaping: ShapingParams, per_agent: Callable[[str, str], str]
) -> dict[str, float]:
    """Mean raw reward components and shaped reward per stream, for each learner's batch
    (`per_agent` names a metric for an agent: under its own namespace when there are
    several)."""
    out = {}
    for agent, batch in batches.items():
        per_stream = max(int(batch.done.sum()), 1)
        for j, name in enumerate(shaping.components):
            out[per_agent(f"rewards/{name}", agent)] = float(
                batch.components[:, j].sum() / per_stream
            )
        out[per_agent("rewards/shaped", agent)] = float(batch.reward.sum() / per_stream)
    return out


def _episode_metrics(episodes: list[Episode]) -> dict[str, float]:
    """Episode length, and the focal team's score by the kind of opponent it met."""
    if not episodes:  # long games: no episode ended in this iteration
        return {}
    out = {"charts/episode_length": float(np.mean([e.length for e in episodes]))}
    if not episodes[0].result:
        return out
    kinds: dict[str, list[float]] = {"latest": [], "history": [], "bots": []}
    for e in episodes:
        opponents = e.opponents().values()
        if any(p.is_bot for p in opponents):
            kind = "bots"
        elif any(p.is_snapshot for p in opponents):
            kind = "history"
        else:
            kind = "latest"
        kinds[kind].append(e.result[e.focal])
    for kind, scores in kinds.items():
        if scores:
            out[f"league/win_rate_vs_{kind}"] = float(np.mean(scores))
    return out
