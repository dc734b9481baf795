"""Actor-Critic with Experience Replay (Wang et al. 2017, arXiv:1611.01224), discrete actions.

ACER learns off-policy from a replay buffer of trajectory segments:

- a Q head next to the policy head (`ActorCritic(q_head=True)`); V(x) = sum_a pi(a|x) Q(x, a)
  over the legal actions only (pi is exactly 0 on an illegal action and its unmasked Q is
  replaced by 0 before any sum, so it never reaches a target);
- Retrace targets Q_ret, computed backwards along each segment with truncated importance
  weights c_t = lambda * min(1, rho_t), rho_t = pi(a_t|x_t) / mu(a_t|x_t);
- the truncated importance-sampling policy gradient with bias correction and an entropy
  bonus, and the Q regression q_coef * 0.5 * (Q_ret - Q(x_t, a_t))^2;
- the efficient trust region: an average policy network (Polyak-updated after each gradient
  step) and the closed-form projection of the policy gradient taken with respect to the
  policy's output phi. Here phi is the policy's normalised logits (log-probabilities), where
  baselines uses the probabilities: d KL(pi_avg || softmax(phi)) / d phi = pi - pi_avg is
  bounded and exactly 0 on illegal actions, where -pi_avg / pi would divide by ~0.

The critic head V of the network is not part of ACER's maths, but the rollouts read it: it is
each step's `batch.value` and the `batch.bootstrap` of a truncated stream. So that those stay
meaningful, it is regressed (weight `vf_coef`) onto ACER's own V(x) = sum_a pi Q.

Segments: every stream of a batch is cut into segments of at most `segment_length` steps. A
segment that ends inside its stream bootstraps from V(x) of the next observation under the
current policy (that observation is kept with the segment); a segment ending a stream with
`done and not truncated` is terminal (bootstrap 0); one ending a truncated stream bootstraps
from `batch.bootstrap`, the behaviour critic's value of the observation after the cut: the
one place where ACER uses a stale estimate, since that observation is not in the batch.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from agents.batch import Batch
from agents.learner import Settings, StepParams, set_lr
from agents.policy import ActorCritic

CUT, TERMINAL, TRUNCATED = 0, 1, 2
"""How a segment ends: inside its stream, at an episode's end, or where its stream was cut."""

_MIN_MU = 1e-8
"""Floor of mu(a_t|x_t) in rho_t (a sampled action always has mu > 0; this only guards)."""


class ACERSettings(Settings):
    """ACER settings (`learner.acer`); defaults follow openai/baselines' acer."""

    default_lr: ClassVar[float] = 7e-4
    default_ent_coef: ClassVar[float] = 0.01

    segment_length: int = Field(20, ge=1)
    """Most agent-steps of one replayed segment (baselines' nsteps)."""
    replay_ratio: float = Field(4.0, ge=0)
    """Mean of the Poisson number of replay updates after each on-policy update."""
    replay_start: int = Field(10_000, ge=0)
    """Agent-steps stored before replay updates begin."""
    buffer_size: int = Field(50_000, ge=1)
    """Most agent-steps the replay buffer holds (its oldest segments are dropped first)."""
    truncation: float = Field(10.0, gt=0)
    """Importance-weight truncation c."""
    retrace_lambda: float = Field(1.0, ge=0, le=1)
    """Lambda of the Retrace traces c_t = lambda * min(1, rho_t)."""
    polyak: float = Field(0.99, ge=0, le=1)
    """Average network update theta_avg <- alpha theta_avg + (1 - alpha) theta."""
    delta: float = Field(1.0, ge=0)
    """Trust-region bound on the linearised KL(pi_avg || pi) per step."""
    trust_region: bool = True
    """Project the policy gradient onto the trust region around the average policy."""
    q_coef: float = Field(0.5, ge=0)
    """Weight of the Q loss."""
    vf_coef: float = Field(0.5, ge=0)
    """Weight of the critic head's regression onto sum_a pi Q (the rollouts' values)."""
    max_grad_norm: float = Field(10.0, gt=0)
    """Global gradient-norm clip."""
    rmsprop_alpha: float = Field(0.99, gt=0, lt=1)
    """RMSProp smoothing constant."""
    rmsprop_eps: float = Field(1e-5, gt=0)
    """RMSProp epsilon."""

    @model_validator(mode="after")
    def _replay_can_start(self) -> ACERSettings:
        if self.replay_start > self.buffer_size:
            raise ValueError(
                f"replay_start ({self.replay_start}) exceeds buffer_size ({self.buffer_size}): "
                "replay would never begin"
            )
        return self


