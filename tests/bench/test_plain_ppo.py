"""The plain one-process PPO loop that `bench/plain_ppo.py` times: its streams are
whole, contiguous seats' episodes, each paid its result at its last step."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import torch
from pettingzoo.classic import connect_four_v3

from conftest import CONFIGS, ROOT
from league.config import load_config
from league.game_config import resolve_game
from league.rollout import PolicyFactory

_spec = importlib.util.spec_from_file_location("bench_plain_ppo", ROOT / "bench" / "plain_ppo.py")
plain = importlib.util.module_from_spec(_spec)
sys.modules["bench_plain_ppo"] = plain
_spec.loader.exec_module(plain)


def test_the_plain_loop_ships_whole_streams_paid_at_their_end():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    config = load_config(CONFIGS / "connect_four.yaml")
    policy = PolicyFactory.from_config(resolve_game(config).info(), config.model)("main")
    envs = [connect_four_v3.env() for _ in range(4)]
    for env in envs:
        env.reset(seed=int(rng.integers(2**31)))
    streams = plain.Streams(len(envs))
    env_steps = plain.collect(envs, policy, streams, 200, rng)
    batch = streams.batch()
    assert len(batch) >= 200 and env_steps >= len(batch)  # open streams are not shipped
    assert batch.mask[np.arange(len(batch)), batch.action].all()  # every move legal
    ends = np.flatnonzero(batch.done)
    assert ends[-1] == len(batch) - 1
    starts = np.r_[0, ends[:-1] + 1]
    for a, b in zip(starts, ends, strict=True):
        assert (batch.reward[a:b] == 0).all()  # paid only at the end
        assert batch.reward[b] in (-1.0, 0.0, 1.0)
    # Both seats of each game: the results of a game sum to zero.
    assert len(ends) % 2 == 0 and batch.reward[ends].sum() == 0
    assert streams.closed_rows == 0 and not streams.done
