"""Training a league: the learning loop, the trainer around it, best responses, and the
state a run carries between iterations."""

from __future__ import annotations

from league.training.loop import LearningLoop, schedule
from league.training.state import Counters, cpu_weights, make_sampler
from league.training.trainer import Trainer

__all__ = ["Counters", "LearningLoop", "Trainer", "cpu_weights", "make_sampler", "schedule"]