# ---------------------------------------------------------------------------
# the maths, as pure functions


def trust_region_projection(
    g: torch.Tensor, k: torch.Tensor, delta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project per-row gradients onto the linearised trust region k^T z <= delta.

    z* = g - max(0, (k^T g - delta) / ||k||^2) k, the closest z to g satisfying the bound
    (ACER eq. 13). Shapes: g, k [B, A]; returns z [B, A] and scale [B], the multiplier
    max(0, ...) of k (0 where g already satisfies the bound).
    """
    kg = (k * g).sum(-1)
    kk = (k * k).sum(-1)
    scale = (kg - delta).clamp_min(0.0) / kk.clamp_min(1e-12)
    return g - scale[:, None] * k, scale


def bias_correction_weights(
    pi: torch.Tensor,
    mu: torch.Tensor,
    q: torch.Tensor,
    v: torch.Tensor,
    c: float,
    mask: torch.Tensor,
) -> torch.Tensor:
    """Coefficients of grad log pi(a) in the bias-correction term, for every action.

    [1 - c / rho(a)]_+ pi(a) (Q(x, a) - V(x)) with rho(a) = pi(a) / mu(a); written as
    [pi(a) - c mu(a)]_+ (Q(x, a) - V(x)), which needs no division (mu(a) may be 0).
    Illegal actions get 0. Shapes: pi, mu, q, mask [B, A]; v [B]; returns [B, A].
    """
    w = (pi - c * mu).clamp_min(0.0) * (q - v[:, None])
    return w.masked_fill(~mask, 0.0)


def retrace_targets(
    reward: torch.Tensor,
    q_taken: torch.Tensor,
    value: torch.Tensor,
    trace: torch.Tensor,
    valid: torch.Tensor,
    bootstrap: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """Compute Retrace targets Q_ret backwards along left-aligned, padded segments.

    Q_ret(t) = r_t + gamma * [c_{t+1} (Q_ret(t+1) - Q(x_{t+1}, a_{t+1})) + V(x_{t+1})], and
    after a segment's last step the bracket is `bootstrap` (0 at a terminal end). Shapes:
    reward, q_taken, value, trace (c_t), valid [S, T] (valid False on the padding after each
    segment's end); bootstrap [S]; returns Q_ret [S, T] (0 on the padding).
    """
    out = torch.zeros_like(reward)
    carry = bootstrap
    for t in range(reward.shape[1] - 1, -1, -1):
        ret = reward[:, t] + gamma * carry
        out[:, t] = torch.where(valid[:, t], ret, 0.0)
        step = trace[:, t] * (ret - q_taken[:, t]) + value[:, t]
        carry = torch.where(valid[:, t], step, carry)
    return out


def policy_gain(
    phi: torch.Tensor,
    mask: torch.Tensor,
    action: torch.Tensor,
    mu: torch.Tensor,
    q: torch.Tensor,
    q_ret: torch.Tensor,
    *,
    c: float,
    ent_coef: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-row ACER policy objective, to differentiate with respect to the logits phi.

    min(c, rho_t) log pi(a_t) (Q_ret - V) + sum_a [1 - c/rho(a)]_+ pi(a) log pi(a) (Q(a) - V)
    + ent_coef * H(pi), with V = sum_a pi Q; every coefficient is held constant. Shapes: phi,
    mask, mu, q [B, A] (q and q_ret carry no gradient); action, q_ret [B]. Returns the gain
    [B] (with the graph to phi), the entropy [B] and rho_t [B] (both detached).
    """
    logp = torch.log_softmax(phi, dim=-1).masked_fill(~mask, 0.0)
    pi = torch.softmax(phi, dim=-1)
    with torch.no_grad():
        q = q.masked_fill(~mask, 0.0)
        pi_c = pi.detach()
        v = (pi_c * q).sum(-1)
        pi_a = pi_c.gather(1, action[:, None]).squeeze(1)
        mu_a = mu.gather(1, action[:, None]).squeeze(1)
        rho = pi_a / mu_a.clamp_min(_MIN_MU)
        taken = rho.clamp(max=c) * (q_ret - v)
        bc = bias_correction_weights(pi_c, mu, q, v, c, mask)
    entropy = -(pi * logp).sum(-1)
    gain = taken * logp.gather(1, action[:, None]).squeeze(1) + (bc * logp).sum(-1)
    return gain + ent_coef * entropy, entropy.detach(), rho


# ---------------------------------------------------------------------------
# segments and the replay buffer


@dataclass
class Segments:
    """Trajectory segments, stored back to back (numpy, on the CPU).

    Step fields have one row per agent-step ([n, ...]); segment fields one row per
    segment ([S, ...]). Segment i covers the `length[i]` rows after those of segments
    0..i-1. `next_*` is the observation after a segment that ends inside its stream
    (`end == CUT`); for other segments it repeats the last row and is never read.
    """

    obs: np.ndarray
    member: np.ndarray
    mask: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    mu: np.ndarray
    version: np.ndarray
    length: np.ndarray
    end: np.ndarray
    boot_value: np.ndarray
    next_obs: np.ndarray
    next_member: np.ndarray
    next_mask: np.ndarray

    STEP_FIELDS: ClassVar[tuple[str, ...]] = (
        "obs",
        "member",
        "mask",
        "action",
        "reward",
        "mu",
        "version",
    )

    @property
    def steps(self) -> int:
        """Return the number of agent-steps."""
        return len(self.reward)

    def __len__(self) -> int:
        return len(self.length)

    def offsets(self) -> np.ndarray:
        """Return the first row of every segment. Shape [S]."""
        return np.cumsum(self.length) - self.length

    @classmethod
    def from_batch(cls, batch: Batch, segment_length: int) -> Segments:
        """Cut every stream of `batch` into segments of at most `segment_length` steps."""
        n = len(batch)
        done = np.asarray(batch.done, dtype=bool)
        if n == 0 or not done[-1]:
            raise ValueError("ACER needs a non-empty batch whose last step ends a stream (done)")
        starts, lengths = batch.stream_bounds()
        pos = np.arange(n) - np.repeat(starts, lengths)
        first = np.flatnonzero(pos % segment_length == 0)
        last = np.append(first[1:], n) - 1
        at_end = done[last]
        truncated = np.asarray(batch.truncated, dtype=bool)[last]
        end = np.where(at_end, np.where(truncated, TRUNCATED, TERMINAL), CUT).astype(np.int8)
        boot = np.where(end == TRUNCATED, batch.bootstrap[last], 0.0).astype(np.float32)
        nxt = np.where(at_end, last, last + 1)
        return cls(
            obs=batch.obs,
            member=np.asarray(batch.member, dtype=np.int64),
            mask=np.asarray(batch.mask, dtype=bool),
            action=np.asarray(batch.action, dtype=np.int64),
            reward=np.asarray(batch.reward, dtype=np.float32),
            mu=np.asarray(batch.probs, dtype=np.float32),
            version=np.asarray(batch.version, dtype=np.int64),
            length=(last + 1 - first).astype(np.int64),
            end=end,
            boot_value=boot,
            next_obs=batch.obs[nxt],
            next_member=np.asarray(batch.member, dtype=np.int64)[nxt],
            next_mask=np.asarray(batch.mask, dtype=bool)[nxt],
        )

    def select(self, idx: np.ndarray) -> Segments:
        """Return the segments `idx` (in that order), their rows packed back to back."""
        idx = np.asarray(idx, dtype=np.int64)
        lens = self.length[idx]
        new_first = np.cumsum(lens) - lens
        rows = np.arange(lens.sum()) + np.repeat(self.offsets()[idx] - new_first, lens)
        return self._take(rows, idx)

    def tail(self, k: int) -> Segments:
        """Return the segments after the first `k` (views, no copy)."""
        row = int(self.length[:k].sum())
        return self._take(slice(row, None), slice(k, None))

    def _take(self, rows: Any, segs: Any) -> Segments:
        step = set(self.STEP_FIELDS)
        return Segments(
            **{
                f.name: getattr(self, f.name)[rows if f.name in step else segs]
                for f in fields(self)
            }
        )

    @staticmethod
    def concat(parts: list[Segments]) -> Segments:
        """Join segment sets end to end."""
        return Segments(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts])
                for f in fields(Segments)
            }
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """Return every field by name (for a state dict)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class ReplayBuffer:
    """Segments bounded in agent-steps; the oldest segments are dropped first.

    Kept as a queue of segment sets (one per stored batch), so that storing and dropping
    never copy the whole buffer.
    """

    def __init__(self, capacity: int, empty: Segments) -> None:
        self.capacity = capacity
        self._empty = empty
        self._parts: deque[Segments] = deque()
        self.steps = 0

    @property
    def segments(self) -> int:
        """Return the number of stored segments."""
        return sum(len(p) for p in self._parts)

    def add(self, segs: Segments) -> None:
        """Store `segs` as the newest segments, then drop the oldest beyond the capacity."""
        self._parts.append(segs)
        self.steps += segs.steps
        while self.steps > self.capacity:
            oldest = self._parts[0]
            covered = np.cumsum(oldest.length)
            k = int(np.searchsorted(covered, self.steps - self.capacity)) + 1
            if k >= len(oldest):
                self._parts.popleft()
                self.steps -= oldest.steps
            else:
                self._parts[0] = oldest.tail(k)
                self.steps -= int(covered[k - 1])

    def sample(self, rng: np.random.Generator, steps: int) -> Segments:
        """Draw distinct segments uniformly until they hold at least `steps` agent-steps."""
        lengths = np.concatenate([p.length for p in self._parts])
        order = rng.permutation(len(lengths))
        count = int(np.searchsorted(np.cumsum(lengths[order]), steps)) + 1
        chosen = np.sort(order[:count])
        picked, first = [], 0
        for part in self._parts:
            local = chosen[(chosen >= first) & (chosen < first + len(part))] - first
            if len(local):
                picked.append(part.select(local))
            first += len(part)
        return Segments.concat(picked)

    def contents(self) -> Segments:
        """Return every stored segment, oldest first, as one segment set."""
        return Segments.concat([self._empty, *self._parts])

    def state_dict(self) -> dict[str, np.ndarray]:
        """Return the contents as a few concatenated arrays (`length` marks the segments)."""
        return self.contents().arrays()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore contents returned by `state_dict`."""
        names = [f.name for f in fields(Segments)]
        segs = Segments(**{k: _numpy(state[k], getattr(self._empty, k).dtype) for k in names})
        self._parts = deque([segs] if len(segs) else [])
        self.steps = segs.steps


