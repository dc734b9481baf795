"""A league of several kinds of learning agents (AlphaStar): who each plays, when it
freezes, when it resets.

Vinyals et al. 2019, "Grandmaster level in StarCraft II using multi-agent
reinforcement learning", and the pseudocode published with it. Per game role:

- the **main agent** (kind `main`) learns to be strong and hard to exploit. Its
  opponents follow OpenAI Five's mix (`five`: its latest self with `p_latest`, else a
  frozen player, drawn by the role's opponent sampler) or AlphaStar's (`alphastar`:
  50% PFSP over every frozen player, 15% against frozen main exploiters or own
  snapshots it still loses to, 35% self-play);
- **main exploiters** play the current main agents (falling back to PFSP over the
  main agents' frozen snapshots while they win under 10% of the games against them),
  freeze when they beat the main agents at the threshold (or after a step budget) and
  then reset to fresh weights;
- **league exploiters** play PFSP over every frozen player, freeze when they beat all
  of them at the threshold (or after the step budget) and reset with a probability.

The rules are pure functions of win rates, game counts, step counts and a uniform
draw (table-tested); `League` keeps what they read (a decayed payoff table between
players, every frozen player, each agent's steps since it last froze) and
`LeagueMatchmaker` applies them per episode. Frozen players' kinds and parents are
the registry's business (lineage); the league only needs the kind of each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from envs import GameInfo
from matchmaking.identity import PlayerId
from matchmaking.matchmakers import Matchup, SelfPlayMatchmaker
from matchmaking.payoff import PayoffTable, pfsp_weights

MAIN = "main"
MAIN_EXPLOITER = "main_exploiter"
LEAGUE_EXPLOITER = "league_exploiter"
BEST_RESPONSE = "best_response"
"""A learner trained against one frozen target only (`league exploit`); not a league member."""
KINDS = (MAIN, MAIN_EXPLOITER, LEAGUE_EXPLOITER)
MIXES = ("five", "alphastar")

EXPLOITER_MAIN_THRESHOLD = 0.1
"""AlphaStar: a main exploiter plays the main agent while it wins more than this."""
VERIFY_LOSING = 0.3
"""AlphaStar: frozen main exploiters a main agent scores under this against are replayed."""
FORGOTTEN = 0.7
"""AlphaStar: own snapshots a main agent scores under this against count as forgotten."""
SELFPLAY_FLOOR = 0.3
"""AlphaStar: below this score against the latest main agent, play its snapshots instead."""


@dataclass(frozen=True)
class LeagueAgent:
    """One learning agent of the league: a role's main agent or one of its exploiters."""

    role: str
    kind: str = MAIN
    index: int = 0

    def __post_init__(self) -> None:
        if self.kind not in (*KINDS, BEST_RESPONSE):
            raise ValueError(f"unknown league agent kind {self.kind!r}; expected one of {KINDS}")

    @property
    def name(self) -> str:
        """The agent's name within its role ("" for the main agent)."""
        return "" if self.kind == MAIN else f"{self.kind}_{self.index}"

    @property
    def player(self) -> PlayerId:
        """The agent's learning policy as a player."""
        return PlayerId.latest(self.role, self.name)

    @property
    def key(self) -> str:
        """The learner key (`role` or `role/agent`) of weights, batches and metrics."""
        return self.player.learner


@dataclass(frozen=True)
class Frozen:
    """A frozen player of the league: a snapshot, the kind of agent and the agent it
    came from."""

    player: PlayerId
    kind: str
    agent: str


# ------------------------------------------------------------------ the pure rules


def pfsp_choice(
    candidates: Sequence[PlayerId],
    win_rates: Sequence[float],
    weighting: str,
    rng: np.random.Generator,
) -> PlayerId:
    """Draw one candidate by PFSP over the learner's win rates against them."""
    probs = pfsp_weights(win_rates, weighting)
    return candidates[int(rng.choice(len(candidates), p=probs))]


