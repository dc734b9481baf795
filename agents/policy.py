"""Actor-critic networks: MLP or CNN torso, masked categorical or Gaussian head.

The contract (Spinning Up style):

| symbol  | shape           | meaning                                         |
|---------|-----------------|-------------------------------------------------|
| obs     | [B, *obs_shape] | observations (uint8 images are scaled by 1/255) |
| member  | [B] int         | index of the agent within its team (one-hot in) |
| mask    | [B, A] bool     | legal actions; None means all legal             |
| action  | [B] / [B, D]    | sampled (or greedy) action                      |
| logp    | [B]             | log pi(action | obs)                            |
| value   | [B]             | V(obs)                                          |
| probs   | [B, A]          | pi(. | obs) for (Multi)Discrete ([B, 0] for Box) |
| state   | [B, S]          | recurrent state (LSTM h then c); S = 0 when none |

A recurrent network (`lstm` > 0) reads its rows as sequences: `steps` consecutive rows
per sequence, `state` [B / steps, S] the state before each sequence's first row (None:
zeros, an episode's start). A feed-forward network ignores both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Normal, kl_divergence

from envs import Mirror, Spaces
from envs.spec import check_action_axes

_MASKED_LOGIT = -1e9
"""Logit given to illegal actions: exp() of it is exactly 0 in float32."""


class ActOutput(NamedTuple):
    """What a policy returns for a batch of acting agents (numpy arrays)."""

    action: np.ndarray
    logp: np.ndarray
    value: np.ndarray
    probs: np.ndarray
    state: np.ndarray | None = None
    """The recurrent state after this step [B, S] (None: the actor has none)."""


def _mlp(sizes: Sequence[int], *, out_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, out_gain if last else np.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class _ConvTorso(nn.Module):
    """Nature-DQN style convolutions sized for small (e.g. 42x42) frames."""

    def __init__(self, shape: Sequence[int], out: int) -> None:
        super().__init__()
        h, w, c = shape
        self.net = nn.Sequential(
            nn.Conv2d(c, 32, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n = self.net(torch.zeros(1, c, h, w)).shape[1]
        self.fc = nn.Sequential(nn.Linear(n, out), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.net(x.permute(0, 3, 1, 2)))


class _GridTorso(nn.Module):
    """3x3 same-padding convolutions for small boards (e.g. connect four's 6x7).

    A threat is the same pattern in every column; convolutions share what is
    learned about it across the board, where an MLP must learn each place anew.
    """

    def __init__(
        self,
        shape: Sequence[int],
        out: int,
        channels: int = 32,
        layers: int = 2,
        *,
        keep_map: bool = False,
    ) -> None:
        super().__init__()
        h, w, c = shape
        convs: list[nn.Module] = []
        for i in range(layers):
            convs += [nn.Conv2d(c if i == 0 else channels, channels, 3, padding=1), nn.ReLU()]
        self.net = nn.Sequential(*convs, nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(channels * h * w, out), nn.ReLU())
        self.keep_map = keep_map
        """Also return the feature map itself, flattened [C, H, W], after the `out`
        features (what a spatial head reads)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = self.net(x.permute(0, 3, 1, 2))
        out = self.fc(flat)
        return torch.cat([out, flat], dim=1) if self.keep_map else out


class _Take(nn.Module):
    """The first `n` features (a dense head beside a spatial one skips the map)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : self.n]


class _SpatialHead(nn.Module):
    """One output per board position the actions enumerate (`action_axes`), all from one
    small MLP that reads that position's convolution features and the member one-hot.

    A threat looks the same in every column; with the weights shared across positions,
    what the head learns about answering it in one column it knows in every other
    (a dense head must learn each action's answer anew, and never learns one it never
    samples).
    """

    def __init__(
        self,
        map_shape: tuple[int, int, int],
        axes: Sequence[int],
        *,
        offset: int,
        members: int,
        hidden: int,
        out_gain: float,
    ) -> None:
        super().__init__()
        c, h, w = map_shape
        self.map_shape, self.offset, self.members = map_shape, offset, members
        others = [a for a in (0, 1) if a not in axes]
        # [B, C, H, W] -> the action axes first (row-major), then the rest, channels last
        self.order = (0, *(a + 2 for a in axes), *(a + 2 for a in others), 1)
        self.positions = int(np.prod([(h, w)[a] for a in axes]))
        per_position = c * int(np.prod([(h, w)[a] for a in others]))
        self.mlp = _mlp([per_position + members, hidden, 1], out_gain=out_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        onehot = x[:, self.offset - self.members : self.offset]
        size = int(np.prod(self.map_shape))
        fmap = x[:, self.offset : self.offset + size].reshape(b, *self.map_shape)
        per = fmap.permute(*self.order).reshape(b, self.positions, -1)
        per = torch.cat([per, onehot[:, None, :].expand(b, self.positions, self.members)], 2)
        return self.mlp(per).squeeze(-1)


SMALL_GRID = 16
"""Observations [H, W, C] with min(H, W) below this get `_GridTorso` when kind is cnn."""


class MultiCategorical:
    """Independent categoricals, one per MultiDiscrete dimension. Shapes as Categorical's."""

    def __init__(self, logits: torch.Tensor, nvec: Sequence[int]) -> None:
        self.dists = [
            Categorical(logits=part, validate_args=False)
            for part in torch.split(logits, list(nvec), dim=-1)
        ]

    def sample(self) -> torch.Tensor:
        """Sample every dimension. Shape [B, D]."""
        return torch.stack([d.sample() for d in self.dists], dim=-1)

    def mode(self) -> torch.Tensor:
        """Take the most likely choice of every dimension. Shape [B, D]."""
        return torch.stack([d.probs.argmax(-1) for d in self.dists], dim=-1)

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        """Sum the dimensions' log-probabilities. Shape [B]."""
        parts = [d.log_prob(action[..., i].long()) for i, d in enumerate(self.dists)]
        return torch.stack(parts, dim=-1).sum(-1)

    def entropy(self) -> torch.Tensor:
        """Sum the dimensions' entropies. Shape [B]."""
        return torch.stack([d.entropy() for d in self.dists], dim=-1).sum(-1)

    @property
    def probs(self) -> torch.Tensor:
        """Concatenate the dimensions' distributions. Shape [B, sum(nvec)]."""
        return torch.cat([d.probs for d in self.dists], dim=-1)


def _check_options(
    spaces: Spaces,
    kind: str,
    q_head: bool,
    lstm: int,
    chunk_length: int,
    mirror: Mirror | None,
    action_axes: Sequence[int] | None,
) -> None:
    """Raise a ValueError naming the first option of `ActorCritic` that the spaces or the
    other options rule out."""
    if kind not in ("auto", "mlp", "cnn"):
        raise ValueError(f"model kind must be auto, mlp or cnn, not {kind!r}")
    if action_axes is not None:
        check_action_axes("network", action_axes, spaces)
        small = len(spaces.obs_shape) == 3 and min(spaces.obs_shape[:2]) < SMALL_GRID
        if kind != "cnn" or not small or lstm:
            raise ValueError(
                "a spatial action head needs the small-board CNN (kind cnn, a board "
                f"under {SMALL_GRID} cells a side) and no LSTM"
            )
    if q_head and not (spaces.discrete and not spaces.multi):
        raise ValueError("a Q head needs a Discrete action space")
    if lstm < 0 or chunk_length < 1 or (not lstm and chunk_length != 1):
        raise ValueError(
            f"lstm must be >= 0 and chunk_length >= 1 (1 without an LSTM), not "
            f"{lstm} and {chunk_length}"
        )
    if mirror is not None:
        mirror.check("network", spaces)
        if lstm:
            raise ValueError("a mirrored network cannot be recurrent (yet)")


def _torso(
    spaces: Spaces,
    hidden: Sequence[int],
    cnn: bool,
    channels: int,
    conv_layers: int,
    spatial: bool,
    n_members: int,
) -> tuple[nn.Module, int, list[int]]:
    """The torso, the width of the features it hands on (with the member one-hot) and
    the heads' layer sizes."""
    if not cnn:
        feat = int(np.prod(spaces.obs_shape)) + n_members
        return nn.Flatten(), feat, [feat, *hidden]
    if len(spaces.obs_shape) != 3:
        raise ValueError(f"a CNN needs [H, W, C] observations, not {spaces.obs_shape}")
    if min(spaces.obs_shape[:2]) < SMALL_GRID:
        torso: nn.Module = _GridTorso(
            spaces.obs_shape, hidden[-1], channels, conv_layers, keep_map=spatial
        )
    else:
        torso = _ConvTorso(spaces.obs_shape, hidden[-1])
    feat = hidden[-1] + n_members
    return torso, feat, [feat, hidden[-1]]


class ActorCritic(nn.Module):
    """A team's shared network: observation plus member index in, policy and value out."""

    def __init__(
        self,
        spaces: Spaces,
        *,
        n_members: int,
        hidden: Sequence[int] = (256, 256),
        kind: str = "auto",
        channels: int = 32,
        conv_layers: int = 2,
        q_head: bool = False,
        lstm: int = 0,
        chunk_length: int = 1,
        mirror: Mirror | None = None,
        action_axes: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        _check_options(spaces, kind, q_head, lstm, chunk_length, mirror, action_axes)
        spatial = action_axes is not None
        self.spaces, self.n_members = spaces, n_members
        self.mirror = mirror
        """Play a position and its mirror image alike: the heads read both and average
        (logits and Q with the mirrored actions swapped back), so the policy and value
        are symmetric by construction (None: no mirror)."""
        if mirror is not None:  # not in the state dict: a snapshot is the same either way
            self.register_buffer(
                "_mirror_actions", torch.tensor(mirror.actions, dtype=torch.long), persistent=False
            )
        self.chunk_length = chunk_length
        """Rows per training sequence (truncated backpropagation through time); 1 for a
        feed-forward network."""
        self.torso_dtype = torch.float32
        """Arithmetic of the torso (the learner may set bfloat16: mixed precision)."""
        self.cnn = spaces.image if kind == "auto" else kind == "cnn"
        self.scale = 1.0 / 255.0 if spaces.obs_dtype == "uint8" else 1.0
        categorical = spaces.discrete or spaces.multi
        n_out = spaces.n_actions if categorical else int(np.prod(spaces.action_shape))
        self.torso, feat, head = _torso(
            spaces, hidden, self.cnn, channels, conv_layers, spatial, n_members
        )
        self.lstm = nn.LSTM(feat, lstm, batch_first=True) if lstm else None
        """One LSTM layer between the features and the heads, in place of the heads'
        first hidden layer (OpenAI Five's policy: a single-layer LSTM)."""
        self.state_size = 2 * lstm
        if lstm:
            head = [lstm, *head[2:]]
        self.spatial = spatial
        """Actor and Q read each action's output off its board position (`action_axes`)."""
        self.map_size = 0
        """Floats of the feature map after the dense features (a spatial head's input)."""
        self._add_heads(spaces, head, feat, n_out, channels, action_axes, q_head, n_members)
        if not categorical:
            self.log_std = nn.Parameter(torch.zeros(n_out))
            self.register_buffer("low", torch.tensor(spaces.action_low, dtype=torch.float32))
            self.register_buffer("high", torch.tensor(spaces.action_high, dtype=torch.float32))

    def _add_heads(
        self,
        spaces: Spaces,
        head: list[int],
        feat: int,
        n_out: int,
        channels: int,
        action_axes: Sequence[int] | None,
        q_head: bool,
        n_members: int,
    ) -> None:
        """The actor, the critic and (for learners such as ACER) the Q head."""
        hidden = head[-1]
        if action_axes is not None:
            h, w, _ = spaces.obs_shape
            self.map_size = channels * h * w
            at = dict(offset=feat, members=n_members, hidden=hidden)
            self.actor = _SpatialHead((channels, h, w), action_axes, out_gain=0.01, **at)
            self.critic = nn.Sequential(_Take(feat), _mlp([*head, 1], out_gain=1.0))
            self.q = (
                _SpatialHead((channels, h, w), action_axes, out_gain=1.0, **at) if q_head else None
            )
        else:
            self.actor = _mlp([*head, n_out], out_gain=0.01)
            self.critic = _mlp([*head, 1], out_gain=1.0)
            self.q = _mlp([*head, n_out], out_gain=1.0) if q_head else None
        """Q(x, .) per action (learners such as ACER add it; acting never reads it)."""

    def _features(self, obs: torch.Tensor, member: torch.Tensor) -> torch.Tensor:
        x = obs.float() * self.scale
        if self.torso_dtype == torch.float32:
            x = self.torso(x)
        else:  # autocast: float32 weights, low-precision convolutions, float32 out
            with torch.autocast(x.device.type, dtype=self.torso_dtype):
                x = self.torso(x)
            x = x.float()
        # One-hot by comparison: the same numbers as one_hot(), and exportable (ONNX).
        members = torch.arange(self.n_members, device=member.device)
        onehot = (member.long()[:, None] == members).float()
        if self.spatial:  # [dense features, member one-hot, feature map]
            d = x.shape[1] - self.map_size
            return torch.cat([x[:, :d], onehot, x[:, d:]], dim=1)
        return torch.cat([x, onehot], dim=1)

    @property
    def recurrent(self) -> bool:
        """Whether the network carries a state from step to step."""
        return self.lstm is not None

    def core(
        self,
        obs: torch.Tensor,
        member: torch.Tensor,
        state: torch.Tensor | None = None,
        steps: int = 1,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return what the heads read [B, F] and the state after each sequence (None for
        a feed-forward network). Rows are sequences of `steps` rows (see the module doc).
        A mirrored network reads the board and its mirror image in one pass: [B, 2F]."""
        if self.mirror is not None:
            flipped = obs.flip(self.mirror.obs_axis + 1)
            both = self._features(torch.cat([obs, flipped]), torch.cat([member, member]))
            return torch.cat(both.chunk(2), dim=1), None
        x = self._features(obs, member)
        if self.lstm is None:
            return x, None
        n = x.shape[0] // steps
        size = self.lstm.hidden_size
        if state is None:
            state = torch.zeros(n, 2 * size, device=x.device)
        h0, c0 = state[:, :size].unsqueeze(0), state[:, size:].unsqueeze(0)
        y, (h, c) = self.lstm(x.view(n, steps, -1), (h0.contiguous(), c0.contiguous()))
        return y.reshape(n * steps, size), torch.cat([h[0], c[0]], dim=1)

    def _heads(
        self,
        obs: torch.Tensor,
        member: torch.Tensor,
        mask: torch.Tensor | None,
        state: torch.Tensor | None = None,
        steps: int = 1,
        *,
        q: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Return the actor's output (masked logits when discrete), the value [B], when
        asked Q [B, A] (one pass through the torso for all three), and the new state."""
        x, new_state = self.core(obs, member, state, steps)
        out = self._head(self.actor, x, swap=True)
        if self.spaces.discrete and mask is not None:
            out = out.masked_fill(~mask, _MASKED_LOGIT)
        if q and self.q is None:
            raise ValueError("this network has no Q head (it was built without q_head)")
        q_out = self._head(self.q, x, swap=True) if q else None
        return out, self.value_from(x), q_out, new_state

    def _head(self, head: nn.Module, x: torch.Tensor, *, swap: bool) -> torch.Tensor:
        """A head on what `core` returned: a mirrored network averages the head over the
        board and its mirror image, the mirror's actions swapped back when `swap`."""
        if self.mirror is None:
            return head(x)
        half = x.shape[1] // 2
        plain, flipped = head(x[:, :half]), head(x[:, half:])
        if swap:
            flipped = flipped[:, self._mirror_actions]
        return 0.5 * (plain + flipped)

    def value_from(self, x: torch.Tensor) -> torch.Tensor:
        """V from what `core` returned (a learner that fits the critic alone). Shape [B]."""
        return self._head(self.critic, x, swap=False).squeeze(-1)

    def forward(
        self,
        obs: torch.Tensor,
        member: torch.Tensor,
        mask: torch.Tensor | None = None,
        state: torch.Tensor | None = None,
        steps: int = 1,
    ) -> tuple[torch.distributions.Distribution, torch.Tensor]:
        """Return the action distribution and the value. Value shape [B]."""
        out, value, _, _ = self._heads(obs, member, mask, state, steps)
        return self._distribution(out), value

    def with_q(
        self, obs: torch.Tensor, member: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.distributions.Distribution, torch.Tensor, torch.Tensor]:
        """Return the distribution, the value [B] and Q(obs, .) [B, A] (unmasked)."""
        out, value, q, _ = self._heads(obs, member, mask, q=True)
        return self._distribution(out), value, q

    def outputs(
        self,
        obs: torch.Tensor,
        member: torch.Tensor,
        mask: torch.Tensor | None = None,
        state: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """The policy as plain tensors (what `league export` writes).

        (Multi)Discrete: (probs [B, A], value [B]); MultiDiscrete probabilities are each
        dimension's distribution, concatenated. Box: (mean [B, D], std [B, D], value [B]).
        A recurrent network takes the state before the step [B, S] as its last input and
        returns the state after it as its last output.
        """
        out, value, _, new_state = self._heads(obs, member, mask, state)
        if self.spaces.multi:
            parts = torch.split(out, list(self.spaces.nvec), dim=-1)
            got: tuple[torch.Tensor, ...] = (
                torch.cat([torch.softmax(p, dim=-1) for p in parts], dim=-1),
                value,
            )
        elif self.spaces.discrete:
            got = (torch.softmax(out, dim=-1), value)
        else:
            got = (out, self.log_std.exp().expand_as(out), value)
        return got if new_state is None else (*got, new_state)

    def _distribution(self, out: torch.Tensor) -> torch.distributions.Distribution:
        if self.spaces.multi:
            return MultiCategorical(out, self.spaces.nvec)
        if self.spaces.discrete:
            return Categorical(logits=out, validate_args=False)
        return Normal(out, self.log_std.exp().expand_as(out), validate_args=False)

    @staticmethod
    def log_prob(dist: torch.distributions.Distribution, action: torch.Tensor) -> torch.Tensor:
        """Return log pi(action); Gaussian dimensions are summed. Shape [B]."""
        logp = dist.log_prob(action)
        return logp.sum(-1) if logp.dim() > 1 else logp

    @staticmethod
    def kl(dist: Any, other: Any) -> torch.Tensor:
        """Return KL(dist || other) per sample, two of this network's distributions for
        the same inputs (the dimensions of a MultiDiscrete or Box action summed). Shape
        [B]."""
        if isinstance(dist, MultiCategorical):
            parts = [kl_divergence(a, b) for a, b in zip(dist.dists, other.dists, strict=True)]
            return torch.stack(parts, dim=-1).sum(-1)
        kl = kl_divergence(dist, other)
        return kl.sum(-1) if kl.dim() > 1 else kl

    @staticmethod
    def entropy(dist: torch.distributions.Distribution) -> torch.Tensor:
        """Return the entropy per sample. Shape [B]."""
        ent = dist.entropy()
        return ent.sum(-1) if ent.dim() > 1 else ent

    @torch.no_grad()
    def act(
        self,
        obs: np.ndarray,
        member: np.ndarray,
        mask: np.ndarray | None,
        state: np.ndarray | None = None,
        *,
        greedy: bool = False,
    ) -> ActOutput:
        """Pick actions for a batch of agents (numpy in, numpy out); a recurrent network
        steps each agent's `state` (None: an episode's start) and returns the new one."""
        device = next(self.parameters()).device
        obs_t = torch.as_tensor(obs, device=device)
        member_t = torch.as_tensor(member, device=device)
        mask_t = None if mask is None else torch.as_tensor(mask, device=device)
        state_t = (
            None if state is None or not self.recurrent else torch.as_tensor(state, device=device)
        )
        out, value, _, new_state = self._heads(obs_t, member_t, mask_t, state_t)
        new = None if new_state is None else new_state.cpu().numpy()
        if self.spaces.discrete:
            # The rollout's hot path: the same draw as Categorical.sample, without
            # building a distribution object per call.
            logp_all = torch.log_softmax(out, dim=-1)
            probs_t = logp_all.exp()
            if greedy:
                action = probs_t.argmax(-1)
            else:
                action = torch.multinomial(probs_t, 1, True).squeeze(-1)
            logp = logp_all.gather(-1, action[:, None]).squeeze(-1)
            return ActOutput(
                action.cpu().numpy(),
                logp.cpu().numpy(),
                value.cpu().numpy(),
                probs_t.cpu().numpy(),
                new,
            )
        dist = self._distribution(out)
        if self.spaces.multi:
            action = dist.mode() if greedy else dist.sample()
            probs = dist.probs.cpu().numpy()
        else:
            action = dist.mean if greedy else dist.sample()
            probs = np.zeros((len(obs), 0), dtype=np.float32)
        logp = self.log_prob(dist, action)
        return ActOutput(action.cpu().numpy(), logp.cpu().numpy(), value.cpu().numpy(), probs, new)

    @torch.no_grad()
    def value_of(
        self, obs: np.ndarray, member: np.ndarray, state: np.ndarray | None = None
    ) -> np.ndarray:
        """Return V(obs) for a batch (given each agent's state when recurrent). Shape [B]."""
        device = next(self.parameters()).device
        state_t = (
            None if state is None or not self.recurrent else torch.as_tensor(state, device=device)
        )
        x, _ = self.core(
            torch.as_tensor(obs, device=device), torch.as_tensor(member, device=device), state_t
        )
        return self.value_from(x).cpu().numpy()
