"""Policies and learners: torch lives here, never Ray or SQLite."""

from __future__ import annotations

from agents.batch import Batch
from agents.learner import Learner, resolve_device, resolve_precision
from agents.maths import gae
from agents.policy import ActorCritic, ActOutput
from agents.ppo import PPO, PPOConfig
from agents.schedules import Schedule

__all__ = [
    "PPO",
    "ActOutput",
    "ActorCritic",
    "Batch",
    "Learner",
    "PPOConfig",
    "Schedule",
    "gae",
    "resolve_device",
    "resolve_precision",
]
