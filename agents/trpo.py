"""Trust Region Policy Optimization (Schulman et al. 2015, arXiv:1502.05477).

As in OpenAI Spinning Up's `trpo` and baselines' `trpo_mpi`: one natural-gradient step
per batch on the importance-sampled surrogate, scaled to a mean-KL radius and checked by
a backtracking line search, then a separate regression of the value function.

Which parameters move where. The network's torso feeds both heads. The natural-gradient
step covers every parameter that shapes the policy: the torso, the actor head and the
Gaussian `log_std` (the Fisher matrix is taken over all of them). The value fit updates
the critic head only, on the torso's features computed once after the policy step. So
the KL(old || new) <= delta that the line search measured still holds after the whole
update: the value fit cannot move the policy behind the trust region's back (a value
fit through the torso would). Where the torso is empty (MLP networks) the critic is a
network of its own anyway; with a CNN the critic reads the features the policy learned.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from pydantic import Field
from torch import nn

from agents.batch import Batch
from agents.learner import Settings, StepParams, set_lr
from agents.maths import explained_variance
from agents.policy import ActorCritic, MultiCategorical


class TRPOSettings(Settings):
    """TRPO settings (`learner.trpo`); defaults follow Spinning Up and baselines."""

    default_lr: ClassVar[float] = 1e-3
    default_ent_coef: ClassVar[float] = 0.0

    delta: float = Field(0.01, gt=0)
    """Trust-region radius: the largest mean KL(old || new) one update may take."""
    cg_iters: int = Field(10, ge=1)
    """Conjugate-gradient iterations for the natural-gradient direction."""
    cg_damping: float = Field(0.1, ge=0)
    """Damping added to the Fisher-vector products (F + damping * I)."""
    backtrack_coef: float = Field(0.8, gt=0, lt=1)
    """Factor the step shrinks by at each backtrack of the line search."""
    backtrack_iters: int = Field(10, ge=0)
    """Shrinks the line search may take after the full step (0: the full step only)."""
    vf_iters: int = Field(5, ge=1)
    """Passes of the value fit over each batch."""
    vf_minibatch_size: int = Field(256, ge=1)
    """Rows per value-fit gradient step."""
    gae_lambda: float = Field(0.95, ge=0, le=1)
    """GAE lambda."""
    norm_adv: bool = True
    """Normalise the advantages over the batch."""
    max_grad_norm: float = Field(0.5, gt=0)
    """Gradient-norm clip of the value fit."""
    max_rows: int = Field(4096, ge=1)
    """Rows per forward pass (larger batches are evaluated in chunks)."""
    fvp_rows: int = Field(1024, ge=1)
    """Rows of the random subsample the Fisher-vector products use when the batch is
    larger (baselines uses every fifth row): the conjugate gradient's cost."""


class _Data(NamedTuple):
    """One batch as tensors on the learner's device, laid out as sequences: the rows of
    sequence k are `k * steps ... (k + 1) * steps - 1` (`Batch.chunks`; a feed-forward
    policy's sequences are single rows)."""

    obs: torch.Tensor
    member: torch.Tensor
    mask: torch.Tensor | None
    action: torch.Tensor
    logp: torch.Tensor
    adv: torch.Tensor
    ret: torch.Tensor
    real: torch.Tensor
    """1.0 for a batch row, 0.0 for a sequence's padding (it counts in no sum)."""
    state: torch.Tensor
    """The recurrent state each sequence starts from [sequences, S]."""
    steps: int
    """Rows per sequence."""

    @property
    def sequences(self) -> int:
        """How many sequences the batch holds."""
        return len(self.state)

    def rows(self, seqs: Seqs) -> Seqs:
        """The rows of the sequences `seqs`."""
        if isinstance(seqs, slice):
            return slice(seqs.start * self.steps, seqs.stop * self.steps)
        offsets = torch.arange(self.steps, device=seqs.device)
        return (seqs[:, None] * self.steps + offsets).reshape(-1)


Seqs = slice | torch.Tensor
"""A set of sequences of a `_Data` (or of its rows): a slice or an index tensor."""


