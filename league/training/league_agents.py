"""The learning side of a league run: a learner for each league agent (each role's main
agent and its exploiters), the main agents' opponent samplers, and the snapshots they
freeze into the registry (and into the runner's players)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from agents import serving_policy
from envs import GameInfo
from league.config import Config
from league.rollout import Episode, Runner
from league.run import Run
from league.store import RegistryError
from league.training.loop import build_learner, metric_name
from league.training.scoring import SnapshotScorer
from league.training.state import Counters, cpu_weights, make_sampler, restore_sampler
from matchmaking import (
    LATEST,
    MAIN,
    League,
    LeagueAgent,
    LeagueMatchmaker,
    NashSampler,
    PlayerId,
    SelfPlayMatchmaker,
    record_outcome,
)

logger = logging.getLogger(__name__)


class LeagueLearners:
    """Each league agent's learner, the opponent samplers, and the snapshots they freeze
    (through `Run.register`, the one place a snapshot is made; the runner's players
    take the pools' weights from the run: `share_pool`)."""

    def __init__(
        self,
        run: Run,
        runner: Runner,
        scorer: SnapshotScorer,
        *,
        device: torch.device,
        precision: torch.dtype,
        counters: Counters,
    ) -> None:
        config, info = run.config, run.info
        self.run, self.runner, self.scorer = run, runner, scorer
        self.config, self.info, self.factory = config, info, run.factory
        self.device, self.precision = device, precision
        assert run.registry is not None, "the run's registry is open"
        self.registry, self.counters = run.registry, counters
        self.roles = sorted(set(info.roles.values()))
        if len(info.teams) == 1:
            logger.warning(
                "%s has a single team (%d agents): training plain multi-agent %s, "
                "no opponent and no evaluation against bots",
                info.name,
                len(info.agents),
                config.learner.algo.upper(),
            )
        self.league = make_league(config, info)
        # Main agents first (role i keeps seed + i), then the exploiters.
        self.learners = {
            a.key: self._make_learner(i, a.role) for i, a in enumerate(self.league.agents)
        }
        for agent in self.league.exploiters:
            self._restart_from_main(agent)
        self.samplers = {role: make_sampler(config.league, role) for role in self.roles}

    def quarantine(self, player: PlayerId, why: RegistryError) -> None:
        """Take a snapshot whose weights file is missing or corrupt out of every pool and
        mark it missing in the registry; one the checkpoint needs (an agent's newest, the
        next ratings' reference) blocks with the file to restore."""
        sid = player.snapshot
        owners = [key for key, last in self.counters.last_snapshot.items() if last == sid]
        if owners:
            file = self.registry.run_dir / self.registry.snapshot(sid)["file"]
            raise RegistryError(
                f"{why}; the checkpoint needs it (the newest snapshot of {owners[0]}): "
                f"restore {file} to resume"
            )
        for sampler in self.samplers.values():
            sampler.discard(sid)
        self.league.frozen = [f for f in self.league.frozen if f.player != player]
        self.registry.mark_missing(sid)
        logger.warning(
            "%s: snapshot %d is quarantined (marked missing, out of every pool)", why, sid
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

    def share_pool(self) -> None:
        """Give the runner's players the weights of every snapshot some opponent pool or
        exploiter may draw, from the run's frozen players; the run and the runner forget
        the others (a bounded pool, `league.max_pool`, evicted them; the registry keeps
        them on disk)."""
        pool = {PlayerId.of_snapshot(r, sid) for r, s in self.samplers.items() for sid in s.pool}
        if self.league.exploiters:
            pool |= {f.player for f in self.league.frozen}
        for player in sorted(pool, key=str):  # a lost weights file leaves every pool
            try:
                self.run.weights(player)
            except RegistryError as why:
                self.quarantine(player, why)
                pool.discard(player)
        self.runner.keep_snapshots(pool)
        self.runner.add_snapshots(self.run.keep(pool))

    def matchmaker(self) -> LeagueMatchmaker:
        """Who plays whom this iteration: each league agent's opponents."""
        lg = self.config.league
        return LeagueMatchmaker(
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

    def book(self, episodes: list[Episode]) -> dict[str, float]:
        """Record an iteration's games (the league's win rates, the main agents'
        opponents' quality, the registry's train matches); return their metrics."""
        self.record(episodes)
        self.registry.add_matches(
            [e.match_row(self.counters.iteration, kind="train") for e in episodes]
        )
        mains = [e for e in episodes if e.players[e.focal].is_main]
        return episode_metrics(mains) | self.exploiter_metrics(episodes)

    def record(self, episodes: list[Episode]) -> None:
        """Update the league's win rates and the main agents' opponents' quality."""
        for ep in episodes:
            if not ep.result:
                continue
            score = ep.result[ep.focal]
            self.league.record(ep.players, ep.focal, score)
            if ep.players[ep.focal].is_main:  # its opponents' quality
                record_outcome(self.samplers, ep.opponents(), score)

    def exploiter_metrics(self, episodes: list[Episode]) -> dict[str, float]:
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

    def summary(self) -> dict[str, dict[str, Any]]:
        """Each league agent's kind, freezes (a main agent's: its snapshots, taken every
        `train.snapshot_every`), resets and learning so far; an exploiter's steps since it
        last froze (what its freeze rule counts: a main agent has no such count)."""
        lg = self.league
        out: dict[str, dict[str, Any]] = {}
        for a in lg.agents:
            out[a.key] = {
                "kind": a.kind,
                "freezes": lg.freezes[a.key],
                "resets": lg.resets[a.key],
                "learned_steps": lg.learned_steps[a.key],
            }
            if a.kind != MAIN:
                out[a.key]["steps_since_freeze"] = lg.steps[a.key]
        return out

    # ---------------------------------------------------------------- snapshots

    def snapshot(self) -> dict[str, int]:
        """Register each role's main agent's current weights (role -> snapshot id)."""
        return {a.role: self.register(a) for a in self.league.agents if a.kind == MAIN}

    def snapshot_if_newer(self) -> None:
        """Register the final policy unless the newest snapshot already holds it."""
        newest = self.registry.latest_snapshot(kind=MAIN)
        if self.counters.iteration > 0 and (
            newest is None or newest["iteration"] < self.counters.iteration
        ):
            self.snapshot()

    def register(self, agent: LeagueAgent) -> int:
        """Store an agent's current weights as a snapshot of its kind (its parent: the
        snapshot its weights continue from) and make it a frozen player of the league
        and of its role's opponent pool."""
        c, policy = self.counters, serving_policy(self.learners[agent.key])
        player = self.run.register(
            agent,
            cpu_weights(policy),
            iteration=c.iteration,
            env_steps=c.env_steps,
            parent=self.league.lineage.get(agent.key, c.last_snapshot.get(agent.key)),
        )
        sid = player.snapshot
        assert sid is not None
        self.league.add_frozen(agent, sid)
        sampler = self.samplers[agent.role]
        sampler.add(sid)
        self.share_pool()
        c.last_snapshot[agent.key] = sid
        tag = self.metric("league/exploitability", agent.key)
        self.scorer.score(sid, policy, tag=tag, env_steps=c.env_steps)
        if isinstance(sampler, NashSampler):
            self.scorer.fill(sampler, sid, iteration=c.iteration)
        self.scorer.forget({p.snapshot for p in self.run.frozen if p.snapshot is not None})
        return sid

    def freeze_exploiters(self, rng: np.random.Generator) -> None:
        """Freeze every exploiter that is ready (registry snapshot of its kind, a frozen
        player of the league and of the main agents' history), then reset it or not."""
        for agent in self.league.exploiters:
            if not self.league.ready(agent, self.info.opponent_roles(agent.role)):
                continue
            sid = self.register(agent)
            if self.league.after_freeze(agent, rng):
                self.reset(agent)
            logger.info("%s froze snapshot %d", agent.player, sid)

    def reset(self, agent: LeagueAgent) -> None:
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

    def metric(self, name: str, key: str) -> str:
        """A metric's name for agent `key` (`metric_name`)."""
        return metric_name(name, key, self.learners)

    # ---------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """The learners', samplers' and league's state, for a checkpoint."""
        return {
            "learners": {key: lr.state_dict() for key, lr in self.learners.items()},
            "samplers": {role: s.state_dict() for role, s in self.samplers.items()},
            "league": self.league.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], *, source: str) -> None:
        """Restore a checkpoint's state (the samplers keep the config's settings, or the
        resume is refused by name: `restore_sampler`)."""
        if "league" in state:  # checkpoints before league agents had none
            self.league.load_state_dict(state["league"])
        for key, learner in self.learners.items():
            learner.load_state_dict(state["learners"][key])
        for role, sampler in self.samplers.items():
            restore_sampler(sampler, state["samplers"][role], source=source)


def episode_metrics(episodes: list[Episode]) -> dict[str, float]:
    """Episode length, and the focal team's score by the kind of opponent it met."""
    if not episodes:  # long games: no episode ended in this iteration
        return {}
    out = {"charts/episode_length": float(np.mean([e.length for e in episodes]))}
    if not episodes[0].result:
        return out
    kinds: dict[str, list[float]] = {LATEST: [], "history": [], "bots": []}
    for e in episodes:
        opponents = e.opponents().values()
        if any(p.is_bot for p in opponents):
            kind = "bots"
        elif any(p.is_snapshot for p in opponents):
            kind = "history"
        else:
            kind = LATEST
        kinds[kind].append(e.result[e.focal])
    for kind, scores in kinds.items():
        if scores:
            out[f"league/win_rate_vs_{kind}"] = float(np.mean(scores))
    return out


def make_league(config: Config, info: GameInfo) -> League:
    """The league of a run: each role's main agent and the exploiters its config asks for."""
    ag = config.league.agents
    return League.of_roles(
        sorted(set(info.roles.values())),
        main_exploiters=ag.main_exploiters,
        league_exploiters=ag.league_exploiters,
        shares=dict(ag.shares),
        mix=ag.main_mix,
        rule=ag.freeze.rule(ag.league_exploiter_reset),
        decay=config.league.payoff_decay,
    )


def league_keys(config: Config, info: GameInfo) -> list[str]:
    """The learner keys of a run's league agents (what `metric_name` counts)."""
    return [a.key for a in make_league(config, info).agents]
