"""Proximal Policy Optimization (Schulman et al. 2017, arXiv:1707.06347)."""

from __future__ import annotations

import copy
import time
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import nn

from agents.batch import Batch
from agents.learner import Settings, StepParams, set_lr
from agents.maths import explained_variance
from agents.policy import ActorCritic


class PPOSettings(Settings):
    """PPO settings (`learner.ppo`); defaults follow CleanRL's ppo.py."""

    default_lr: ClassVar[float] = 2.5e-4
    default_ent_coef: ClassVar[float] = 0.01

    epochs: int = Field(4, ge=1)
    """Passes over each batch."""
    minibatch_size: int = Field(1024, ge=1)
    """Agent-steps per gradient step."""
    clip: float = Field(0.2, gt=0)
    """Surrogate clipping range epsilon."""
    gae_lambda: float = Field(0.95, ge=0, le=1)
    """GAE lambda."""
    vf_coef: float = Field(0.5, ge=0)
    """Weight of the value loss."""
    max_grad_norm: float = Field(0.5, gt=0)
    """Global gradient-norm clip."""
    target_kl: float | None = Field(0.03, gt=0)
    """Stop the epochs early once the approximate KL exceeds this (None: never)."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    clip_vloss: bool = True
    """Clip the value loss like the surrogate."""
    magnet_coef: float = Field(0.0, ge=0)
    """Weight of KL(policy || magnet) in the loss, the magnet a frozen copy of the policy
    taken every `magnet_every` updates (0: off). Magnetic mirror descent with a moving
    magnet (Sokota et al. 2023; R-NaD's regularisation, Perolat et al. 2022): in a
    two-player zero-sum game the policy is pulled towards a fixed point of the
    regularised game, and each new magnet moves that point towards an equilibrium,
    where the entropy bonus alone settles on a softened one."""
    magnet_every: int = Field(100, ge=1)
    """Updates between two magnets (with `magnet_coef`)."""
    magnet_beta: float | None = Field(None, gt=0, le=1)
    """MMD's moving magnet (Sokota et al. 2023): before every update the magnet's weights
    move this far towards the policy's (Polyak), a parameter-space stand-in for
    `rho <- rho^(1-beta) * pi^beta`; `magnet_every` is then unused (None: the magnet is
    replaced every `magnet_every` updates)."""


class PPO:
    """Clipped-surrogate PPO with GAE, value clipping, entropy bonus and KL early stop."""

    def __init__(
        self,
        policy: ActorCritic,
        config: PPOSettings | None = None,
        *,
        device: torch.device,
        seed: int = 0,
    ) -> None:
        self.policy = policy.to(device)
        self.config, self.device = config or PPOSettings(), device
        # fused: one kernel for all parameters (about 10% of a CPU gradient step)
        self.optimizer = torch.optim.Adam(
            self.policy.parameters(), lr=PPOSettings.default_lr, eps=1e-5, fused=True
        )
        self.updates = 0
        self._rng = np.random.default_rng(seed)
        self.magnet: ActorCritic | None = None
        """The frozen policy the loss pulls towards (`magnet_coef`; None: off)."""
        if self.config.magnet_coef > 0:
            self.magnet = copy.deepcopy(self.policy).requires_grad_(False)

    def update(self, batch: Batch, params: StepParams) -> dict[str, float]:
        """Run the PPO epochs on one batch and return the mean losses.

        A recurrent policy learns from sequences of `policy.chunk_length` steps of one
        stream (`Batch.chunks`), each unrolled from the state stored when it was played;
        minibatches are whole sequences and padding rows count in no loss. A feed-forward
        policy's sequences are single rows.
        """
        cfg, dev = self.config, self.device
        set_lr(self.optimizer, params.lr)
        if self.magnet is not None and cfg.magnet_beta is not None:
            with torch.no_grad():  # MMD: the magnet moves towards the policy every update
                for rho, pi in zip(self.magnet.parameters(), self.policy.parameters(), strict=True):
                    rho.lerp_(pi, cfg.magnet_beta)
        elif self.magnet is not None and self.updates % cfg.magnet_every == 0:
            self.magnet.load_state_dict(self.policy.state_dict())  # the policy as it is now
        gae_start = time.perf_counter()
        adv, ret = batch.gae(gamma=params.gamma, lam=cfg.gae_lambda)
        gae_seconds = time.perf_counter() - gae_start
        n = len(batch)
        steps = self.policy.chunk_length
        t = self._tensors(batch, adv, ret)
        stats: dict[str, list[float]] = {k: [] for k in ("pg", "v", "ent", "kl", "clip", "mkl")}
        stopped_early = 0.0
        rows_used = 0
        # Minibatches of exactly `mb` sequences: those left over in an epoch (fewer than
        # mb, a different set each epoch) wait for the next one. One shape keeps the
        # convolution kernels compiled once (oneDNN builds one per batch shape).
        chunks = len(t["rows"])
        mb = max(1, min(cfg.minibatch_size // steps, chunks))
        per_epoch = chunks // mb
        for _epoch in range(cfg.epochs):
            order = self._rng.permutation(chunks)
            for start in range(0, per_epoch * mb, mb):
                picked = torch.as_tensor(order[start : start + mb], device=dev)
                loss, used, parts = self._loss(t, picked, params.ent_coef)
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                rows_used += used
                for key, val in parts.items():
                    stats[key].append(val)
            if cfg.target_kl is not None and np.mean(stats["kl"][-per_epoch:]) > cfg.target_kl:
                stopped_early = 1.0
                break
        self.updates += 1
        explained = explained_variance(ret, batch.value)
        return {
            "losses/policy_loss": float(np.mean(stats["pg"])),
            "losses/value_loss": float(np.mean(stats["v"])),
            "losses/entropy": float(np.mean(stats["ent"])),
            "losses/approx_kl": float(np.mean(stats["kl"])),
            "losses/clipfrac": float(np.mean(stats["clip"])),
            "losses/explained_variance": explained,
            "losses/early_stop": stopped_early,
            "losses/sample_reuse": rows_used / n,
            "perf/gae_seconds": gae_seconds,
        } | ({"losses/magnet_kl": float(np.mean(stats["mkl"]))} if self.magnet is not None else {})

    def _tensors(self, batch: Batch, adv: np.ndarray, ret: np.ndarray) -> dict[str, torch.Tensor]:
        """The batch's columns the loss reads, on the learner's device: each sequence's
        rows (`rows`, `real`) and the state it starts from."""
        rows, real = batch.chunks(self.policy.chunk_length)
        t = {
            "obs": batch.obs,
            "member": batch.member,
            "action": batch.action,
            "old_logp": batch.logp,
            "old_value": batch.value,
            "adv": adv,
            "ret": ret,
            "state": batch.state[rows[:, 0]],
            "rows": rows,
            "real": real,
        }
        if self.policy.spaces.discrete:
            t["mask"] = batch.mask
        return {k: torch.as_tensor(v, device=self.device) for k, v in t.items()}

    def _loss(
        self, t: dict[str, torch.Tensor], picked: torch.Tensor, ent_coef: float
    ) -> tuple[torch.Tensor, int, dict[str, float]]:
        """Return the PPO loss of the sequences `picked`, the real rows it counts and its
        parts (clipped surrogate, value loss, entropy, approximate KL, clip fraction)."""
        cfg, steps = self.config, self.policy.chunk_length
        idx = t["rows"][picked].reshape(-1)
        dist, value = _forward(self.policy, t, picked)
        logp = ActorCritic.log_prob(dist, t["action"][idx])
        ent = ActorCritic.entropy(dist)
        if steps > 1:  # leave the padding rows out
            keep = t["real"][picked].reshape(-1)
            idx, logp, value, ent = idx[keep], logp[keep], value[keep], ent[keep]
        log_ratio = logp - t["old_logp"][idx]
        ratio = log_ratio.exp()
        with torch.no_grad():
            approx_kl = ((ratio - 1) - log_ratio).mean().item()
            clipfrac = ((ratio - 1.0).abs() > cfg.clip).float().mean().item()
        a = t["adv"][idx]
        if cfg.norm_adv and len(idx) > 1:
            a = (a - a.mean()) / (a.std() + 1e-8)
        pg_loss = torch.max(-a * ratio, -a * ratio.clamp(1 - cfg.clip, 1 + cfg.clip)).mean()
        ret, old_value = t["ret"][idx], t["old_value"][idx]
        v_loss = (value - ret) ** 2
        if cfg.clip_vloss:
            v_clipped = old_value + (value - old_value).clamp(-cfg.clip, cfg.clip)
            v_loss = torch.max(v_loss, (v_clipped - ret) ** 2)
        v_loss = 0.5 * v_loss.mean()
        entropy = ent.mean()
        loss = pg_loss - ent_coef * entropy + cfg.vf_coef * v_loss
        parts = {
            "pg": pg_loss.item(),
            "v": v_loss.item(),
            "ent": entropy.item(),
            "kl": approx_kl,
            "clip": clipfrac,
        }
        if self.magnet is not None:
            magnet_kl = self._magnet_kl(t, picked, dist)
            loss = loss + cfg.magnet_coef * magnet_kl
            parts["mkl"] = magnet_kl.item()
        return loss, len(idx), parts

    def _magnet_kl(
        self, t: dict[str, torch.Tensor], picked: torch.Tensor, dist: Any
    ) -> torch.Tensor:
        """Mean KL(policy || magnet) over the real rows of the sequences `picked`."""
        assert self.magnet is not None
        with torch.no_grad():
            magnet, _ = _forward(self.magnet, t, picked)
        kl = ActorCritic.kl(dist, magnet)
        if self.policy.chunk_length > 1:
            kl = kl[t["real"][picked].reshape(-1)]
        return kl.mean()

    def state_dict(self) -> dict[str, Any]:
        """Return weights, optimizer state, update count and RNG state."""
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
            "rng": self._rng.bit_generator.state,
        } | ({"magnet": self.magnet.state_dict()} if self.magnet is not None else {})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by `state_dict`."""
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
        self._rng.bit_generator.state = state["rng"]
        if self.magnet is not None and "magnet" in state:
            self.magnet.load_state_dict(state["magnet"])


def _forward(net: ActorCritic, t: dict[str, torch.Tensor], picked: torch.Tensor) -> Any:
    """`net`'s distribution and value over the rows of the sequences `picked`, each
    sequence unrolled from its stored state."""
    idx = t["rows"][picked].reshape(-1)
    mask = t.get("mask")
    return net(
        t["obs"][idx],
        t["member"][idx],
        None if mask is None else mask[idx],
        t["state"][picked],
        net.chunk_length,
    )
