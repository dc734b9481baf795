"""Load, validate and override run configs (YAML -> typed, strict models)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from agents import (
    ALGORITHMS,
    ACERSettings,
    Algorithm,
    PPOSettings,
    RNaDSettings,
    Settings,
    TRPOSettings,
)
from matchmaking import DEFAULT_SHARES, FreezeRule, mcts_simulations

AgentKind = Literal["main", "main_exploiter", "league_exploiter"]
"""The kinds of league agents (`league.agents.shares` keys)."""


class ConfigError(ValueError):
    """A config file or override is invalid; the message names file, key and value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class GameConfig(_Strict):
    name: str = "connect_four_v3"
    """Built-in game name (see `league games`), or a display name when `env` is set."""
    env: str | None = None
    """Import path `package.module:callable` of a PettingZoo env factory (AEC or Parallel)."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for the game's env factory (merged over the game's defaults)."""
    teams: dict[str, list[str]] | None = None
    """Team name -> agent ids or regex patterns; None infers teams from agent names."""
    symmetric: bool | None = None
    """Force symmetric (one shared learning policy) or asymmetric; None decides from spaces."""
    outcome: str | None = None
    """Import path `module:fn` of `fn(team_returns, final_infos) -> {team: 1|0.5|0}`, for
    games whose winner is not the team with the highest summed env reward."""
    preprocessing: list[dict[str, dict[str, Any]]] | None = None
    """SuperSuit steps, e.g. [{resize: {x_size: 42, y_size: 42}}]; None keeps the game's."""
    action_axes: list[int] | None = None
    """The observation axes whose positions the actions enumerate (connect four: [1]),
    for `model.action_head: spatial` on a plugged-in board game; None keeps the game's."""


class ScheduleConfig(_Strict):
    start: float
    """Value at iteration 0."""
    end: float
    """Value after `steps` iterations."""
    steps: int = Field(0, ge=0)
    """Iterations over which to anneal (0: `end` from the start)."""
    interpolation: Literal["linear", "horizon"] = "linear"
    """`horizon` interpolates 1/(1-value), the natural scale for a discount."""


_UNION_TAGS = ("number", "schedule")
"""Branch names of `NumberOrSchedule`; left out of the key paths in error messages."""

NumberOrSchedule = Annotated[
    Annotated[float, Tag("number")] | Annotated[ScheduleConfig, Tag("schedule")],
    Discriminator(lambda v: "schedule" if isinstance(v, (dict, ScheduleConfig)) else "number"),
]
"""A constant, or a value annealed as `{start, end, steps, interpolation}`."""


