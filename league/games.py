"""Resolve a config's game section to a GameSpec (the one place envs are configured)."""

from __future__ import annotations

import dataclasses

from envs import GameError, GameSpec, builtin_game
from league.config import Config, ConfigError


def resolve_game(config: Config, *, source: str = "config") -> GameSpec:
    """Build the GameSpec a config names, with its overrides applied."""
    game = config.game
    try:
        spec = builtin_game(game.name)
    except GameError as err:
        raise ConfigError(f"{source}: key 'game.name': {err}") from None
    changes: dict = {"kwargs": {**spec.kwargs, **game.kwargs}}
    if game.teams is not None:
        changes["teams"] = game.teams
    if game.symmetric is not None:
        changes["symmetric"] = game.symmetric
    if game.preprocessing is not None:
        steps = []
        for i, step in enumerate(game.preprocessing):
            if len(step) != 1:
                raise ConfigError(
                    f"{source}: key 'game.preprocessing.{i}': each step is one "
                    f"{{name: kwargs}} mapping, got {step!r}"
                )
            ((name, kwargs),) = step.items()
            steps.append((name, kwargs or {}))
        changes["preprocessing"] = tuple(steps)
    return dataclasses.replace(spec, **changes)
