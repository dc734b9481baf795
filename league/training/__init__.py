"""Training a league: the trainer's loop and the state a run carries between iterations."""

from __future__ import annotations

from league.training.state import Counters, cpu_weights, make_sampler
from league.training.trainer import Trainer, schedule

__all__ = ["Counters", "Trainer", "cpu_weights", "make_sampler", "schedule"]
