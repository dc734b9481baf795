"""Resolve a config's game section to a GameSpec (the one place envs are configured)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from envs import GameError, GameSpec, builtin_game
from envs.games import atari_rom_path
from envs.mcts import check_search_fits
from envs.openspiel import OPENSPIEL_PREFIX, spec_for
from envs.spec import with_padding
from envs.teams import with_inferred_teams
from league.config import Config, ConfigError, GameConfig
from league.rollout.watchdog import Overrun, watchdog
from league.user_code import UserCodeError, load_callable
from matchmaking import RANDOM, RESERVED, mcts_simulations

log = logging.getLogger(__name__)


def resolve_game(config: Config, *, source: str = "config") -> GameSpec:
    """Build the GameSpec a config names, with its overrides applied; teams the config
    does not give are inferred from random play (`envs.teams.infer_from_play`)."""
    game = config.game
    spec = _base_spec(game, source)
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
    if game.action_axes is not None:
        changes["action_axes"] = tuple(game.action_axes)
    if game.outcome is not None:
        changes["outcome"] = import_callable(game.outcome, source=source, key="game.outcome")
    spec = dataclasses.replace(spec, **changes)
    _check_names(config, spec, source)
    try:
        # Building the env and playing it to infer teams runs the user's code: a step that
        # never returns is stopped as a rollout's would be.
        with watchdog(config.train.rollout_timeout):
            spec = with_padding(with_inferred_teams(spec))
            if game.action_axes is not None:
                spec.info()  # checks the axes against the team's spaces
        return spec
    except Overrun as late:
        raise ConfigError(
            f"{source}: key 'game': building {spec.name!r} and playing it to learn its teams {late}"
        ) from None
    except GameError as err:
        raise ConfigError(f"{source}: key 'game': {err}") from None
    except Exception as err:
        raise ConfigError(
            f"{source}: key 'game': building {spec.name!r} with kwargs {dict(spec.kwargs)} "
            f"failed: {type(err).__name__}: {err}"
        ) from None


def _check_names(config: Config, spec: GameSpec, source: str) -> None:
    """Refuse what the config names that the game lacks (a mirror, action axes, a bot)
    and a bot of the game's that takes a name the league gives its own players."""
    if config.model.mirror and spec.mirror is None:
        raise ConfigError(
            f"{source}: key 'model.mirror': game {spec.name!r} has no mirror symmetry "
            "(its GameSpec gives none)"
        )
    if config.model.action_head == "spatial" and spec.action_axes is None:
        raise ConfigError(
            f"{source}: key 'model.action_head': game {spec.name!r} does not say which "
            "board positions its actions name (set game.action_axes, e.g. [1] for columns)"
        )
    for name in spec.bots:
        if not name.isidentifier() or name in RESERVED:
            raise ConfigError(
                f"{source}: key 'game': game {spec.name!r}: bot name {name!r} must be a plain "
                f"word other than {', '.join(sorted(RESERVED))}"
            )
    named = spec.named_bots()
    for bot in config.league.bots:
        if bot != RANDOM and mcts_simulations(bot) is None and bot not in named:
            raise ConfigError(
                f"{source}: key 'league.bots': game {spec.name!r} has no bot called {bot!r} "
                f"(its bots: {', '.join([RANDOM, *named, 'mcts:N'])})"
            )


def pin_teams(config: Config, spec: GameSpec) -> Config:
    """The config with the teams `spec` resolved (inferred ones included) written into
    `game.teams`, so that a run keeps its teams whatever later inference would say."""
    if config.game.teams is not None or spec.teams is None:
        return config
    evidence = spec.team_evidence
    for doubt in evidence.warnings if evidence is not None else ():
        log.warning("game %r, teams %s: %s", spec.name, dict(spec.teams), doubt)
    teams = {name: list(members) for name, members in spec.teams.items()}
    return config.model_copy(update={"game": config.game.model_copy(update={"teams": teams})})


def _base_spec(game: GameConfig, source: str) -> GameSpec:
    """The spec `game.env` or `game.name` names, before the config's overrides."""
    if game.env is not None and game.env.startswith(OPENSPIEL_PREFIX):
        try:
            spec = spec_for(game.env.removeprefix(OPENSPIEL_PREFIX), game.kwargs)
        except GameError as err:
            raise ConfigError(f"{source}: key 'game.env': {err}") from None
        if "name" in game.model_fields_set:  # the config's display name, if it gives one
            spec = dataclasses.replace(spec, name=game.name)
    elif game.env is not None:
        make = import_callable(game.env, source=source, key="game.env")
        spec = GameSpec(name=game.name, make=make)
        if game.env.startswith("pettingzoo.atari."):
            # Atari ROMs come from ale-py: no AutoROM download needed.
            spec = dataclasses.replace(spec, kwargs={"auto_rom_install_path": atari_rom_path()})
    else:
        try:
            spec = builtin_game(game.name)
        except GameError as err:
            raise ConfigError(f"{source}: key 'game.name': {err}") from None
    return spec


def import_callable(path: str, *, source: str, key: str) -> Callable[..., Any]:
    """Import `package.module:callable`; errors name the config key and the path."""
    try:
        return load_callable(path)
    except UserCodeError as err:
        raise ConfigError(f"{source}: key {key!r}: {err}") from None


def check_fits(config: Config, spec: GameSpec, *, source: str = "config") -> None:
    """Refuse a config the game cannot serve: a learner that cannot handle one of its
    action spaces, TensorBoard clips (`train.video_every`) for a game that cannot draw
    itself, `mcts:N` bots (`league.bots`) for one search cannot copy."""
    algo, info = config.learner.algo, spec.info()
    for role, spaces in info.role_spaces.items():
        why = config.learner.algorithm.refusal(spaces)
        if why is not None:
            raise ConfigError(
                f"{source}: key 'learner.algo': {algo!r} cannot learn role {role!r} of game "
                f"{info.name!r}: {why}"
            )
    if config.train.video_every and "rgb_array" not in spec.render_modes():
        raise ConfigError(
            f"{source}: key 'train.video_every': game {spec.name!r} has no rgb_array render "
            f"(its render modes: {', '.join(spec.render_modes()) or 'none'}); set it to 0"
        )
    if any(mcts_simulations(bot) for bot in config.league.bots):
        try:
            check_search_fits(spec, spec.info())
        except GameError as err:
            raise ConfigError(f"{source}: key 'league.bots': {err}") from None