def _numpy(x: Any, dtype: np.dtype) -> np.ndarray:
    """Copy a numpy array or torch tensor into a numpy array of `dtype`."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.array(x, dtype=dtype)


def _empty_segments(policy: ActorCritic) -> Segments:
    """Return a segment set with no segments, with the policy's shapes and dtypes."""
    sp = policy.spaces
    obs = np.zeros((0, *sp.obs_shape), dtype=np.dtype(sp.obs_dtype))
    mask = np.zeros((0, sp.n_actions), dtype=bool)
    i64, f32 = np.zeros(0, np.int64), np.zeros(0, np.float32)
    return Segments(
        obs=obs,
        member=i64,
        mask=mask,
        action=i64,
        reward=f32,
        mu=np.zeros((0, sp.n_actions), np.float32),
        version=i64,
        length=i64,
        end=np.zeros(0, np.int8),
        boot_value=f32,
        next_obs=obs,
        next_member=i64,
        next_mask=mask,
    )


# ---------------------------------------------------------------------------
# the learner


@dataclass
class _Evaluated:
    """One forward pass over a segment set, with its Retrace targets."""

    phi: torch.Tensor
    """Normalised logits [n, A], attached to the graph."""
    value: torch.Tensor
    """The critic head [n], attached."""
    q: torch.Tensor
    """Q(x, .) [n, A], attached, 0 on illegal actions."""
    v: torch.Tensor
    """sum_a pi Q [n], detached."""
    q_ret: torch.Tensor
    """Retrace targets [n], detached."""


