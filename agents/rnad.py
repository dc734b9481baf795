"""Regularised Nash Dynamics (R-NaD; Perolat et al. 2022, "Mastering the game of Stratego
with model-free multiagent reinforcement learning", arXiv:2206.15378).

R-NaD plays a sequence of regularised games. In each, every reward is transformed by the
log-ratio of the acting policy to a regularisation policy `pi_reg`:

    r_i  <-  r_i - eta * log(pi(a|s) / pi_reg(a|s))   for player i's own actions
    r_i  <-  r_i + eta * log(pi(a|s) / pi_reg(a|s))   for the opponent's actions

The regularised game has a unique fixed point that the learning dynamics reach in the
last iterate; every `phase_steps` gradient steps `pi_reg` moves to the Polyak-averaged
(target) network, and the sequence of fixed points approaches a Nash equilibrium of the
two-player zero-sum game. Within a phase the regularisation interpolates between the last
two regularisation policies, `alpha = min(1, 2 * step / phase_steps)`, as OpenSpiel's
rnad.py does. The averaged network is what plays outside training: `serving_policy()`
hands it to snapshots and scoring, while the rollout workers act with the online network
(`policy`).

How this batch seam carries the opponent's term. A `Batch` holds the learner's own
agent-steps, stream by stream, with the `episode` and `team` of each row but no order
across streams. In self-play both seats of an episode are the same learner, so the
opponent's rows of the episode are in the batch (when neither stream was cut by a
fragment boundary): their summed `+eta * log-ratio` is added to the reward of the own
stream's final (terminal) row. Terms the opponent earned before one of the player's
decisions are then part of that decision's return too; they depend only on what happened
before it, so they change no advantage in expectation (a baseline) and the value learns
them. Rows of episodes against a frozen opponent (a snapshot or bot) get no opponent term:
that opponent is not in the regularised game. R-NaD is meant for pure self-play
(`league.p_latest: 1.0`).

Value targets are V-trace (Espeholt et al. 2018, lambda 1, rho = c = 1) over the
transformed rewards with the target network's values, as in rnad.py; on policy (ratios
1) they equal GAE(lambda=1) returns. The policy update is NeuRD with R-NaD's logit
threshold and advantage clip (`policy_loss: neurd`), from an estimate of every legal
action's regularised Q (the taken action importance-weighted by 1 / mu), or PPO's clipped
surrogate on the taken action's regularised advantage (`policy_loss: ppo`).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from agents.batch import Batch
from agents.learner import Settings, StepParams, set_lr
from agents.maths import explained_variance
from agents.policy import ActorCritic


class RNaDSettings(Settings):
    """R-NaD settings (`learner.rnad`): rnad.py's values where they carry over (eta, the
    NeuRD threshold and clip); the phase and the Polyak step are shorter, for runs of
    thousands of gradient steps, not millions (pilots: docs/league.md)."""

    default_lr: ClassVar[float] = 3e-4
    default_ent_coef: ClassVar[float] = 0.0

    eta: float = Field(0.2, ge=0)
    """Weight of the log-ratio reward transform (rnad.py: 0.2)."""
    phase_steps: int = Field(1000, ge=1)
    """Gradient steps per regularised game: then `pi_reg` becomes the target network."""
    target_polyak: float = Field(0.01, gt=0, le=1)
    """Step of the Polyak average target <- (1 - tau) target + tau online, after every
    gradient step (rnad.py: 0.001 with far more steps)."""
    policy_loss: Literal["neurd", "ppo"] = "neurd"
    """NeuRD over every legal action, or PPO's clipped surrogate on the taken action."""
    neurd_threshold: float = Field(2.0, gt=0)
    """NeuRD pushes a centred logit no further than this either way (rnad.py: 2)."""
    neurd_clip: float = Field(10_000.0, gt=0)
    """Clip of the NeuRD advantages (rnad.py: 10000)."""
    clip: float = Field(0.2, gt=0)
    """PPO's surrogate clipping range (with `policy_loss: ppo`)."""
    epochs: int = Field(1, ge=1)
    """Passes over each batch."""
    minibatch_size: int = Field(512, ge=1)
    """Agent-steps per gradient step."""
    vf_coef: float = Field(1.0, ge=0)
    """Weight of the value loss."""
    max_grad_norm: float = Field(10.0, gt=0)
    """Global gradient-norm clip."""