class TrainConfig(_Strict):
    iterations: int = Field(200, ge=1)
    """Total training iterations (a resumed run continues to this count)."""
    steps_per_iteration: int = Field(4096, ge=1)
    """Agent-steps of learning experience collected per iteration, at least: a rollout
    stops once this many have shipped, and the fragments under way then ship too, so
    an iteration holds up to this plus one fragment (`fragment_length`) per learning
    stream (env copies x learning agents: 20-piston pistonball on 8 copies can ship
    8 x 20 x 256 = 40,960 at once; lower `fragment_length` for such games)."""
    envs: int = Field(32, ge=1)
    """Env copies stepped together (batched inference), per rollout worker."""
    workers: int | None = Field(None, ge=0)
    """Ray rollout workers; 0 runs rollouts in the driver; None: the CPUs Ray sees (the
    learner waits while they collect, so it needs no core of its own)."""
    snapshot_every: int = Field(10, ge=1)
    """Register a snapshot of each learning policy every K iterations."""
    checkpoint_every: int = Field(10, ge=1)
    """Write a checkpoint every N iterations (and always at exit)."""
    eval_every: int = Field(10, ge=0)
    """Play the random bot every N iterations (0: never)."""
    eval_episodes: int = Field(40, ge=2)
    """Episodes per evaluation against the random bot (seats alternate)."""
    rating_games: int = Field(20, ge=0)
    """Games each new snapshot plays against the bots and the previous snapshot, for its
    rating (`league/rating`, random bot = 0); 0: no rating during training."""
    max_minutes: float | None = Field(None, gt=0)
    """Stop after this much wall-clock time (None: run all iterations)."""
    video_every: int = Field(0, ge=0)
    """Every N snapshots, attach to TensorBoard (`league/replay`) a clip of the newest
    snapshot playing the one before it (needs the game's rgb_array render); 0: never."""
    fragment_length: int = Field(256, ge=1)
    """Agent-steps per rollout fragment: each learning agent's stream ships every this
    many steps (bootstrapping from the value of the next observation) and at its
    episode's end; episodes go on across iterations, so an iteration's size stays near
    `steps_per_iteration` however long the episodes (OpenAI Five: 256)."""
    asynchronous: bool = Field(False, alias="async")
    """`async: true`: Ray workers keep collecting with the weights they last received
    while the learner updates, and the learner takes its next batch from what has
    arrived (needs `workers` other than 0)."""
    max_staleness: int = Field(4, ge=0)
    """Drop (and count) a fragment whose oldest step was acted by a policy more than this
    many versions (iterations) behind the learner."""
    placement_timeout: float = Field(60.0, gt=0)
    """Seconds a Ray rollout worker may wait to be placed on a CPU, at the start or when
    it replaces one that died (a lost node's CPUs may never come back); past it the
    worker is given up, as `on_lost_worker` says."""
    on_lost_worker: Literal["continue", "stop"] = "continue"
    """A worker given up: `continue` with the workers left (a warning, and
    `charts/workers` drops), or `stop` with a checkpoint and a message naming the
    resources the cluster lacks. With no worker left the run stops either way."""
    rollout_timeout: float | None = Field(600.0, gt=0)
    """Seconds one rollout (an iteration's games on one worker, or one evaluation) may
    take; null: no limit. Past it the env copy being stepped is named with its episode's
    seed; a Ray worker is replaced and its share played again, and the same rollout
    overrunning twice (or once, with `workers: 0`) stops the run with a checkpoint."""
    nan_rewards: Literal["stop", "zero"] = "stop"
    """A NaN reward from the game: `stop` the run with a checkpoint and one line naming
    the agent, the step and the episode's seed, or count it as `zero` with a warning.
    An infinite reward, or an observation with NaN or inf or of another shape or dtype
    than its space, always stops the run."""

    model_config = ConfigDict(
        extra="forbid", use_attribute_docstrings=True, frozen=True, populate_by_name=True
    )

    @model_validator(mode="after")
    def _async_fits(self) -> TrainConfig:
        if self.asynchronous and self.workers == 0:
            raise ValueError(
                "train.async needs Ray rollout workers, but train.workers is 0 (rollouts in "
                "the learner's process cannot run while it learns)"
            )
        if self.asynchronous and self.max_staleness == 0:
            raise ValueError(
                "train.max_staleness 0 would drop every fragment in async mode (its steps are "
                "at least one policy version old); use 1 or more"
            )
        return self


