"""Snapshot lineage in evaluation: which snapshot is `latest`, and the leaderboard's
kind/agent/parent columns (a registry with snapshots of several kinds, no training)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from league.evaluation import Arena, leaderboard, plot_leaderboard
from league.store import Registry
from matchmaking import PlayerId


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    with Registry(tmp_path / "run") as reg:
        yield reg


def _add(reg: Registry, iteration: int, *, agent: str = "main", kind: str = "main", **kw) -> int:
    return reg.add_snapshot(
        role="main",
        iteration=iteration,
        env_steps=100 * (iteration + 1),
        tensors={"w": torch.full((2,), float(iteration)), "k": torch.tensor([len(agent)])},
        parent=kw.get("parent"),
        config={},
        agent=agent,
        kind=kind,
    )


def _eval(a: str, b: str, score_a: float) -> dict:
    return {
        "iteration": 0,
        "kind": "eval",
        "participants": sorted({a, b}),
        "sides": {"player_0": a, "player_1": b},
        "result": {"player_0": score_a, "player_1": 1.0 - score_a},
        "length": 9,
    }


def test_latest_is_the_newest_main_snapshot(registry: Registry) -> None:
    arena = Arena.open(None, "tictactoe_v3")
    arena.run.registry = registry
    first = _add(registry, 0)
    assert arena.resolve("latest") == PlayerId.of_snapshot("main", first)
    main = _add(registry, 1, parent=first)
    _add(registry, 1, agent="main/main_exploiter_0", kind="main_exploiter", parent=main)
    _add(registry, 2, agent="main/best_response_12", kind="best_response")
    assert arena.resolve("latest") == PlayerId.of_snapshot("main", main)


def test_latest_falls_back_to_any_kind_without_a_main_snapshot(registry: Registry) -> None:
    arena = Arena.open(None, "tictactoe_v3")
    arena.run.registry = registry
    response = _add(registry, 0, agent="main/best_response_3", kind="best_response")
    assert arena.resolve("latest") == PlayerId.of_snapshot("main", response)


def test_leaderboard_rows_carry_kind_agent_and_parent(registry: Registry, tmp_path: Path) -> None:
    main = _add(registry, 0)
    exploiter = _add(registry, 0, agent="main/main_exploiter_0", kind="main_exploiter", parent=main)
    m, x = f"main@{main}", f"main@{exploiter}"
    registry.add_matches(
        [
            _eval(m, "random", 1.0),
            _eval(m, "random", 0.5),
            _eval(x, m, 1.0),
            _eval(x, m, 0.0),
            _eval(x, "random", 1.0),
            _eval("human", x, 0.0),
            _eval("human", "random", 1.0),
            _eval("main@latest", m, 1.0),  # a moving target: never rated
        ]
    )
    board = leaderboard(registry, samples=20)
    rows = {r["player"]: r for r in board.rows}
    assert set(rows) == {m, x, "random", "human"}
    lineage = {p: (r["kind"], r["agent"], r["parent"]) for p, r in rows.items()}
    assert lineage == {
        m: ("main", "main", None),
        x: ("main_exploiter", "main/main_exploiter_0", main),
        "random": ("bot", None, None),
        "human": ("human", None, None),
    }
    assert rows[x]["env_steps"] == 100
    assert all(p.name.endswith(".png") for p in plot_leaderboard(board, tmp_path / "plots"))