class ACER:
    """ACER with Retrace, truncated importance sampling with bias correction and the
    efficient trust region; discrete actions (with or without a legal-action mask).

    Each `update` takes one gradient step on the new batch's segments (on-policy), stores
    them, then takes Poisson(`replay_ratio`) gradient steps, each on distinct segments drawn
    uniformly from the buffer until they hold as many agent-steps as the new batch, once the
    buffer holds `replay_start` agent-steps.
    """

    def __init__(
        self,
        policy: ActorCritic,
        config: ACERSettings | None = None,
        *,
        device: torch.device,
        seed: int = 0,
    ) -> None:
        sp = policy.spaces
        if sp.multi:
            raise ValueError(f"ACER needs a Discrete action space, not MultiDiscrete{sp.nvec}")
        if not sp.discrete:
            raise ValueError(f"ACER needs a Discrete action space, not Box{sp.action_shape}")
        if policy.q is None:
            raise ValueError("ACER needs a network with a Q head (ActorCritic(q_head=True))")
        if policy.recurrent:
            raise ValueError("ACER does not train recurrent policies (use PPO or TRPO)")
        self.policy = policy.to(device)
        self.config, self.device = config or ACERSettings(), device
        self.average = copy.deepcopy(self.policy).requires_grad_(False)
        self.optimizer = torch.optim.RMSprop(
            self.policy.parameters(),
            lr=ACERSettings.default_lr,
            alpha=self.config.rmsprop_alpha,
            eps=self.config.rmsprop_eps,
        )
        self.buffer = ReplayBuffer(self.config.buffer_size, _empty_segments(policy))
        self.updates = 0
        self.version = 0
        self._rng = np.random.default_rng(seed)

    def update(self, batch: Batch, params: StepParams) -> dict[str, float]:
        """Learn on the new batch, store it, then replay; return the mean losses."""
        cfg = self.config
        set_lr(self.optimizer, params.lr)
        self.average.torso_dtype = self.policy.torso_dtype
        self.version = max(self.version, int(np.max(batch.version)))
        segs = Segments.from_batch(batch, cfg.segment_length)
        stats = [self._learn(segs, params)]
        self.buffer.add(segs)
        replays = 0
        if self.buffer.steps >= cfg.replay_start:
            replays = int(self._rng.poisson(cfg.replay_ratio))
        ages: list[np.ndarray] = []
        for _ in range(replays):
            sample = self.buffer.sample(self._rng, segs.steps)
            ages.append(self.version - sample.version)
            stats.append(self._learn(sample, params))
        self.updates += 1
        out = {f"losses/{k}": float(np.mean([s[k] for s in stats])) for k in stats[0]}
        out["losses/replay_updates"] = float(replays)
        out["losses/sample_reuse"] = float(1 + replays)  # each replay learns as many steps
        out["losses/replay_size"] = float(self.buffer.steps)
        out["losses/replay_age"] = float(np.concatenate(ages).mean()) if ages else float("nan")
        return out

    def q_retrace(self, segs: Segments, gamma: float) -> torch.Tensor:
        """Return the Retrace targets Q_ret [n] of `segs` under the current networks."""
        with torch.no_grad():
            return self._evaluate(self._tensors(segs), gamma).q_ret

    def _tensors(self, segs: Segments) -> dict[str, torch.Tensor]:
        """Move a segment set to the device, with each step's segment and position."""
        seg_id = np.repeat(np.arange(len(segs)), segs.length)
        pos = np.arange(segs.steps) - np.repeat(segs.offsets(), segs.length)
        out = {k: torch.as_tensor(v, device=self.device) for k, v in segs.arrays().items()}
        out["seg_id"] = torch.as_tensor(seg_id, device=self.device)
        out["pos"] = torch.as_tensor(pos, device=self.device)
        return out

    def _evaluate(self, t: dict[str, torch.Tensor], gamma: float) -> _Evaluated:
        """Run the network over the steps and the cut segments' next observations, and
        compute the Retrace targets (V under the current policy; Q of illegal actions 0)."""
        n, cut = len(t["action"]), t["end"] == CUT
        mask = torch.cat([t["mask"], t["next_mask"][cut]])
        dist, value, q = self.policy.with_q(
            torch.cat([t["obs"], t["next_obs"][cut]]),
            torch.cat([t["member"], t["next_member"][cut]]),
            mask,
        )
        q = q.masked_fill(~mask, 0.0)
        with torch.no_grad():
            v_all = (dist.probs * q).sum(-1)
            boot = torch.where(t["end"] == TRUNCATED, t["boot_value"], 0.0)
            boot[cut] = v_all[n:]
            pi_a = dist.probs[:n].gather(1, t["action"][:, None]).squeeze(1)
            mu_a = t["mu"].gather(1, t["action"][:, None]).squeeze(1)
            trace = self.config.retrace_lambda * (pi_a / mu_a.clamp_min(_MIN_MU)).clamp(max=1.0)
            q_a = q[:n].gather(1, t["action"][:, None]).squeeze(1)
            padded = [self._pad(x, t) for x in (t["reward"], q_a, v_all[:n], trace)]
            valid = self._pad(torch.ones_like(trace, dtype=torch.bool), t)
            q_ret = retrace_targets(*padded, valid, boot, gamma)[t["seg_id"], t["pos"]]
        return _Evaluated(dist.logits[:n], value[:n], q[:n], v_all[:n], q_ret)

    @staticmethod
    def _pad(x: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
        """Lay flat per-step values out as [S, T], each segment left-aligned in its row."""
        out = x.new_zeros((len(t["length"]), int(t["length"].max())))
        out[t["seg_id"], t["pos"]] = x
        return out

    def _learn(self, segs: Segments, params: StepParams) -> dict[str, float]:
        """Take one gradient step on `segs`; return its statistics."""
        cfg, t = self.config, self._tensors(segs)
        ev = self._evaluate(t, params.gamma)
        phi = ev.phi.detach().requires_grad_()
        gain, entropy, rho = policy_gain(
            phi,
            t["mask"],
            t["action"],
            t["mu"],
            ev.q.detach(),
            ev.q_ret,
            c=cfg.truncation,
            ent_coef=params.ent_coef,
        )
        (g,) = torch.autograd.grad(gain.sum(), phi)
        scale = torch.zeros_like(rho)
        if cfg.trust_region:
            with torch.no_grad():
                avg_dist, _ = self.average(t["obs"], t["member"], t["mask"])
            g, scale = trust_region_projection(
                g, phi.detach().softmax(-1) - avg_dist.probs, cfg.delta
            )
        n = len(rho)
        q_a = ev.q.gather(1, t["action"][:, None]).squeeze(1)
        q_loss = 0.5 * ((ev.q_ret - q_a) ** 2).mean()
        v_loss = 0.5 * ((ev.value - ev.v) ** 2).mean()
        loss = -(ev.phi * g.detach()).sum() / n + cfg.q_coef * q_loss + cfg.vf_coef * v_loss
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self._polyak()
        ent = entropy.mean()
        return {
            "policy_loss": -(gain.detach().mean() - params.ent_coef * ent).item(),
            "q_loss": q_loss.item(),
            "value_loss": v_loss.item(),
            "entropy": ent.item(),
            "mean_rho": rho.mean().item(),
            "truncated_fraction": (rho > cfg.truncation).float().mean().item(),
            "trust_region_scale": scale.mean().item(),
        }

    @torch.no_grad()
    def _polyak(self) -> None:
        """theta_avg <- alpha theta_avg + (1 - alpha) theta."""
        alpha = self.config.polyak
        for avg, cur in zip(self.average.parameters(), self.policy.parameters(), strict=True):
            avg.mul_(alpha).add_(cur, alpha=1.0 - alpha)

    def state_dict(self) -> dict[str, Any]:
        """Return weights, average weights, optimizer state, replay buffer, counters, RNG."""
        return {
            "policy": self.policy.state_dict(),
            "average": self.average.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "replay": self.buffer.state_dict(),
            "updates": self.updates,
            "version": self.version,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by `state_dict`."""
        self.policy.load_state_dict(state["policy"])
        self.average.load_state_dict(state["average"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["replay"])
        self.updates = int(state["updates"])
        self.version = int(state["version"])
        self._rng.bit_generator.state = state["rng"]