class LearnerConfig(_Strict):
    algo: Literal["ppo", "trpo", "acer", "rnad"] = "ppo"
    """Learning algorithm: `ppo`, `trpo`, `acer` or `rnad` (the last two Discrete actions
    only), each with its own settings block (`learner.ppo`, `learner.trpo`, ...)."""
    lr: NumberOrSchedule | None = None
    """Learning rate of the learner's optimizer (TRPO: of its value function): a number, or
    annealed as `{start, end, steps}` (linear); None: the algorithm's default (PPO 2.5e-4,
    TRPO 1e-3, ACER 7e-4, R-NaD 3e-4)."""
    ent_coef: NumberOrSchedule | None = None
    """Entropy-bonus weight: a number or annealed; None: the algorithm's default (PPO 0.01,
    TRPO 0, ACER 0.01, R-NaD 0)."""
    ppo: PPOSettings | None = None
    """PPO settings (only with `algo: ppo`)."""
    trpo: TRPOSettings | None = None
    """TRPO settings (only with `algo: trpo`)."""
    acer: ACERSettings | None = None
    """ACER settings (only with `algo: acer`)."""
    rnad: RNaDSettings | None = None
    """R-NaD settings (only with `algo: rnad`): regularised self-play for two-player
    zero-sum games, whose averaged policy converges to a Nash equilibrium."""

    @model_validator(mode="before")
    @classmethod
    def _fill_block(cls, raw: Any) -> Any:
        """Give the chosen algorithm its default block; read the old `ppo.lr` spelling."""
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        algo = raw.get("algo", "ppo")
        if isinstance(raw.get("ppo"), dict):
            # Runs saved before the schedules moved up a level keep loading.
            block = dict(raw["ppo"])
            for key in ("lr", "ent_coef"):
                if key in block:
                    raw.setdefault(key, block.pop(key))
            raw["ppo"] = block
        if isinstance(algo, str) and algo in ALGORITHMS and raw.get(algo) is None:
            raw[algo] = {}
        return raw

    @model_validator(mode="after")
    def _one_block(self) -> LearnerConfig:
        for name in ALGORITHMS:
            if name != self.algo and getattr(self, name, None) is not None:
                raise ValueError(
                    f"learner.{name} is given but learner.algo is {self.algo!r}: "
                    f"set learner.algo: {name} or remove the learner.{name} block"
                )
        for value in _ends(self.lr) if self.lr is not None else ():
            if not value > 0:
                raise ValueError(f"lr must be > 0, got {value}")
        for value in _ends(self.ent_coef) if self.ent_coef is not None else ():
            if not value >= 0:
                raise ValueError(f"ent_coef must be >= 0, got {value}")
        return self

    @property
    def algorithm(self) -> Algorithm:
        """How to build the chosen learner."""
        return ALGORITHMS[self.algo]

    @property
    def settings(self) -> Settings:
        """The chosen algorithm's settings block."""
        return getattr(self, self.algo)

    def schedules(self) -> tuple[float | ScheduleConfig, float | ScheduleConfig]:
        """The learning-rate and entropy-weight schedules (algorithm defaults filled in)."""
        cls = self.algorithm.settings
        lr = cls.default_lr if self.lr is None else self.lr
        ent = cls.default_ent_coef if self.ent_coef is None else self.ent_coef
        return lr, ent


def _ends(value: float | ScheduleConfig) -> tuple[float, ...]:
    """The values a number or a schedule takes at its ends."""
    return (value,) if isinstance(value, float) else (value.start, value.end)


class RecurrentConfig(_Strict):
    kind: Literal["lstm"] = "lstm"
    """The recurrent layer (one LSTM layer, as OpenAI Five's policy)."""
    size: int = Field(256, ge=1)
    """Units of the LSTM (its state per agent holds twice as many floats: h and c)."""
    chunk_length: int = Field(16, ge=1)
    """Steps per training sequence: learners backpropagate through time within chunks of
    this many steps of one agent's stream, each starting from the state stored when it
    was played (OpenAI Five: 16)."""


class ModelConfig(_Strict):
    kind: Literal["auto", "mlp", "cnn"] = "auto"
    """Torso: auto picks a CNN for image observations."""
    hidden: list[int] = Field(default_factory=lambda: [256, 256])
    """Hidden layer sizes."""
    channels: int = Field(32, ge=1)
    """Channels of each 3x3 convolution of the small-board CNN (kind cnn, board under 16)."""
    conv_layers: int = Field(2, ge=1)
    """3x3 convolutions of the small-board CNN: each widens what one feature sees by a
    cell on every side (2: 5x5, 3: 7x7)."""
    recurrent: RecurrentConfig | None = None
    """A recurrent policy, e.g. `{kind: lstm, size: 256}`: an LSTM between the features
    and the heads, its state carried from step to step of each agent (None: feed-forward)."""
    mirror: bool = False
    """Play a position and its mirror image alike (the game's `mirror`, e.g. connect
    four's columns c <-> 6 - c): the network reads both and averages, so what it learns
    on one side of the board it knows on the other. Costs a second pass of the torso."""

    action_head: Literal["dense", "spatial"] = "dense"
    """How the policy (and a Q head) turns features into one output per action. dense: a
    layer per action over the whole board. spatial: one small network, shared by every
    board position the actions name (the game's `action_axes`: connect four's columns),
    reads that position's convolution features: what it learns about a threat in one
    column it knows in all. Needs `kind: cnn` on a small board and no `recurrent`."""

    @model_validator(mode="after")
    def _feed_forward_only(self) -> ModelConfig:
        if self.mirror and self.recurrent is not None:
            raise ValueError("mirror and recurrent cannot be combined (yet): drop one")
        if self.action_head == "spatial" and (self.kind != "cnn" or self.recurrent):
            raise ValueError(
                "action_head spatial needs kind cnn and no recurrent, got kind "
                f"{self.kind!r}{' and recurrent' if self.recurrent else ''}"
            )
        return self


