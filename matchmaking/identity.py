"""Who sits on a team: one value for a role's latest policy, a snapshot or a bot.

A `PlayerId` travels from the opponent samplers through the matchups and episodes
to the registry; its text form (`main@latest`, `main@12`, `random`) is what the
command line accepts and what the registry's match rows store. A role may have
several learning agents (a league's main agent and its exploiters): the main agent
is the role's plain name (`main@latest`), the others add theirs
(`main/main_exploiter_0@latest`). That name, `role` or `role/agent`, is the
learner's key everywhere a learning policy is looked up (weights, batches,
learners, metrics). Snapshot ids are global, so a snapshot is always `role@<id>`.
"""

from __future__ import annotations

from dataclasses import dataclass

RANDOM = "random"
"""The bot that picks uniformly among legal actions (rating anchor: 0)."""
SCRIPTED = "scripted"
"""The game's own scripted bot, where it has one."""
MCTS = "mcts"
"""`mcts:N`: UCT search with random rollouts, N simulations per move (turn-based games)."""
HUMAN = "human"
"""A person at the terminal (`league play`): recorded in match rows, never sampled."""
LATEST = "latest"
"""A learning agent's newest policy: how players, payoff tables and the CLI name it."""
RESERVED = frozenset({RANDOM, SCRIPTED, MCTS, HUMAN, LATEST})
"""Player names the league gives its own players: a game's `bots` cannot take them."""


@dataclass(frozen=True)
class PlayerId:
    """A role's latest policy, one of its snapshots, or a bot (exactly one of them)."""

    role: str = ""
    """The role of a policy player ("" for a bot)."""
    snapshot: int | None = None
    """The snapshot id of a frozen policy (None: the role's latest, learning policy)."""
    bot: str = ""
    """The bot's name: `random`, `scripted` or another of the game's bots, `mcts:N` or
    `path/to/bot.py:function` ("" for a policy)."""
    agent: str = ""
    """Which learning agent of the role ("" the main agent; e.g. `main_exploiter_0`)."""

    def __post_init__(self) -> None:
        if bool(self.role) == bool(self.bot):
            raise ValueError(f"a player is a policy of a role or a bot, not {self!r}")
        if self.bot and self.snapshot is not None:
            raise ValueError(f"a bot has no snapshot: {self!r}")
        if self.agent and self.snapshot is not None:
            raise ValueError(f"a snapshot is named by its id alone: {self!r}")
        if "/" in self.role or "/" in self.agent or "@" in self.role + self.agent:
            raise ValueError(f"a role or agent name has no '/' or '@': {self!r}")

    @classmethod
    def latest(cls, role: str, agent: str = "") -> PlayerId:
        """The learning policy of `role` (its main agent, or the agent called `agent`)."""
        return cls(role=role, agent=agent)

    @classmethod
    def of_learner(cls, key: str) -> PlayerId:
        """The learning policy whose key (`role` or `role/agent`) is `key`."""
        role, _, agent = key.partition("/")
        return cls.latest(role, agent)

    @classmethod
    def of_snapshot(cls, role: str, snapshot: int) -> PlayerId:
        """Snapshot `snapshot` of `role`."""
        return cls(role=role, snapshot=int(snapshot))

    @classmethod
    def of_bot(cls, name: str) -> PlayerId:
        """The bot called `name`."""
        return cls(bot=name)

    @classmethod
    def parse(cls, text: str) -> PlayerId:
        """Read the text form: `role[/agent]@latest`, `role@<snapshot id>` or a bot name."""
        role, sep, version = text.partition("@")
        if not sep:
            return cls.of_bot(text)
        if version == LATEST:
            return cls.of_learner(role)
        try:
            return cls.of_snapshot(role, int(version))
        except ValueError:
            raise ValueError(f"player {text!r}: expected role@latest or role@<id>") from None

    @property
    def learner(self) -> str:
        """The key of a learning policy: `role`, or `role/agent` for a role's other agents."""
        if not self.is_latest:
            raise ValueError(f"{self} is not a learning policy")
        return f"{self.role}/{self.agent}" if self.agent else self.role

    @property
    def is_latest(self) -> bool:
        """A role's learning policy."""
        return bool(self.role) and self.snapshot is None

    @property
    def is_main(self) -> bool:
        """A role's main agent's learning policy (not an exploiter's)."""
        return self.is_latest and not self.agent

    @property
    def is_snapshot(self) -> bool:
        """A frozen policy of the registry."""
        return self.snapshot is not None

    @property
    def is_bot(self) -> bool:
        """A bot (random, scripted, a user's function)."""
        return bool(self.bot)

    def __str__(self) -> str:
        if self.bot:
            return self.bot
        if self.snapshot is not None:
            return f"{self.role}@{self.snapshot}"
        return f"{self.learner}@{LATEST}"


def mcts_simulations(bot: str) -> int | None:
    """N of a bot called `mcts:N` (None for any other bot); ValueError if N is not a
    positive whole number."""
    kind, sep, count = bot.partition(":")
    if kind != MCTS or not sep:
        return None
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"bot {bot!r}: mcts:N needs N, the simulations per move, of 1 or more")
    return int(count)
