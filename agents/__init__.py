"""Policies and learners: torch lives here, never Ray or SQLite."""

from __future__ import annotations

from agents.acer import ACER, ACERSettings
from agents.algorithms import ALGORITHMS, Algorithm, make_learner
from agents.batch import Batch
from agents.learner import (
    Learner,
    Settings,
    StepParams,
    resolve_device,
    resolve_precision,
    serving_policy,
)
from agents.maths import gae
from agents.policy import ActorCritic, ActOutput
from agents.ppo import PPO, PPOSettings
from agents.rnad import RNaD, RNaDSettings
from agents.schedules import Schedule
from agents.trpo import TRPO, TRPOSettings

__all__ = [
    "ACER",
    "ALGORITHMS",
    "PPO",
    "TRPO",
    "ACERSettings",
    "ActOutput",
    "ActorCritic",
    "Algorithm",
    "Batch",
    "Learner",
    "PPOSettings",
    "RNaD",
    "RNaDSettings",
    "Schedule",
    "Settings",
    "StepParams",
    "TRPOSettings",
    "gae",
    "make_learner",
    "resolve_device",
    "resolve_precision",
    "serving_policy",
]