class TimeDecayConfig(_Strict):
    base: float = Field(1.0, gt=0, le=1)
    """Rewards at episode step t are multiplied by base ** (t / period)."""
    period: int = Field(0, ge=0)
    """Steps per factor of `base` (0: no decay)."""


class RewardConfig(_Strict):
    weights: dict[str, float] = Field(default_factory=lambda: {"env": 1.0})
    """Component -> weight: `env` is the env reward, other names are numeric info fields."""
    tau: ScheduleConfig = ScheduleConfig(start=0.0, end=0.0)
    """Team spirit: 0 = own reward, 1 = team mean."""
    zero_sum: bool = False
    """Subtract the enemy agents' mean reward."""
    time_decay: TimeDecayConfig = TimeDecayConfig()
    """Decay of rewards later in an episode."""

    @model_validator(mode="after")
    def _tau_range(self) -> RewardConfig:
        for name in ("start", "end"):
            value = getattr(self.tau, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"tau.{name} must be within [0, 1], got {value}")
        return self


class FreezeConfig(_Strict):
    """When an exploiter freezes (its defaults: `matchmaking.FreezeRule`, which the run
    builds from this and `league_exploiter_reset`)."""

    win_rate: float = Field(FreezeRule.win_rate, ge=0, le=1)
    """An exploiter freezes once it scores this against every target (AlphaStar: 0.7):
    the main agents for a main exploiter, every frozen player for a league exploiter."""
    min_games: float = Field(FreezeRule.min_games, ge=0)
    """...each target played at least this many (decayed) games."""
    min_steps: int = Field(FreezeRule.min_steps, ge=0)
    """Never freeze before this many learned agent-steps since the last freeze."""
    max_steps: int = Field(FreezeRule.max_steps, ge=1)
    """Always freeze after this many learned agent-steps since the last freeze."""

    def rule(self, league_reset: float) -> FreezeRule:
        """The league's rule: these settings and the league exploiters' reset chance."""
        return FreezeRule(**self.model_dump(), league_reset=league_reset)


class AgentsConfig(_Strict):
    main_exploiters: int = Field(0, ge=0)
    """Main exploiters per role: they play the current main agent and freeze (then
    restart from fresh weights) once they beat it."""
    league_exploiters: int = Field(0, ge=0)
    """League exploiters per role: PFSP over every frozen player; freeze once they beat
    all of them, restart with probability `league_exploiter_reset`."""
    shares: dict[AgentKind, float] = Field(
        default_factory=lambda: cast("dict[AgentKind, float]", dict(DEFAULT_SHARES))
    )
    """Each kind's share of the episodes a role's team is focal in (its share of the
    rollout budget), split evenly among that kind's agents; renormalised over the kinds
    that have agents."""
    main_mix: Literal["five", "alphastar"] = "five"
    """The main agents' opponents: `five` (latest with p_latest, else the history, which
    holds every frozen player of the role) or `alphastar` (50% PFSP over every frozen
    player, 15% frozen main exploiters or own snapshots it still loses to, 35% self-play)."""
    freeze: FreezeConfig = FreezeConfig()
    league_exploiter_reset: float = Field(FreezeRule.league_reset, ge=0, le=1)
    """Probability that a league exploiter restarts after it freezes."""
    opponent_menu: int = Field(4, ge=0)
    """Opponents each agent draws per rollout (per worker and iteration) by its rules;
    its episodes then pick among them uniformly (0: a fresh draw every episode). Each
    opponent keeps its chance; a rollout runs a forward pass through fewer snapshots."""
    restart_from: Literal["fresh", "main"] = "fresh"
    """What an exploiter restarts from (at the start of the run and at each reset): `fresh`
    weights, seeded per generation (AlphaStar's rule, which restarts from its supervised
    agent), or a copy of its role's main agent's current weights (`main`: an exploiter
    that starts as strong as its target and only has to find its weaknesses). Either
    way the optimizer starts fresh."""

    @model_validator(mode="after")
    def _shares(self) -> AgentsConfig:
        for kind, share in self.shares.items():
            if share < 0:
                raise ValueError(f"shares.{kind} must not be negative, got {share}")
        counts: dict[AgentKind, int] = {
            "main": 1,
            "main_exploiter": self.main_exploiters,
            "league_exploiter": self.league_exploiters,
        }
        for kind, n in counts.items():
            if n and self.shares.get(kind, 0) <= 0:
                raise ValueError(
                    f"shares.{kind} is {self.shares.get(kind, 0)}: the {kind} agents would "
                    "never play (give it a positive share)"
                )
        return self

    @property
    def league(self) -> bool:
        """Whether any agent besides the main agents learns."""
        return bool(self.main_exploiters or self.league_exploiters)


