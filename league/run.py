"""A run, opened or created once: its config, its game, its networks' factory, its
registry and the weights of its frozen players.

Every command reaches a run through `Run`: `league train` (new or resumed), `eval`,
`tournament`, `table`, `play`, `replay`, `export`, `exploit` and `exploitability`.
The game is resolved here once (`resolve_game`), and a snapshot is registered here
once (`Run.register`: the registry row and weights file, and the frozen player's
weights that the runners and pools read).

A run directory is code, like a notebook: its config may name user code (`game.env`,
`game.outcome`, a bot file among `league.bots`) that opening it imports. A run records
who created it and on which machine (`origin.json`); opening a run created elsewhere
whose config names code outside League and the installed game packages needs
`trust_code` (`--trust-code`, or `LEAGUE_TRUST_CODE=1`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from envs import GameInfo, GameSpec
from league.config import Config, blame_overrides, find_config, load_config, parse_config
from league.game_config import check_fits, pin_teams, resolve_game
from league.rollout import PolicyFactory
from league.rollout.players import is_bot_file
from league.store import CONFIG_FILE, Registry, RunError, load_run_config, new_run
from league.store.run_dir import ORIGIN_FILE, origin
from matchmaking import LeagueAgent, PlayerId

Weights = Mapping[str, torch.Tensor]

TRUST_ENV = "LEAGUE_TRUST_CODE"
"""Set to 1 to open runs created elsewhere whose config names user code."""
TRUSTED_PACKAGES = frozenset(
    {"league", "envs", "agents", "matchmaking", "openspiel", "pettingzoo", "pyspiel", "shimmy"}
)
"""Top-level packages whose code a run may name without being trusted (beside the
packages that register games under the `league.games` entry-point group)."""


class UntrustedCodeError(RunError):
    """A run created elsewhere names code that opening it would import."""


@dataclass
class Run:
    """One run (or a bare game, with no directory): what every command works on.

    `frozen` holds the weights of the frozen players at hand (snapshots loaded or
    registered in this process); the runners and opponent pools take them from here.
    """

    config: Config
    spec: GameSpec
    info: GameInfo
    factory: PolicyFactory
    dir: Path | None = None
    registry: Registry | None = None
    frozen: dict[PlayerId, Weights] = field(default_factory=dict)

    # ------------------------------------------------------------ opening

    @classmethod
    def of_config(cls, config: Config, run_dir: Path | None, *, source: str) -> Run:
        """A run of `config` (already loaded and pinned) in `run_dir`, its game resolved
        and checked against the config; the registry is not opened yet (`connect`)."""
        spec = resolve_game(config, source=source)
        info = spec.info()
        check_fits(config, spec, source=source)
        factory = PolicyFactory.from_config(info, config.model, config.learner.algo)
        return cls(config, spec, info, factory, None if run_dir is None else Path(run_dir))

    @classmethod
    def for_training(
        cls,
        config: str | Path | Config | None = None,
        *,
        overrides: Sequence[str] = (),
        name: str | None = None,
        runs_dir: str | Path = "runs",
        resume: str | Path | None = None,
        trust_code: bool | None = None,
    ) -> Run:
        """The run `league train` trains: `resume` (a run directory: its saved config
        with `overrides`), else a new one of `config` (a YAML file, a shipped config's or a
        built-in game's name, or a `Config`) under `runs_dir`. Its game is resolved once
        and checked against the config; a new run's directory is made only then, with
        the teams inferred now pinned in its config (an existing run is refused)."""
        if resume is not None:
            run_dir: Path | None = Path(resume)
            cfg = load_run_config(Path(resume), list(overrides))
            check_trusted(Path(resume), cfg, trust_code)
            source = str(Path(resume) / CONFIG_FILE)
        else:
            run_dir = None
            cfg, source = load_new(config, overrides, name)
        with blame_overrides(source, overrides):  # an error at a --set key names the flag
            spec = resolve_game(cfg, source=source)
            if run_dir is None:
                cfg = pin_teams(cfg, spec)  # the run keeps the teams inferred now
            check_fits(cfg, spec, source=source)
        info = spec.info()
        factory = PolicyFactory.from_config(info, cfg.model, cfg.learner.algo)
        return cls(cfg, spec, info, factory, run_dir or new_run(cfg, Path(runs_dir)))

    @classmethod
    def open(
        cls,
        run_dir: str | Path,
        *,
        overrides: Sequence[str] = (),
        read_only: bool | None = False,
        trust_code: bool | None = None,
    ) -> Run:
        """Open an existing run directory: its saved config (with `overrides`), its game,
        and its registry unless `read_only` is False and the caller connects later.

        `read_only`: True opens the registry for reading; None opens it for writing
        where the run can be written, else for reading; False leaves it closed (the
        trainer opens it once it holds the run's lock). `trust_code`: import user code
        the config names even though the run was created elsewhere (None: the
        `LEAGUE_TRUST_CODE` environment variable says).
        """
        from league.store import read_only_path

        run_dir = Path(run_dir)
        config = load_run_config(run_dir, list(overrides))
        check_trusted(run_dir, config, trust_code)
        run = cls.of_config(config, run_dir, source=str(run_dir / CONFIG_FILE))
        if read_only is not False:
            run.connect(read_only=bool(read_only) or read_only_path(run_dir) is not None)
        return run

    @classmethod
    def of_game(cls, game: str) -> Run:
        """A bare built-in game (no run directory): for bots and fresh networks."""
        config = parse_config({"game": {"name": game}}, source="--game")
        return cls.of_config(config, None, source="--game")

    def connect(self, *, read_only: bool = False) -> Registry:
        """Open the run's registry (once)."""
        if self.registry is None:
            if self.dir is None:
                raise RunError("a bare game has no registry")
            self.registry = Registry(self.dir, read_only=read_only)
        return self.registry

    # ------------------------------------------------------------ snapshots

    def weights(self, player: PlayerId) -> Weights:
        """A frozen player's weights (read from the registry once, then kept)."""
        if player not in self.frozen:
            assert self.registry is not None and player.snapshot is not None
            self.frozen[player] = self.registry.load_snapshot(player.snapshot)
        return self.frozen[player]

    def register(
        self,
        agent: LeagueAgent,
        weights: Weights,
        *,
        iteration: int,
        env_steps: int,
        parent: int | None,
    ) -> PlayerId:
        """The one place a snapshot is made: store `agent`'s weights in the registry
        (its row and weights file) and keep them as a frozen player's."""
        assert self.registry is not None
        sid = self.registry.add_snapshot(
            role=agent.role,
            agent=agent.key,
            kind=agent.kind,
            iteration=iteration,
            env_steps=env_steps,
            tensors=dict(weights),
            parent=parent,
            config=self.config.model_dump(mode="json"),
        )
        player = PlayerId.of_snapshot(agent.role, sid)
        self.frozen[player] = weights
        return player

    def keep(self, players: set[PlayerId]) -> dict[PlayerId, Weights]:
        """Forget the weights of every frozen player not in `players` (the registry keeps
        them on disk); return those of `players`, loading any not at hand."""
        for player in set(self.frozen) - players:
            del self.frozen[player]
        return {p: self.weights(p) for p in players}

    @property
    def one_team(self) -> bool:
        """Whether the game has a single (cooperative) team."""
        return len(self.info.teams) == 1

    def close(self) -> None:
        """Close the registry (the run can be opened again)."""
        if self.registry is not None:
            self.registry.close()
            self.registry = None

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_new(
    config: str | Path | Config | None, overrides: Sequence[str], name: str | None
) -> tuple[Config, str]:
    """A new run's config (a file, a shipped config's or a game's name, or a `Config`;
    `name` renames it) and where it came from, for error messages."""
    if isinstance(config, Config):
        if overrides:
            raise TypeError("overrides apply to a config file or name, not a Config")
        cfg, source = config, "the config"
    else:
        path = find_config(None if config is None else str(config))
        cfg, source = load_config(path, list(overrides)), str(path)
    if name:
        cfg = cfg.model_copy(update={"name": name})
    return cfg, source


# ---------------------------------------------------------------- trust


def created_here(run_dir: Path) -> bool:
    """Whether the run records this user on this machine as its creator."""
    try:
        recorded = json.loads((Path(run_dir) / ORIGIN_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(recorded, dict) and recorded == origin()


def named_code(config: Config) -> list[str]:
    """The code outside League and the installed game packages that opening a run of
    `config` would import (`module:callable` or `file.py:callable`)."""
    names = [config.game.env, config.game.outcome, *config.league.bots]
    return [n for n in names if n and ":" in n and not _trusted_name(n)]


def check_trusted(run_dir: Path, config: Config, trust_code: bool | None) -> None:
    """Refuse, with one line listing what would be imported, to open a run created
    elsewhere whose config names user code, unless trusted."""
    if trust_code is None:
        trust_code = os.environ.get(TRUST_ENV, "") not in ("", "0")
    if trust_code:
        return
    code = named_code(config)
    if code and not created_here(run_dir):
        raise UntrustedCodeError(
            f"{run_dir} was created by another user or machine and its config would import "
            f"{', '.join(code)}: a run directory is code; open it with --trust-code (or "
            f"{TRUST_ENV}=1) if you trust it"
        )


def _trusted_name(name: str) -> bool:
    """Whether `module:callable` names League's own code or an installed game package's."""
    if is_bot_file(name) or name.rpartition(":")[0].endswith(".py"):
        return False
    top = name.partition(":")[0].split(".")[0]
    return top in TRUSTED_PACKAGES or top in _game_packages()


@functools.cache
def _game_packages() -> frozenset[str]:
    """Top-level modules of the installed game packages: those that register games
    (`league.games`) and those whose distribution requires PettingZoo (mpe2, magent2)."""
    entry_points = importlib.metadata.entry_points(group="league.games")
    tops = {ep.value.partition(":")[0].split(".")[0] for ep in entry_points}
    for top, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            requires = importlib.metadata.requires(dist) or []
            if any(_needs_pettingzoo(r) for r in requires):
                tops.add(top)
    return frozenset(tops)


def _needs_pettingzoo(requirement: str) -> bool:
    """Whether a requirement line asks for PettingZoo itself (not in an extra)."""
    name, _, marker = requirement.partition(";")
    return name.strip().lower().startswith("pettingzoo") and "extra" not in marker