def main_exploiter_opponent(
    main: PlayerId,
    main_win_rate: float,
    history: Sequence[PlayerId],
    history_win_rates: Sequence[float],
    rng: np.random.Generator,
) -> PlayerId:
    """The main agent while the exploiter wins more than 10% against it (or it has no
    frozen snapshot yet), else PFSP (variance: the ones it half-beats) over its
    snapshots, a curriculum towards it."""
    if main_win_rate > EXPLOITER_MAIN_THRESHOLD or not history:
        return main
    return pfsp_choice(history, history_win_rates, "variance", rng)


def league_exploiter_opponent(
    frozen: Sequence[PlayerId],
    win_rates: Sequence[float],
    rng: np.random.Generator,
    *,
    fallback: PlayerId,
) -> PlayerId:
    """PFSP (linear, capped) over every frozen player; `fallback` while none exists."""
    if not frozen:
        return fallback
    return pfsp_choice(frozen, win_rates, "linear_capped", rng)


def remove_monotonic_suffix(
    players: Sequence[PlayerId], win_rates: Sequence[float]
) -> tuple[list[PlayerId], list[float]]:
    """Drop the newest snapshots over which the win rate falls steadily towards the
    newest (AlphaStar: those are still being caught up with, not forgotten)."""
    rates = list(win_rates)
    for i in range(len(rates) - 1, 0, -1):
        if rates[i - 1] < rates[i]:
            return list(players[: i + 1]), rates[: i + 1]
    return [], []


def alphastar_main_opponent(
    u: float,
    main: PlayerId,
    selfplay_win_rate: float,
    frozen: Sequence[PlayerId],
    frozen_win_rates: Sequence[float],
    exploiters: Sequence[PlayerId],
    exploiter_win_rates: Sequence[float],
    own: Sequence[PlayerId],
    own_win_rates: Sequence[float],
    rng: np.random.Generator,
) -> PlayerId:
    """AlphaStar's main-agent mix for one episode, `u` a uniform draw in [0, 1).

    u < 0.5: PFSP (squared) over every frozen player. u < 0.65: verification: frozen
    main exploiters it scores under 0.3 against, else own snapshots it scores under 0.7
    against (forgetting), by PFSP (squared). Otherwise, and when a branch has no
    candidate: self-play, or PFSP (variance) over its own snapshots while it scores
    under 0.3 against its latest self.
    """
    if u < 0.5 and frozen:
        return pfsp_choice(frozen, frozen_win_rates, "squared", rng)
    if 0.5 <= u < 0.65:
        if exploiters and min(exploiter_win_rates) < VERIFY_LOSING:
            return pfsp_choice(exploiters, exploiter_win_rates, "squared", rng)
        kept, rates = remove_monotonic_suffix(own, own_win_rates)
        if kept and min(rates) < FORGOTTEN:
            return pfsp_choice(kept, rates, "squared", rng)
    if selfplay_win_rate >= SELFPLAY_FLOOR or not own:
        return main
    return pfsp_choice(own, own_win_rates, "variance", rng)


def ready_to_freeze(
    win_rates: Sequence[float],
    games: Sequence[float],
    steps: int,
    *,
    threshold: float,
    min_games: float,
    min_steps: int,
    max_steps: int,
) -> bool:
    """Whether an exploiter freezes now: never before `min_steps` learned agent-steps,
    always from `max_steps` on, and in between once it scores at least `threshold`
    against every target (each played at least `min_games` decayed games)."""
    if steps < min_steps:
        return False
    if steps >= max_steps:
        return True
    if not win_rates:
        return False
    return min(games) >= min_games and min(win_rates) >= threshold


def resets_after_freeze(kind: str, u: float, *, league_reset: float) -> bool:
    """Whether an agent restarts from fresh weights after freezing (`u` uniform in [0, 1)):
    main agents never, main exploiters always, league exploiters with `league_reset`."""
    if kind == MAIN_EXPLOITER:
        return True
    if kind == LEAGUE_EXPLOITER:
        return u < league_reset
    return False