class LeagueConfig(_Strict):
    p_latest: float = Field(0.8, ge=0, le=1)
    """Probability of playing the latest version (OpenAI Five: 0.8)."""
    history: Literal["quality", "uniform", "pfsp", "nash"] = "quality"
    """How historical snapshots are drawn: OpenAI Five quality scores, uniform,
    AlphaStar's prioritised fictitious self-play over a decayed payoff table, or `nash`:
    the Nash mixture of the pool's own payoff matrix (PSRO's meta-strategy), recomputed
    as each new snapshot's results against the pool arrive."""
    nash_games: int = Field(20, ge=1)
    """With `history: nash`, the evaluation games a new snapshot plays against each pool
    member to fill the pool's payoff matrix (a game with a game tree, such as OpenSpiel's
    poker, computes the exact expected payoffs instead)."""
    pfsp_weighting: Literal["squared", "variance", "linear", "linear_capped"] = "squared"
    """PFSP weighting of the learner's win rate x: (1-x)^2, x(1-x), 1-x, min(0.5, 1-x)."""
    payoff_decay: float = Field(0.99, gt=0, le=1)
    """PFSP payoff-table decay per game (AlphaStar); unplayed pairs count as 0.5."""
    quality_lr: float = Field(0.01, gt=0)
    """OpenAI Five's quality-score learning rate."""
    max_pool: int | None = Field(None, ge=1)
    """Keep at most this many snapshots in the opponent pool (None: all)."""
    random_opening: int = Field(0, ge=0)
    """Open each training episode with k uniformly random env steps, k drawn from 0..K
    (not learned from): keeps deterministic self-play meeting varied positions."""
    opening_side: Literal["all", "opponents"] = "all"
    """Who moves at random in the opening: every team, or only the teams facing the focal
    team (which plays and learns from the first move: it meets odd moves and must answer)."""
    bots: dict[str, float] = Field(default_factory=dict)
    """Bots as permanent members of the history: bot (`random`, `scripted` or another of
    the game's bots by name, e.g. connect four's `tactical`, or `mcts:N`) -> share of the
    history draws (the 1 - p_latest part) it plays instead of a snapshot, e.g.
    {random: 0.25}."""
    agents: AgentsConfig = AgentsConfig()
    """The league's learning agents besides each role's main agent (AlphaStar): main
    exploiters and league exploiters, their budget shares, freeze and reset rules."""

    @field_validator("bots")
    @classmethod
    def _bot_names(cls, bots: dict[str, float]) -> dict[str, float]:
        for bot in bots:
            # A plain word may be one of the game's bots (checked when the game is built).
            if not bot.isidentifier() and mcts_simulations(bot) is None:
                raise ValueError(
                    f"{bot!r} is not a bot: random, scripted, a game's bot by name or mcts:N"
                )
        return bots

    @model_validator(mode="after")
    def _bot_shares(self) -> LeagueConfig:
        for bot, share in self.bots.items():
            if not 0 <= share <= 1:
                raise ValueError(f"bots.{bot} must be a share in [0, 1], got {share}")
        if sum(self.bots.values()) > 1:
            raise ValueError(f"bots shares sum to {sum(self.bots.values())}, more than 1")
        return self