class RNaD:
    """R-NaD: reward transform, V-trace targets, NeuRD (or PPO) on the online network; a
    Polyak-averaged target network that serves; the last two regularisation networks."""

    def __init__(
        self,
        policy: ActorCritic,
        config: RNaDSettings | None = None,
        *,
        device: torch.device,
        seed: int = 0,
    ) -> None:
        self.policy = policy.to(device)
        self.config, self.device = config or RNaDSettings(), device
        # Adam with b1 = 0, as rnad.py (its momentum would lag the moving fixed point).
        self.optimizer = torch.optim.Adam(
            self.policy.parameters(), lr=RNaDSettings.default_lr, betas=(0.0, 0.999)
        )
        self.target = copy.deepcopy(self.policy).requires_grad_(False)
        """The Polyak average of the online network: what snapshots hold and what is scored."""
        self.reg = copy.deepcopy(self.policy).requires_grad_(False)
        """The regularisation policy of the current phase."""
        self.prev_reg = copy.deepcopy(self.policy).requires_grad_(False)
        """The one of the phase before (the transform interpolates from it to `reg`)."""
        self.steps = 0
        """Gradient steps taken (the phase clock)."""
        self.updates = 0
        self._rng = np.random.default_rng(seed)

    def serving_policy(self) -> ActorCritic:
        """The network that plays outside training: the averaged (target) network."""
        return self.target

    @property
    def alpha(self) -> float:
        """Weight of `reg` against `prev_reg` at this point of the phase."""
        phase = self.config.phase_steps
        return min(1.0, 2.0 * (self.steps % phase) / phase)

    def update(self, batch: Batch, params: StepParams) -> dict[str, float]:
        """Transform the rewards, compute V-trace targets and per-action advantages with
        the networks as they are, then take the gradient steps (epochs of minibatches),
        moving the target network after each and the regularisation at phase ends."""
        cfg, dev = self.config, self.device
        set_lr(self.optimizer, params.lr)
        t = self._targets(batch, params.gamma)
        n = len(batch)
        mb = max(1, min(cfg.minibatch_size, n))
        stats: dict[str, list[float]] = {k: [] for k in ("pg", "v", "ent", "kl")}
        for _epoch in range(cfg.epochs):
            order = self._rng.permutation(n)
            for start in range(0, (n // mb) * mb, mb):
                idx = torch.as_tensor(order[start : start + mb], device=dev)
                loss, parts = self._loss(t, idx, params.ent_coef)
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                self._step_done()
                for key, val in parts.items():
                    stats[key].append(val)
        self.updates += 1
        ret = t["v_target"].cpu().numpy()
        return {
            "losses/policy_loss": float(np.mean(stats["pg"])),
            "losses/value_loss": float(np.mean(stats["v"])),
            "losses/entropy": float(np.mean(stats["ent"])),
            "losses/reg_kl": float(np.mean(stats["kl"])),
            "losses/explained_variance": explained_variance(ret, t["value"].cpu().numpy()),
            "losses/alpha": self.alpha,
            "losses/phase": float(self.steps // cfg.phase_steps),
        }

    def _step_done(self) -> None:
        """After a gradient step: Polyak-average the target; at a phase's end, the target
        becomes the regularisation policy and the old one the previous."""
        tau = self.config.target_polyak
        with torch.no_grad():
            for avg, new in zip(self.target.parameters(), self.policy.parameters(), strict=True):
                avg.lerp_(new, tau)
        self.steps += 1
        if self.steps % self.config.phase_steps == 0:
            self.prev_reg.load_state_dict(self.reg.state_dict())
            self.reg.load_state_dict(self.target.state_dict())

    @torch.no_grad()
    def _targets(self, batch: Batch, gamma: float) -> dict[str, torch.Tensor]:
        """The batch's tensors and what the loss needs: V-trace value targets and the
        regularised advantage of every legal action (NeuRD) or of the taken one (PPO)."""
        cfg, dev = self.config, self.device
        obs = torch.as_tensor(batch.obs, device=dev)
        member = torch.as_tensor(batch.member, device=dev)
        mask = torch.as_tensor(batch.mask, device=dev)
        action = torch.as_tensor(batch.action, device=dev).long()
        log_pi = self.policy(obs, member, mask)[0].logits
        value = self.target(obs, member, mask)[1]
        alpha = self.alpha
        log_reg = alpha * self.reg(obs, member, mask)[0].logits
        log_reg = log_reg + (1 - alpha) * self.prev_reg(obs, member, mask)[0].logits
        log_ratio = torch.where(mask, log_pi - log_reg, torch.zeros_like(log_pi))  # [N, A]
        pi = log_pi.exp() * mask
        kl = (pi * log_ratio).sum(-1)  # KL(pi || pi_reg) per row
        taken = log_ratio.gather(1, action[:, None]).squeeze(1).cpu().numpy()
        reward = batch.reward.astype(np.float64) + cfg.eta * opponent_terms(batch, taken)
        rho = np.exp(log_pi.gather(1, action[:, None]).squeeze(1).cpu().numpy() - batch.logp)
        v = value.float().cpu().numpy()
        v_target, q_taken = vtrace(
            reward - cfg.eta * taken, reward, v, batch.done, batch.bootstrap, rho, gamma=gamma
        )
        q_taken_t = torch.as_tensor(q_taken, device=dev, dtype=torch.float32)
        v_t = torch.as_tensor(v, device=dev)
        out = {
            "obs": obs,
            "member": member,
            "mask": mask,
            "action": action,
            "old_logp": torch.as_tensor(batch.logp, device=dev),
            "value": v_t,
            "v_target": torch.as_tensor(v_target, device=dev, dtype=torch.float32),
            "kl": kl,
        }
        # Q(s, .) of the regularised game: -eta log-ratio + the expected rest (v + eta KL),
        # the taken action's rest importance-weighted by 1 / mu(a) around it.
        base = v_t + cfg.eta * kl
        mu = torch.as_tensor(np.exp(batch.logp), device=dev, dtype=torch.float32)
        q = -cfg.eta * log_ratio + base[:, None]
        q = q.scatter_add(1, action[:, None], ((q_taken_t - base) / mu)[:, None])
        adv_all = q - (pi * q).sum(-1, keepdim=True)
        out["adv_all"] = adv_all.clamp(-cfg.neurd_clip, cfg.neurd_clip) * mask
        out["adv"] = -cfg.eta * log_ratio.gather(1, action[:, None]).squeeze(1) + q_taken_t - v_t
        return out

    def _loss(
        self, t: dict[str, torch.Tensor], idx: torch.Tensor, ent_coef: float
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The policy loss (NeuRD or PPO), the value loss and the entropy bonus of rows
        `idx`."""
        cfg = self.config
        mask = t["mask"][idx]
        dist, value = self.policy(t["obs"][idx], t["member"][idx], mask)
        if cfg.policy_loss == "neurd":
            logits = dist.logits
            legal = mask.float()
            centred = logits - (logits * legal).sum(-1, keepdim=True) / legal.sum(-1, keepdim=True)
            pg_loss = -(legal * thresholded(centred, t["adv_all"][idx], cfg.neurd_threshold))
            pg_loss = pg_loss.sum(-1).mean()
        else:
            a = t["adv"][idx]
            if len(a) > 1:
                a = (a - a.mean()) / (a.std() + 1e-8)
            ratio = (ActorCritic.log_prob(dist, t["action"][idx]) - t["old_logp"][idx]).exp()
            clipped = ratio.clamp(1 - cfg.clip, 1 + cfg.clip)
            pg_loss = torch.max(-a * ratio, -a * clipped).mean()
        v_loss = 0.5 * ((value - t["v_target"][idx]) ** 2).mean()
        entropy = ActorCritic.entropy(dist).mean()
        loss = pg_loss + cfg.vf_coef * v_loss - ent_coef * entropy
        parts = {
            "pg": pg_loss.item(),
            "v": v_loss.item(),
            "ent": entropy.item(),
            "kl": t["kl"][idx].mean().item(),
        }
        return loss, parts

    def state_dict(self) -> dict[str, Any]:
        """Every network (online, target, regularisation, previous regularisation), the
        optimizer, the counters and the RNG: a resumed run continues exactly."""
        return {
            "policy": self.policy.state_dict(),
            "target": self.target.state_dict(),
            "reg": self.reg.state_dict(),
            "prev_reg": self.prev_reg.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "steps": self.steps,
            "updates": self.updates,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by `state_dict`."""
        self.policy.load_state_dict(state["policy"])
        self.target.load_state_dict(state["target"])
        self.reg.load_state_dict(state["reg"])
        self.prev_reg.load_state_dict(state["prev_reg"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps, self.updates = int(state["steps"]), int(state["updates"])
        self._rng.bit_generator.state = state["rng"]


def thresholded(logits: torch.Tensor, force: torch.Tensor, threshold: float) -> torch.Tensor:
    """NeuRD's surrogate `logits * force` (force held constant), with R-NaD's threshold: a
    logit already beyond +threshold is pushed up no further, one below -threshold no
    further down."""
    can_increase = (logits < threshold).float()
    can_decrease = (logits > -threshold).float()
    force = can_increase * force.clamp(min=0) + can_decrease * force.clamp(max=0)
    return logits * force.detach()


def opponent_terms(batch: Batch, own_log_ratio: np.ndarray) -> np.ndarray:
    """Each row's share of the opponent's log-ratios [N]: in an episode whose rows of
    several teams are all in this batch, the sum of the other teams' `log(pi / pi_reg)`
    of their actions, on the last row of each team's stream when that row ends the
    episode (done, not truncated); 0 elsewhere."""
    out = np.zeros(len(batch))
    if len(batch) == 0:
        return out
    _, ep = np.unique(batch.episode, return_inverse=True)
    _, ep_team = np.unique(np.stack([batch.episode, batch.team]), axis=1, return_inverse=True)
    ep_team = ep_team.reshape(-1)
    per_episode = np.bincount(ep, weights=own_log_ratio)
    per_team = np.bincount(ep_team, weights=own_log_ratio)
    teams = np.bincount(np.unique(np.stack([ep, ep_team]), axis=1)[0])
    last = batch.done & ~batch.truncated & (teams[ep] > 1)
    out[last] = (per_episode[ep] - per_team[ep_team])[last]
    return out


def vtrace(
    own_reward: np.ndarray,
    reward: np.ndarray,
    value: np.ndarray,
    done: np.ndarray,
    bootstrap: np.ndarray,
    rho: np.ndarray,
    *,
    gamma: float,
    clip: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """V-trace targets (lambda 1, rho and c clipped at `clip`) over contiguous streams,
    and the return of each taken action beyond its own regularisation term.

    `own_reward[t]` is the step's full transformed reward (with the actor's own `-eta *
    log-ratio`), `reward[t]` the same without it. Returns (v_target [N], q [N]) where
    q[t] = reward[t] + gamma * v_target[t + 1] (the bootstrap after a stream's last row).
    """
    n = len(reward)
    v_target = np.zeros(n)
    q = np.zeros(n)
    carry = 0.0  # v_target[t + 1] - value[t + 1]
    for t in range(n - 1, -1, -1):
        if done[t]:
            next_target, next_value, carry = bootstrap[t], bootstrap[t], 0.0
        else:
            next_target, next_value = v_target[t + 1], value[t + 1]
        r = min(rho[t], clip)
        carry = r * (own_reward[t] + gamma * next_value - value[t]) + gamma * r * carry
        v_target[t] = value[t] + carry
        q[t] = reward[t] + gamma * next_target
    return v_target, q