def kind_shares(agents: Sequence[LeagueAgent], shares: Mapping[str, float]) -> list[float]:
    """Each agent's share of its role's focal episodes: its kind's share split evenly
    among that kind's agents, renormalised over the kinds present."""
    counts: dict[str, int] = {}
    for a in agents:
        counts[a.kind] = counts.get(a.kind, 0) + 1
    raw = [shares.get(a.kind, 0.0) / counts[a.kind] for a in agents]
    total = sum(raw)
    if total <= 0:
        raise ValueError(f"league shares {dict(shares)} give the agents {agents} no episodes")
    return [r / total for r in raw]


# ------------------------------------------------------------------ the league's state


@dataclass
class FreezeRule:
    """When exploiters freeze and reset: the defaults of `league.agents.freeze` and
    `league.agents.league_exploiter_reset` (the config's fields say what each means)."""

    win_rate: float = 0.7
    min_games: float = 20.0
    min_steps: int = 0
    max_steps: int = 1_000_000
    league_reset: float = 0.25


DEFAULT_SHARES: Mapping[str, float] = MappingProxyType(
    {MAIN: 0.5, MAIN_EXPLOITER: 0.25, LEAGUE_EXPLOITER: 0.25}
)
"""Each kind's share of the episodes a role's team is focal in (`league.agents.shares`)."""


