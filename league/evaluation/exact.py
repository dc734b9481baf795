"""Exact figures for games with a game tree (OpenSpiel's poker): a network's exact
exploitability, exact payoffs between snapshots, and the population's Nash mixture.

A network is turned into a table of action probabilities over every information state
of the game (`envs.game_tree.InfoStates`: one batched forward pass; Leduc has 936), and
the tables are walked with the game's tree. Only two-player zero-sum games qualify.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents import ActorCritic
from envs import GameError, GameSpec
from envs.game_tree import (
    SIZING_SECONDS,
    InfoStates,
    check_two_player_zero_sum,
    expected_payoffs,
    exploitability,
    mixture_table,
    policy_table,
)
from envs.openspiel import game_of
from league.evaluation.arena import Arena, EvalError
from league.evaluation.leaderboard import EXPLOITABILITY
from league.rollout import PolicyFactory
from league.store import Registry
from matchmaking import BEST_RESPONSE, nash_averaging

logger = logging.getLogger(__name__)

TRAINING_SECONDS = 1.0
"""How long a training run's start may spend sizing its game's tree for exact scoring
(Leduc poker's 9,457 nodes: 0.02 s); a bigger tree is not scored exactly."""

ALL = "all"
"""`league exploitability all`: every league snapshot of a run, and their mixtures."""


class ExactGame:
    """A two-player zero-sum game whose tree the league can walk, and the network that
    plays it (`factory(role)`), to turn snapshots into tables and score them exactly."""

    def __init__(
        self, game: Any, factory: PolicyFactory, *, seconds: float = SIZING_SECONDS
    ) -> None:
        self.game, self.factory = game, factory
        self.states = InfoStates.of(game, seconds=seconds)
        (self.role,) = sorted(set(factory.info.roles.values()))

    @classmethod
    def of(
        cls, spec: GameSpec, factory: PolicyFactory, *, seconds: float = TRAINING_SECONDS
    ) -> ExactGame | None:
        """The exact view of `spec`, or None when there is none (`load` says why; logged)."""
        try:
            return cls.load(spec, factory, seconds=seconds)
        except GameError as why:
            logger.info("no exact scoring of snapshots: %s", why)
            return None

    @classmethod
    def load(
        cls, spec: GameSpec, factory: PolicyFactory, *, seconds: float = SIZING_SECONDS
    ) -> ExactGame:
        """The exact view of `spec`, or a GameError with the reason there is none: not an
        OpenSpiel game, a recurrent or per-seat policy, not two-player zero-sum, or a tree
        over `MAX_NODES` (counted within `seconds` before anything is built)."""
        env = spec.create()
        try:
            game = game_of(env)
        finally:
            env.close()
        if game is None:
            raise GameError(
                f"game {spec.name!r} has no game tree to walk: exact exploitability needs an "
                "OpenSpiel game (kuhn_poker, leduc_poker, openspiel:NAME)"
            )
        # Both seats must be played by one (shared) feed-forward network: a recurrent
        # one's probabilities depend on its state, not on the information state alone.
        if len(set(factory.info.roles.values())) != 1 or factory.recurrent:
            raise GameError(
                f"game {spec.name!r}: exact exploitability needs one feed-forward network "
                "playing every seat (not a recurrent one, not one per seat)"
            )
        check_two_player_zero_sum(game)
        return cls(game, factory, seconds=seconds)

    def table(self, policy: ActorCritic) -> np.ndarray:
        """The network's action probabilities at every information state [N, A]."""

        def probs(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
            device = next(policy.parameters()).device
            member = torch.zeros(len(obs), dtype=torch.int64, device=device)
            with torch.no_grad():
                out = policy.outputs(
                    torch.as_tensor(obs, dtype=torch.float32, device=device),
                    member,
                    torch.as_tensor(mask, dtype=torch.bool, device=device),
                )
            return out[0].float().cpu().numpy()

        return policy_table(self.states, probs)

    def table_of(self, weights: Mapping[str, torch.Tensor]) -> np.ndarray:
        """The table of a snapshot's weights."""
        policy = self.factory(self.role)
        policy.load_state_dict(dict(weights))
        policy.eval()
        return self.table(policy)

    def exploitability(self, table: np.ndarray) -> float:
        """NashConv / 2 of a table, in the game's units."""
        return exploitability(self.game, table)

    def payoffs(self, tables: Sequence[np.ndarray], others: Sequence[np.ndarray] | None = None):
        """What each table wins on average against each other one, both seats averaged."""
        return expected_payoffs(self.states, list(tables), None if others is None else list(others))

    def mixture(
        self, tables: Sequence[np.ndarray], weights: Sequence[float] | np.ndarray
    ) -> np.ndarray:
        """The behaviour policy of playing member k with probability weights[k]."""
        return mixture_table(self.states, list(tables), np.asarray(weights, dtype=np.float64))


@dataclass
class Population:
    """A run's snapshots scored exactly: each one's exploitability, the payoff matrix
    between them, the Nash mixture over it, and the two mixtures' exploitability."""

    snapshots: list[int]
    exploitability: list[float]
    payoff: np.ndarray
    nash: np.ndarray
    vs_nash: np.ndarray
    nash_exploitability: float
    uniform_exploitability: float

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        return {
            "snapshots": [
                {"id": sid, EXPLOITABILITY: e, "nash": float(w), "vs_nash": float(v)}
                for sid, e, w, v in zip(
                    self.snapshots, self.exploitability, self.nash, self.vs_nash, strict=True
                )
            ],
            "nash_mixture": {EXPLOITABILITY: self.nash_exploitability},
            "uniform_mixture": {EXPLOITABILITY: self.uniform_exploitability},
        }


def league_snapshots(registry: Registry) -> list[int]:
    """The ids of the league's own snapshots (best responses are probes, not members)."""
    return [s["id"] for s in registry.snapshots() if s["kind"] != BEST_RESPONSE]


def population(exact: ExactGame, registry: Registry, ids: Sequence[int]) -> Population:
    """Score snapshots `ids` of a run, and their Nash and uniform mixtures, exactly."""
    if not ids:
        raise ValueError(f"run {registry.run_dir} has no snapshots to score")
    tables = [exact.table_of(registry.load_snapshot(sid)) for sid in ids]
    payoff = exact.payoffs(tables)
    nash, vs_nash = nash_averaging(payoff)
    return Population(
        snapshots=list(ids),
        exploitability=[exact.exploitability(t) for t in tables],
        payoff=payoff,
        nash=nash,
        vs_nash=vs_nash,
        nash_exploitability=exact.exploitability(exact.mixture(tables, nash)),
        uniform_exploitability=exact.exploitability(
            exact.mixture(tables, np.full(len(tables), 1.0 / len(tables)))
        ),
    )


def exact_game(arena: Arena) -> ExactGame:
    """The exact view of an arena's game, or an EvalError that says why there is none."""
    try:
        return ExactGame.load(arena.spec, arena.factory)
    except GameError as why:
        raise EvalError(
            f"{why}; `league exploit` trains an approximate best response instead"
        ) from None


def exploitability_report(run: str | Path, players: Sequence[str]) -> dict[str, Any]:
    """Exact exploitability of a run's snapshots (`players`: ids, `latest`, or `all`:
    every league snapshot, with the Nash and uniform mixtures of them)."""
    arena = Arena.open(run, None, read_only=True)
    try:
        exact = exact_game(arena)
        assert arena.registry is not None
        if list(players) == [ALL]:
            ids = league_snapshots(arena.registry)
            if not ids:
                raise EvalError(f"run {run} has no snapshot yet")
            report = population(exact, arena.registry, ids)
            return {"game": arena.spec.name, **report.to_json()}
        out = []
        for name in players:
            player = arena.resolve(name)
            if not player.is_snapshot:
                raise EvalError(f"{name!r} is a bot, not a snapshot of the run")
            table = exact.table_of(arena.weights[player])
            out.append({"id": player.snapshot, EXPLOITABILITY: exact.exploitability(table)})
        return {"game": arena.spec.name, "snapshots": out}
    finally:
        arena.close()


MIXTURES = ("mixture:nash", "mixture:uniform")
"""`league export` names of the population's mixtures (every league snapshot of a run)."""


def export_table(run: str | Path, player: str, out: Path) -> dict[str, Any]:
    """Write a snapshot, or a mixture of the run's snapshots (`mixture:nash`,
    `mixture:uniform`), as a JSON table: the OpenSpiel game and, for each information
    state string, the action probabilities (what OpenSpiel's `TabularPolicy` holds)."""
    arena = Arena.open(run, None, read_only=True)
    try:
        exact = exact_game(arena)
        assert arena.registry is not None
        if player in MIXTURES:
            ids = league_snapshots(arena.registry)
            if not ids:
                raise EvalError(f"run {run} has no snapshot yet")
            pop = population(exact, arena.registry, ids)
            weights = pop.nash if player == MIXTURES[0] else np.full(len(ids), 1 / len(ids))
            tables = [exact.table_of(arena.registry.load_snapshot(sid)) for sid in ids]
            table = exact.mixture(tables, weights)
            members = {str(sid): float(w) for sid, w in zip(ids, weights, strict=True) if w > 0}
        else:
            resolved = arena.resolve(player)
            if not resolved.is_snapshot:
                raise EvalError(f"{player!r} is a bot, not a snapshot of the run")
            table = exact.table_of(arena.weights[resolved])
            members = {str(resolved.snapshot): 1.0}
    finally:
        arena.close()
    keys = exact.states.keys
    policy = {key: [float(p) for p in row] for key, row in zip(keys, table, strict=True)}
    meta = {
        "game": str(exact.game),
        "player": player,
        "members": members,
        EXPLOITABILITY: exact.exploitability(table),
    }
    out.write_text(json.dumps({**meta, "policy": policy}))
    return {**meta, "states": len(policy)}
