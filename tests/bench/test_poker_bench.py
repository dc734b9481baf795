"""bench/poker.py's late mixtures: the mixture of the last k snapshots, scored exactly."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from conftest import ROOT, cli_json, tiny_overrides
from league.evaluation.arena import Arena
from league.evaluation.exact import exact_game, exploitability_report, league_snapshots

sys.path.insert(0, str(ROOT / "bench"))  # poker.py imports its sibling throughput.py
_spec = importlib.util.spec_from_file_location("bench_poker", ROOT / "bench" / "poker.py")
poker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(poker)


def test_tail_mixtures_average_the_last_snapshots_by_reach(tmp_path):
    sets = [a for o in tiny_overrides("kuhn_poker") for a in ("--set", o)]
    cli_json("train", "kuhn_poker", "--runs-dir", str(tmp_path), "--name", "k",
             "--iterations", "3", *sets)  # fmt: skip
    run = tmp_path / "k"
    tails = poker.tail_mixtures(run)

    arena = Arena.open(run, None, read_only=True)
    try:
        exact, registry = exact_game(arena), arena.registry
        ids = league_snapshots(registry)
        tables = [exact.table_of(registry.load_snapshot(sid)) for sid in ids]
    finally:
        arena.close()
    assert list(tails) == [str(k) for k in poker.TAILS if k <= len(ids)] and "2" in tails
    # k = 1 is the latest snapshot alone.
    latest = exploitability_report(run, ["latest"])["snapshots"][0]["exploitability"]
    assert tails["1"] == pytest.approx(latest)
    # k = 2: the last two snapshots, each played with probability 1/2 at the root.
    two = exact.exploitability(exact.mixture(tables[-2:], np.array([0.5, 0.5])))
    assert tails["2"] == pytest.approx(two)


def test_every_arm_and_the_sweep_load_as_configs_of_both_games():
    from league.config import load_config

    arms = poker.CONFIGS | poker.rnad_sweep([250, 1000], [0.05, 0.2])
    assert "rnad_p250_e0.05" in arms and len(arms) == len(poker.CONFIGS) + 4
    for game in ("kuhn_poker", "leduc_poker"):
        for name, overrides in arms.items():
            config = load_config(ROOT / "configs" / f"{game}.yaml", overrides)
            if name.startswith("rnad"):
                assert config.learner.algo == "rnad" and config.league.p_latest == 1.0
                assert config.learner.ppo is None
        sweep = load_config(ROOT / "configs" / f"{game}.yaml", arms["rnad_p250_e0.05"])
        assert (sweep.learner.rnad.phase_steps, sweep.learner.rnad.eta) == (250, 0.05)
        mmd = load_config(ROOT / "configs" / f"{game}.yaml", arms["mmd"])
        assert mmd.learner.ppo.magnet_beta == 0.05