class Config(_Strict):
    """One run's settings."""

    name: str | None = None
    """Run name (runs/<name>); default: the config file's stem."""
    seed: int = Field(0, ge=0, lt=2**63)
    """Seed for envs, sampling and initialisation (numpy and torch take no negative seed)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Learner device: auto uses CUDA when present."""
    precision: Literal["auto", "float32", "bfloat16"] = "auto"
    """Arithmetic of the learner's torso (convolutions): auto takes bfloat16 where the
    device runs it natively (a CPU with AMX or AVX512-BF16, a CUDA GPU that supports
    it), else float32. Heads, losses and the weights themselves stay float32."""
    game: GameConfig = GameConfig()
    train: TrainConfig = TrainConfig()
    learner: LearnerConfig = LearnerConfig()
    model: ModelConfig = ModelConfig()
    gamma: ScheduleConfig = ScheduleConfig(
        start=0.998, end=0.9997, steps=1000, interpolation="horizon"
    )
    """Discount schedule (OpenAI Five: 0.998 -> 0.9997)."""
    reward: RewardConfig = RewardConfig()
    league: LeagueConfig = LeagueConfig()

    @model_validator(mode="after")
    def _recurrent_learner(self) -> Config:
        if self.model.recurrent is not None and not ALGORITHMS[self.learner.algo].recurrent:
            supported = ", ".join(name for name, a in ALGORITHMS.items() if a.recurrent)
            raise ValueError(
                f"model.recurrent is set but learner.algo {self.learner.algo!r} cannot train a "
                f"recurrent policy (use {supported}, or drop model.recurrent)"
            )
        return self

    @model_validator(mode="after")
    def _gamma_range(self) -> Config:
        # An undiscounted game (1.0) is allowed where the episodes end, but a horizon
        # 1 / (1 - gamma) cannot be interpolated through it.
        top = 1.0 if self.gamma.interpolation == "linear" else 1.0 - 1e-12
        for name in ("start", "end"):
            value = getattr(self.gamma, name)
            if not 0.0 < value <= top:
                span = "(0, 1]" if top == 1.0 else "(0, 1) with horizon interpolation"
                raise ValueError(f"gamma.{name} must be within {span}, got {value}")
        return self


class Override(str):
    """A `key.path=value` override that a flag of its own gave (`--iterations -3` is
    `train.iterations=-3`): an error in its value names that flag, not `--set`."""

    flag: str

    def __new__(cls, item: str, flag: str) -> Override:
        override = super().__new__(cls, item)
        override.flag = flag
        return override


def apply_overrides(raw: dict[str, Any], overrides: list[str], *, source: str) -> dict[str, Any]:
    """Apply `key.path=value` overrides (values parsed as YAML) to a raw config dict.

    An override of `learner.algo` switches the learner: the file's settings blocks of the
    other algorithms are dropped first (settings given by overrides are kept, and checked).
    """
    algo = [i.partition("=")[2].strip() for i in overrides if i.partition("=")[0] == "learner.algo"]
    learner = raw.get("learner")
    if algo and isinstance(learner, dict):
        raw["learner"] = {k: v for k, v in learner.items() if k not in ALGORITHMS or k == algo[-1]}
    for item in overrides:
        key, sep, text = item.partition("=")
        flag = getattr(item, "flag", None) or f"--set {item}"
        if not sep or not key:
            raise ConfigError(f"{flag}: not of the form key.path=value")
        value = yaml.safe_load(text)
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"{flag}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return raw