def conjugate_gradient(
    fvp: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    iters: int = 10,
    residual_tol: float = 1e-10,
) -> tuple[torch.Tensor, float]:
    """Solve A x = b for a symmetric positive-definite A given only as `fvp(v) = A v`.

    Runs at most `iters` iterations from x = 0 and stops early once the squared
    residual norm r.r falls below `residual_tol`. Returns x and the final residual
    norm |b - A x| (as the iterations track it).
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = torch.dot(r, r)
    for _ in range(iters):
        if float(rr) < residual_tol:
            break
        ap = fvp(p)
        alpha = rr / torch.dot(p, ap)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = torch.dot(r, r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, math.sqrt(max(float(rr), 0.0))


def categorical_kl(logp_old: torch.Tensor, logp_new: torch.Tensor) -> torch.Tensor:
    """KL(old || new) of categoricals given as log-probabilities [..., A]. Shape [...].

    Actions the old distribution gives probability 0 (masked ones) contribute exactly 0,
    also when their log-probabilities are -inf on either side.
    """
    p_old = logp_old.exp()
    terms = torch.where(p_old > 0, p_old * (logp_old - logp_new), torch.zeros_like(p_old))
    return terms.sum(-1)


def normal_kl(
    mu_old: torch.Tensor, std_old: torch.Tensor, mu_new: torch.Tensor, std_new: torch.Tensor
) -> torch.Tensor:
    """KL(old || new) of diagonal Gaussians [..., D], summed over the dimensions. Shape [...]."""
    var_old, var_new = std_old.pow(2), std_new.pow(2)
    terms = torch.log(std_new / std_old) + (var_old + (mu_old - mu_new).pow(2)) / (2 * var_new)
    return (terms - 0.5).sum(-1)


def _flat(grads: tuple[torch.Tensor | None, ...], params: list[nn.Parameter]) -> torch.Tensor:
    """Concatenate gradients into one vector (zeros for parameters without one)."""
    parts = [
        torch.zeros_like(p).reshape(-1) if g is None else g.reshape(-1)
        for g, p in zip(grads, params, strict=True)
    ]
    return torch.cat(parts)


def _set_flat(params: list[nn.Parameter], flat: torch.Tensor) -> None:
    """Copy a flat vector into the parameters, in place."""
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(flat[offset : offset + n].view_as(p))
            offset += n


class TRPO:
    """TRPO: natural-gradient surrogate step in a mean-KL trust region, GAE, value fit.

    Each `update`: advantages by GAE (normalised over the batch); the gradient g of
    L = mean(ratio * A) + ent_coef * mean(entropy), ratio against the behaviour
    log-probabilities; conjugate gradient for x ~ H^-1 g with H the Hessian of the mean
    KL(old || new) (the Fisher matrix) plus damping; the step sqrt(2 delta / x.Hx) x;
    a backtracking line search that accepts the first fraction of the step that improves
    L and keeps the measured mean KL within delta, else restores the parameters. "old"
    is the policy at the start of the update; a zero gradient (equal advantages, no
    entropy bonus) takes no step. Then the critic head is fitted to the GAE
    returns by Adam (see the module docstring for which parameters each part moves).

    Batches larger than `max_rows` are evaluated in chunks, and the Fisher-vector
    products use a random subsample of `fvp_rows` rows (baselines subsamples too).
    The second-order maths runs in float32 whatever the policy's `torso_dtype`. A
    recurrent policy is evaluated on sequences of `policy.chunk_length` steps (each
    from its stored state); chunks and subsamples are then whole sequences.
    """

    def __init__(
        self,
        policy: ActorCritic,
        settings: TRPOSettings | None = None,
        *,
        device: torch.device,
        seed: int = 0,
    ) -> None:
        self.policy = policy.to(device)
        self.config, self.device = settings or TRPOSettings(), device
        value_ids = {id(p) for p in policy.critic.parameters()}
        if policy.q is not None:  # not TRPO's; it stays where it is
            value_ids |= {id(p) for p in policy.q.parameters()}
        self.actor_params = [p for p in policy.parameters() if id(p) not in value_ids]
        """The parameters the natural-gradient step moves (all but the critic head)."""
        self.value_optimizer = torch.optim.Adam(
            policy.critic.parameters(), lr=TRPOSettings.default_lr, eps=1e-5
        )
        self.updates = 0
        self._rng = np.random.default_rng(seed)

    def update(self, batch: Batch, params: StepParams) -> dict[str, float]:
        """Take one trust-region policy step and fit the value function; return metrics."""
        gae_start = time.perf_counter()
        adv, ret = batch.gae(gamma=params.gamma, lam=self.config.gae_lambda)
        gae_seconds = time.perf_counter() - gae_start
        data = self._tensors(batch, adv, ret)
        torso_dtype = self.policy.torso_dtype
        self.policy.torso_dtype = torch.float32
        try:
            stats = self._policy_step(data, params.ent_coef)
            stats["value_loss"] = self._fit_value(data, params.lr)
        finally:
            self.policy.torso_dtype = torso_dtype
        self.updates += 1
        stats["explained_variance"] = explained_variance(ret, batch.value)
        stats["sample_reuse"] = 1.0  # one policy step over the whole batch
        metrics = {f"losses/{key}": float(value) for key, value in stats.items()}
        return metrics | {"perf/gae_seconds": gae_seconds}

    def _tensors(self, batch: Batch, adv: np.ndarray, ret: np.ndarray) -> _Data:
        dev = self.device
        adv_t = torch.as_tensor(adv, dtype=torch.float32, device=dev)
        if self.config.norm_adv and len(adv_t) > 1:
            adv_t = (adv_t - adv_t.mean()) / (adv_t.std() + 1e-8)
        steps = self.policy.chunk_length
        rows, real = batch.chunks(steps)
        flat = torch.as_tensor(rows.reshape(-1), device=dev)

        def column(values: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
            return torch.as_tensor(values, dtype=dtype, device=dev)[flat]

        return _Data(
            obs=column(batch.obs),
            member=column(batch.member),
            mask=column(batch.mask) if self.policy.spaces.discrete else None,
            action=column(batch.action),
            logp=column(batch.logp, torch.float32),
            adv=adv_t[flat],
            ret=column(ret, torch.float32),
            real=torch.as_tensor(real.reshape(-1), dtype=torch.float32, device=dev),
            state=torch.as_tensor(batch.state[rows[:, 0]], device=dev),
            steps=steps,
        )

    def _chunks(self, data: _Data) -> Iterator[slice]:
        """Slices of whole sequences, about `max_rows` rows each."""
        step, n = max(1, self.config.max_rows // data.steps), data.sequences
        return (slice(start, min(start + step, n)) for start in range(0, n, step))

    def _dist(self, data: _Data, seqs: Seqs) -> Any:
        rows = data.rows(seqs)
        mask = None if data.mask is None else data.mask[rows]
        dist, _value = self.policy(
            data.obs[rows], data.member[rows], mask, data.state[seqs], data.steps
        )
        return dist

    def _objective(
        self, dist: Any, data: _Data, rows: Seqs, ent_coef: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum over the (real) rows of ratio * A + ent_coef * entropy, and of the entropy."""
        logp = ActorCritic.log_prob(dist, data.action[rows])
        ratio = torch.exp(logp - data.logp[rows])
        real = data.real[rows]
        entropy = (ActorCritic.entropy(dist) * real).sum()
        return (ratio * data.adv[rows] * real).sum() + ent_coef * entropy, entropy

    @staticmethod
    def _dist_params(dist: Any) -> torch.Tensor:
        """The distribution as one tensor [B, k]: log-probabilities, or mean and std."""
        if isinstance(dist, MultiCategorical):
            return torch.cat([d.logits for d in dist.dists], dim=-1)
        if isinstance(dist, torch.distributions.Categorical):
            return dist.logits  # normalised: log-probabilities
        return torch.cat([dist.loc, dist.scale], dim=-1)

    def _kl(self, old: torch.Tensor, dist: Any) -> torch.Tensor:
        """KL(old || dist) per row [B], `old` as `_dist_params` gives it."""
        if isinstance(dist, MultiCategorical):
            parts = torch.split(old, [d.logits.shape[-1] for d in dist.dists], dim=-1)
            kls = [categorical_kl(o, d.logits) for o, d in zip(parts, dist.dists, strict=True)]
            return torch.stack(kls, dim=-1).sum(-1)
        if isinstance(dist, torch.distributions.Categorical):
            return categorical_kl(old, dist.logits)
        mu_old, std_old = old.chunk(2, dim=-1)
        return normal_kl(mu_old, std_old, dist.loc, dist.scale)

    def _surrogate_gradient(
        self, data: _Data, ent_coef: float
    ) -> tuple[torch.Tensor, float, float, torch.Tensor]:
        """Return the gradient of L, L and the mean entropy, and the old distribution."""
        n = float(data.real.sum())
        grad = torch.zeros(sum(p.numel() for p in self.actor_params), device=self.device)
        objective = torch.zeros((), device=self.device)
        entropy = torch.zeros((), device=self.device)
        olds = []
        for seqs in self._chunks(data):
            dist = self._dist(data, seqs)
            obj, ent = self._objective(dist, data, data.rows(seqs), ent_coef)
            grads = torch.autograd.grad(obj / n, self.actor_params, allow_unused=True)
            grad += _flat(grads, self.actor_params)
            objective += obj.detach()
            entropy += ent.detach()
            olds.append(self._dist_params(dist).detach())
        return grad, float(objective) / n, float(entropy) / n, torch.cat(olds)

    def _fisher_vector_product(
        self, data: _Data, old: torch.Tensor
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Return v -> (H + damping I) v, H the Hessian of the mean KL at the old policy."""
        n = data.sequences
        wanted = max(1, self.config.fvp_rows // data.steps)  # whole sequences
        seqs: Seqs = slice(0, n)
        if n > wanted:
            picked = np.sort(self._rng.choice(n, size=wanted, replace=False))
            seqs = torch.as_tensor(picked, device=self.device)
        rows = data.rows(seqs)
        real = data.real[rows]
        kl = (self._kl(old[rows], self._dist(data, seqs)) * real).sum() / real.sum()
        params = self.actor_params
        grad_kl = _flat(
            torch.autograd.grad(kl, params, create_graph=True, allow_unused=True), params
        )
        damping = self.config.cg_damping

        def fvp(v: torch.Tensor) -> torch.Tensor:
            hv = torch.autograd.grad(grad_kl @ v, params, retain_graph=True, allow_unused=True)
            return _flat(hv, params) + damping * v

        return fvp

    @torch.no_grad()
    def _evaluate(
        self, data: _Data, old: torch.Tensor, ent_coef: float
    ) -> tuple[float, float, float]:
        """Return L, the mean KL(old || current) and the mean entropy."""
        n = data.real.sum()
        totals = torch.zeros(3, device=self.device)
        for seqs in self._chunks(data):
            dist, rows = self._dist(data, seqs), data.rows(seqs)
            obj, ent = self._objective(dist, data, rows, ent_coef)
            kl = (self._kl(old[rows], dist) * data.real[rows]).sum()
            totals += torch.stack([obj, kl, ent])
        objective, kl, entropy = (totals / n).tolist()
        return objective, kl, entropy

    def _policy_step(self, data: _Data, ent_coef: float) -> dict[str, float]:
        """Natural-gradient step with line search; returns the policy metrics."""
        cfg, params = self.config, self.actor_params
        start = torch.cat([p.detach().reshape(-1) for p in params])
        grad, objective, entropy, old = self._surrogate_gradient(data, ent_coef)
        fvp = self._fisher_vector_product(data, old)
        x, residual = conjugate_gradient(fvp, grad, cfg.cg_iters)
        shs = float(torch.dot(x, fvp(x)))
        stats = {
            "kl": 0.0,
            "surrogate_improvement": 0.0,
            "backtracks": 0.0,
            "line_search_failed": 0.0,
            "cg_residual": residual,
            "entropy": entropy,
        }
        if not math.isfinite(shs):  # a NaN or inf gradient: refuse the step
            stats["line_search_failed"] = 1.0
            return stats
        if shs <= 0:  # a zero gradient (e.g. equal advantages): nothing to step along
            return stats
        step = math.sqrt(2 * cfg.delta / shs) * x
        for shrinks in range(cfg.backtrack_iters + 1):
            _set_flat(params, start + cfg.backtrack_coef**shrinks * step)
            new_objective, kl, new_entropy = self._evaluate(data, old, ent_coef)
            improvement = new_objective - objective
            if math.isfinite(new_objective) and kl <= cfg.delta and improvement > 0:
                stats.update(
                    kl=kl,
                    surrogate_improvement=improvement,
                    backtracks=float(shrinks),
                    line_search_failed=0.0,
                    entropy=new_entropy,
                )
                return stats
        _set_flat(params, start)  # line search failed: keep the old policy
        stats.update(backtracks=float(cfg.backtrack_iters), line_search_failed=1.0)
        return stats

    def _fit_value(self, data: _Data, lr: float) -> float:
        """Regress the critic head on the returns; return the mean value loss."""
        cfg, dev = self.config, self.device
        set_lr(self.value_optimizer, lr)
        with torch.no_grad():  # the torso is the policy's: its features are fixed here
            parts = []
            for seqs in self._chunks(data):
                rows = data.rows(seqs)
                x, _ = self.policy.core(
                    data.obs[rows], data.member[rows], data.state[seqs], data.steps
                )
                parts.append(x)
        real = data.real.bool()
        features, ret = torch.cat(parts)[real], data.ret[real]
        n = len(ret)
        value_from = self.policy.value_from  # the critic head (both halves if mirrored)
        # Minibatches of exactly `mb` rows, as PPO's; leftover rows wait for the next pass.
        mb = min(cfg.vf_minibatch_size, n)
        losses = []
        for _pass in range(cfg.vf_iters):
            order = torch.as_tensor(self._rng.permutation(n), device=dev)
            for start in range(0, (n // mb) * mb, mb):
                idx = order[start : start + mb]
                value = value_from(features[idx])
                loss = 0.5 * (value - ret[idx]).pow(2).mean()
                self.value_optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.critic.parameters(), cfg.max_grad_norm)
                self.value_optimizer.step()
                losses.append(loss.detach())
        return float(torch.stack(losses).mean())

    def state_dict(self) -> dict[str, Any]:
        """Return weights, value-optimizer state, update count and RNG state."""
        return {
            "policy": self.policy.state_dict(),
            "value_optimizer": self.value_optimizer.state_dict(),
            "updates": self.updates,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by `state_dict`."""
        self.policy.load_state_dict(state["policy"])
        self.value_optimizer.load_state_dict(state["value_optimizer"])
        self.updates = int(state["updates"])
        self._rng.bit_generator.state = state["rng"]