@dataclass
class League:
    """What the rules read: agents, frozen players, a decayed payoff table, step counts."""

    agents: list[LeagueAgent]
    shares: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SHARES))
    mix: str = "five"
    rule: FreezeRule = field(default_factory=FreezeRule)
    decay: float = 0.99
    frozen: list[Frozen] = field(default_factory=list)
    steps: dict[str, int] = field(default_factory=dict)
    """Agent key -> learned agent-steps since it last froze or reset."""
    learned_steps: dict[str, int] = field(default_factory=dict)
    """Agent key -> learned agent-steps in all."""
    freezes: dict[str, int] = field(default_factory=dict)
    """Agent key -> how many snapshots it froze (its generation, for exploiters)."""
    resets: dict[str, int] = field(default_factory=dict)
    """Agent key -> how many times it restarted from fresh weights."""
    lineage: dict[str, int | None] = field(default_factory=dict)
    """Agent key -> the snapshot its current weights continue from (None after a reset)."""
    started: dict[str, int] = field(default_factory=dict)
    """Agent key -> the iteration its current learner started at (its schedules' zero)."""

    def __post_init__(self) -> None:
        if self.mix not in MIXES:
            raise ValueError(f"unknown main-agent mix {self.mix!r}; expected one of {MIXES}")
        self.payoff = PayoffTable(decay=self.decay)
        for a in self.agents:
            self.steps.setdefault(a.key, 0)
            self.learned_steps.setdefault(a.key, 0)
            self.freezes.setdefault(a.key, 0)
            self.resets.setdefault(a.key, 0)
            self.started.setdefault(a.key, 0)

    @classmethod
    def of_roles(
        cls,
        roles: Sequence[str],
        *,
        main_exploiters: int = 0,
        league_exploiters: int = 0,
        **kwargs: Any,
    ) -> League:
        """A league with, per role, a main agent and the given numbers of exploiters."""
        agents = [LeagueAgent(r) for r in roles]
        for r in roles:
            agents += [LeagueAgent(r, MAIN_EXPLOITER, i) for i in range(main_exploiters)]
            agents += [LeagueAgent(r, LEAGUE_EXPLOITER, i) for i in range(league_exploiters)]
        return cls(agents, **kwargs)

    @property
    def exploiters(self) -> list[LeagueAgent]:
        """The agents that freeze by the rule (every kind but main agents)."""
        return [a for a in self.agents if a.kind != MAIN]

    def agent(self, key: str) -> LeagueAgent:
        """The agent whose learner key is `key`."""
        return next(a for a in self.agents if a.key == key)

    # ---------------------------------------------------------------- matchmaking

    def pick(self, role: str, rng: np.random.Generator) -> LeagueAgent:
        """The focal agent of an episode on a team of `role`, by the kinds' shares (a
        role with only its main agent consumes no randomness)."""
        mine = [a for a in self.agents if a.role == role]
        if len(mine) == 1:
            return mine[0]
        return mine[int(rng.choice(len(mine), p=kind_shares(mine, self.shares)))]

    def frozen_of(self, role: str, kinds: Sequence[str] = KINDS) -> list[PlayerId]:
        """Frozen players of `role` made by agents of `kinds`, oldest first."""
        return [f.player for f in self.frozen if f.player.role == role and f.kind in kinds]

    def rates(self, me: PlayerId, others: Sequence[PlayerId]) -> list[float]:
        """`me`'s decayed score rate against each of `others` (0.5 when unplayed)."""
        return [self.payoff.win_rate(str(me), str(o)) for o in others]

    def opponent(self, agent: LeagueAgent, role: str, rng: np.random.Generator) -> PlayerId:
        """The player an exploiter (or, with the `alphastar` mix, a main agent) meets on a
        team of `role`."""
        me, main = agent.player, PlayerId.latest(role)
        if agent.kind == MAIN_EXPLOITER:
            history = self.frozen_of(role, (MAIN,))
            return main_exploiter_opponent(
                main, self.rates(me, [main])[0], history, self.rates(me, history), rng
            )
        if agent.kind == LEAGUE_EXPLOITER:
            frozen = self.frozen_of(role)
            return league_exploiter_opponent(frozen, self.rates(me, frozen), rng, fallback=main)
        frozen, exploiters = self.frozen_of(role), self.frozen_of(role, (MAIN_EXPLOITER,))
        own = self.frozen_of(role, (MAIN,))
        return alphastar_main_opponent(
            float(rng.random()),
            main,
            self.rates(me, [main])[0],
            frozen,
            self.rates(me, frozen),
            exploiters,
            self.rates(me, exploiters),
            own,
            self.rates(me, own),
            rng,
        )

    # ---------------------------------------------------------------- book-keeping

    def record(self, players: Mapping[str, PlayerId], focal: str, score: float) -> None:
        """Book one episode: the focal team's player against every other team's."""
        me = players[focal]
        for team, other in players.items():
            if team != focal and other != me:
                self.payoff.update(str(me), str(other), score)

    def learned(self, key: str, steps: int) -> None:
        """Count an agent's learned agent-steps."""
        self.steps[key] = self.steps.get(key, 0) + int(steps)
        self.learned_steps[key] = self.learned_steps.get(key, 0) + int(steps)

    def targets(self, agent: LeagueAgent, roles: Sequence[str]) -> list[PlayerId]:
        """Whom an exploiter must beat to freeze: the main agents of `roles` (a main
        exploiter) or every frozen player of them (a league exploiter)."""
        if agent.kind == MAIN_EXPLOITER:
            return [PlayerId.latest(r) for r in roles]
        return [p for r in roles for p in self.frozen_of(r)]

    def ready(self, agent: LeagueAgent, roles: Sequence[str]) -> bool:
        """Whether an exploiter freezes now (`roles`: the roles it plays against)."""
        me, targets = agent.player, self.targets(agent, roles)
        return ready_to_freeze(
            self.rates(me, targets),
            [self.payoff.games(str(me), str(t)) for t in targets],
            self.steps.get(agent.key, 0),
            threshold=self.rule.win_rate,
            min_games=self.rule.min_games,
            min_steps=self.rule.min_steps,
            max_steps=self.rule.max_steps,
        )

    def add_frozen(self, agent: LeagueAgent, snapshot: int) -> Frozen:
        """Enter an agent's new snapshot among the frozen players."""
        frozen = Frozen(PlayerId.of_snapshot(agent.role, snapshot), agent.kind, agent.key)
        self.frozen.append(frozen)
        self.freezes[agent.key] = self.freezes.get(agent.key, 0) + 1
        self.lineage[agent.key] = snapshot
        return frozen

    def after_freeze(self, agent: LeagueAgent, rng: np.random.Generator) -> bool:
        """Start the agent's next generation; return whether it resets to fresh weights
        (then its payoff rows are forgotten: they described the old weights)."""
        self.steps[agent.key] = 0
        reset = resets_after_freeze(
            agent.kind, float(rng.random()), league_reset=self.rule.league_reset
        )
        if reset:
            self.payoff.remove(str(agent.player))
            self.resets[agent.key] = self.resets.get(agent.key, 0) + 1
            self.lineage[agent.key] = None
        return reset

    def state_dict(self) -> dict[str, Any]:
        """The league as plain data (for the checkpoint)."""
        return {
            "frozen": [[str(f.player), f.kind, f.agent] for f in self.frozen],
            "steps": dict(self.steps),
            "learned_steps": dict(self.learned_steps),
            "freezes": dict(self.freezes),
            "resets": dict(self.resets),
            "lineage": dict(self.lineage),
            "started": dict(self.started),
            "payoff": self.payoff.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.frozen = [Frozen(PlayerId.parse(p), kind, agent) for p, kind, agent in state["frozen"]]
        self.steps = {**self.steps, **state["steps"]}
        self.learned_steps = {**self.learned_steps, **state["learned_steps"]}
        self.freezes = {**self.freezes, **state["freezes"]}
        self.resets = {**self.resets, **state["resets"]}
        self.lineage = dict(state["lineage"])
        self.started = {**self.started, **state.get("started", {})}  # older checkpoints: 0
        self.payoff.load_state_dict(state["payoff"])


@dataclass
class LeagueMatchmaker:
    """Seat each episode's focal agent and its opponents by the league's rules.

    The focal team rotates as in self-play; the focal agent of that team's role is
    drawn by the kinds' shares. A main agent with the `five` mix plays exactly what
    `SelfPlayMatchmaker` would (its sampler's pool holds every frozen player of its
    role); everyone else gets opponents from `League.opponent`, through a per-rollout
    menu of them when `menu` is set. Teams played by a learning policy are learned
    from; the random opening is as in self-play.
    """

    league: League
    selfplay: SelfPlayMatchmaker
    menu: int = 0
    """Opponents drawn per agent and role in one rollout (0: a fresh draw every episode).
    With `menu` M, the first episode of an agent on a role's team draws M opponents by
    the league's rules and every episode picks one of them uniformly: the same chance
    for each opponent as a fresh draw, but at most M snapshots for the rollout to run a
    forward pass through at each step (a league exploiter's PFSP over every frozen
    player otherwise seats dozens at once, each with a batch of one or two)."""
    _menus: dict[tuple[str, str], list[PlayerId]] = field(
        default_factory=dict, init=False, repr=False
    )

    @property
    def info(self) -> GameInfo:
        return self.selfplay.info

    def opponent(self, agent: LeagueAgent, role: str, rng: np.random.Generator) -> PlayerId:
        """The league's opponent for `agent` on a team of `role`, through its menu."""
        if not self.menu:
            return self.league.opponent(agent, role, rng)
        key = (agent.key, role)
        if key not in self._menus:
            self._menus[key] = [self.league.opponent(agent, role, rng) for _ in range(self.menu)]
        menu = self._menus[key]
        return menu[int(rng.integers(len(menu)))]

    def __call__(self, episode: int, rng: np.random.Generator) -> Matchup:
        teams = list(self.info.teams)
        focal = teams[episode % len(teams)]
        roles = self.info.roles
        agent = self.league.pick(roles[focal], rng)
        if agent.kind == MAIN and self.league.mix == "five":
            return self.selfplay(episode, rng)
        players = {
            t: agent.player if t == focal else self.opponent(agent, roles[t], rng) for t in teams
        }
        learn = frozenset(t for t, p in players.items() if p.is_latest)
        sp = self.selfplay
        opening = int(rng.integers(sp.random_opening + 1)) if sp.random_opening else 0
        side = None if sp.opening_side == "all" else frozenset(teams) - {focal}
        return Matchup(players, learn, focal, opening, side)