def parse_config(raw: Any, *, source: str, overrides: Sequence[str] = ()) -> Config:
    """Validate a raw dict; errors name the source, the key path and the bad value.

    An error at or under a key that an override set is reported against that
    override (`--set key=value`), not against the file.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, not {type(raw).__name__}")
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            parts = [str(p) for p in e["loc"] if p not in _UNION_TAGS]
            key = ".".join(parts) or "(top level)"
            where = _override_source(key, overrides) or source
            if e["type"] == "extra_forbidden":
                lines.append(f"{where}: unknown key {key!r}")
            elif not parts:  # a check across sections: its message names the keys
                lines.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
            else:
                lines.append(f"{where}: key {key!r}: {e['msg']} (got {e.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None


@contextlib.contextmanager
def blame_overrides(source: str, overrides: Sequence[str]) -> Iterator[None]:
    """Report a `ConfigError` about `source` at a key an override set (`{source}: key
    'game.name': ...`) against that override's flag instead: the file never said it."""
    try:
        yield
    except ConfigError as err:
        head, sep, rest = str(err).partition(": key '")
        flag = _override_source(rest.partition("'")[0], overrides) if sep else None
        if head != source or flag is None:
            raise
        raise ConfigError(f"{flag}: key '{rest}") from None


def _override_source(key: str, overrides: Sequence[str]) -> str | None:
    """The flag behind an error at `key` (`--set key=value`, or the `Override`'s own flag),
    if an override set it (last one wins)."""
    for item in reversed(overrides):
        set_key = item.partition("=")[0]
        if set_key == key or set_key.startswith(key + ".") or key.startswith(set_key + "."):
            return getattr(item, "flag", None) or f"--set {item}"
    return None


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a YAML config file, apply overrides and validate it.

    Errors name the file (or the flag that gave the bad value), the key and the value.
    An empty file is refused. A config without a `name` is named after the file.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config file ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not a UTF-8 text file (byte {err.object[err.start]:#04x} at offset "
            f"{err.start}); save it as UTF-8"
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if raw is None or raw == {}:  # not the defaults of a game nobody named
        raise ConfigError(
            f"{path}: the config file is empty; name a game at least "
            "(`game: {name: connect_four_v3}`), or start from a shipped config (configs/)"
        )
    overrides = list(overrides or [])
    if isinstance(raw, dict):
        raw = apply_overrides(raw, overrides, source=str(path))
    config = parse_config(raw, source=str(path), overrides=overrides)
    if config.name is None:
        config = config.model_copy(update={"name": path.stem})
    return config


BUILTIN_CONFIGS = Path(__file__).resolve().parent / "configs"
"""The shipped configs (also reachable as the top-level `configs/` folder)."""
DEFAULT_CONFIG = "connect_four"
"""What `league train` runs when no config is given."""


def shipped_configs() -> dict[str, Path]:
    """The shipped configs by name (`connect_four` -> its file)."""
    return {p.stem: p for p in sorted(BUILTIN_CONFIGS.glob("*.yaml"))}


def shipped_config_of_game(game: str) -> str | None:
    """The name of the shipped config that trains built-in game `game`, if any."""
    for name, path in shipped_configs().items():
        raw = yaml.safe_load(path.read_text())
        if raw.get("game", {}).get("name") == game:
            return name
    return None


def find_config(name_or_path: str | None) -> Path:
    """Resolve a config path, a shipped config's name (`connect_four`) or the name of the
    built-in game it trains (`connect_four_v3`)."""
    if name_or_path is None:
        name_or_path = DEFAULT_CONFIG
    path = Path(name_or_path)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return path
    shipped = shipped_configs()
    name = name_or_path if name_or_path in shipped else shipped_config_of_game(name_or_path)
    if name is not None:
        return shipped[name]
    raise ConfigError(
        f"no config file {name_or_path!r} and no shipped config of that name ({', '.join(shipped)})"
    )


def dump_config(config: Config) -> str:
    """Return the config as YAML (every field, defaults included; unused learner blocks
    left out)."""
    raw = config.model_dump(mode="json", by_alias=True)
    raw["learner"] = {
        k: v for k, v in raw["learner"].items() if v is not None or k not in ALGORITHMS
    }
    return yaml.safe_dump(raw, sort_keys=False)
