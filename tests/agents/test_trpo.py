from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch
from torch.distributions import kl_divergence

from agents import ActorCritic, Batch, StepParams
from agents.policy import MultiCategorical
from agents.trpo import TRPO, TRPOSettings, categorical_kl, conjugate_gradient, normal_kl
from envs import Spaces
from tests.fixtures.batches import BOX, DISCRETE, MULTI, acted_batch

CPU = torch.device("cpu")
GRID = Spaces(obs_shape=(6, 7, 2), obs_dtype="int8", image=False, has_mask=True, n_actions=7)


def _random_masks(n: int, a: int, rng: np.random.Generator) -> np.ndarray:
    """Masks that forbid one random action in most rows (one action stays legal)."""
    mask = np.ones((n, a), bool)
    rows = rng.random(n) < 0.7
    mask[rows, rng.integers(0, a, rows.sum())] = False
    return mask


def _space_batch(kind: str, net: ActorCritic, n: int, rng: np.random.Generator) -> Batch:
    if kind == "discrete":
        obs = rng.normal(size=(n, 4)).astype(np.float32)
        return acted_batch(net, obs, _random_masks(n, 3, rng), lambda a: (a == 2) * 1.0)
    if kind == "multi":
        obs = rng.normal(size=(n, 4)).astype(np.float32)
        return acted_batch(net, obs, None, lambda a: (a[:, 0] == 2) + 0.5 * (a[:, 1] == 1))
    if kind == "grid":
        obs = rng.integers(0, 2, size=(n, 6, 7, 2)).astype(np.int8)
        return acted_batch(net, obs, _random_masks(n, 7, rng), lambda a: (a == 3) * 1.0)
    obs = rng.normal(size=(n, 3)).astype(np.float32)
    return acted_batch(net, obs, None, lambda a: -((a - 0.5) ** 2).sum(-1))


def _dist(net: ActorCritic, batch: Batch):
    mask = torch.as_tensor(batch.mask) if net.spaces.discrete else None
    with torch.no_grad():
        dist, _ = net(torch.as_tensor(batch.obs), torch.as_tensor(batch.member), mask)
    return dist


def _mean_kl(old, new) -> float:
    """Mean KL(old || new), by torch.distributions (independent of agents/trpo.py)."""
    if isinstance(old, MultiCategorical):
        kl = sum(kl_divergence(p, q) for p, q in zip(old.dists, new.dists, strict=True))
    else:
        kl = kl_divergence(old, new)
        kl = kl.sum(-1) if kl.dim() > 1 else kl
    return float(kl.mean())


def _surrogate(net: ActorCritic, batch: Batch, gamma: float = 0.99) -> float:
    """mean(ratio * normalised GAE advantage), as TRPO's docs define L (no entropy)."""
    adv, _ = batch.gae(gamma=gamma, lam=TRPOSettings().gae_lambda)
    adv = (adv - adv.mean()) / (adv.std(ddof=1) + 1e-8)
    logp = ActorCritic.log_prob(_dist(net, batch), torch.as_tensor(batch.action))
    ratio = torch.exp(logp - torch.as_tensor(batch.logp))
    return float((ratio * torch.as_tensor(adv)).mean())


def _actor_params(net: ActorCritic) -> list[torch.Tensor]:
    critic = {id(p) for p in net.critic.parameters()}
    return [p.detach().clone() for p in net.parameters() if id(p) not in critic]


def test_conjugate_gradient_solves_a_positive_definite_system():
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=gen, dtype=torch.float64)
    x, residual = conjugate_gradient(lambda v: a @ v, b, iters=20)
    torch.testing.assert_close(x, torch.linalg.solve(a, b), atol=1e-8, rtol=1e-8)
    assert residual < 1e-5
    # too few iterations: an approximate solution whose reported residual is the true one
    x2, residual2 = conjugate_gradient(lambda v: a @ v, b, iters=2)
    assert residual2 > 1e-3
    assert residual2 == pytest.approx(float(torch.linalg.norm(b - a @ x2)), rel=1e-6)
    # nothing to solve: zero, at once
    calls = []
    x0, r0 = conjugate_gradient(lambda v: calls.append(v) or a @ v, torch.zeros(6), iters=5)
    assert not calls and r0 == 0.0 and not x0.any()


def test_kl_helpers_match_torch_and_ignore_masked_actions():
    logits = torch.tensor([[0.3, -1e9, 1.0], [2.0, 0.1, -1e9]])
    new_logits = torch.tensor([[-0.2, -1e9, 0.4], [1.0, 0.5, -1e9]])
    old, new = (torch.log_softmax(x, -1) for x in (logits, new_logits))
    expected = kl_divergence(
        torch.distributions.Categorical(logits=logits),
        torch.distributions.Categorical(logits=new_logits),
    )
    torch.testing.assert_close(categorical_kl(old, new), expected)
    # -inf log-probabilities (a masked action on both sides) give 0, not NaN
    inf_old = old.masked_fill(logits < -1e8, float("-inf"))
    inf_new = new.masked_fill(new_logits < -1e8, float("-inf"))
    torch.testing.assert_close(categorical_kl(inf_old, inf_new), expected)
    mu0, s0, mu1, s1 = torch.randn(4, 5, 2).unbind(0)
    s0, s1 = s0.exp(), s1.exp()
    normal = kl_divergence(torch.distributions.Normal(mu0, s0), torch.distributions.Normal(mu1, s1))
    torch.testing.assert_close(normal_kl(mu0, s0, mu1, s1), normal.sum(-1))


@pytest.mark.parametrize("kind", ["discrete", "multi", "box", "grid"])
def test_update_stays_in_the_trust_region_and_improves_the_surrogate(kind):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    spaces = {"discrete": DISCRETE, "multi": MULTI, "box": BOX, "grid": GRID}[kind]
    if kind == "grid":
        net = ActorCritic(spaces, n_members=1, hidden=(32,), kind="cnn", channels=8)
        net.torso_dtype = torch.bfloat16  # as the trainer may set it
    else:
        net = ActorCritic(spaces, n_members=1, hidden=(16,))
    trpo = TRPO(net, device=CPU)
    batch = _space_batch(kind, net, 256, rng)
    net.torso_dtype = torch.float32  # measure the "before" side in float32
    before, surrogate_before = copy.deepcopy(net), _surrogate(net, batch)
    if kind == "grid":
        net.torso_dtype = torch.bfloat16
    metrics = trpo.update(batch, StepParams(gamma=0.99, lr=1e-3))
    assert net.torso_dtype == (torch.bfloat16 if kind == "grid" else torch.float32)
    net.torso_dtype = torch.float32
    assert all(isinstance(v, float) for v in metrics.values())
    assert metrics["losses/line_search_failed"] == 0.0
    # the KL between the policy before and after the whole update (value fit included)
    kl = _mean_kl(_dist(before, batch), _dist(net, batch))
    delta = TRPOSettings().delta
    assert 0.0 < kl <= delta * (1 + 1e-4)
    if metrics["losses/backtracks"] == 0:  # the full step: sized to the KL radius
        assert kl > 0.5 * delta
    assert kl == pytest.approx(metrics["losses/kl"], rel=1e-3, abs=1e-6)
    improvement = _surrogate(net, batch) - surrogate_before
    assert improvement > 0
    assert improvement == pytest.approx(metrics["losses/surrogate_improvement"], rel=1e-3)
    # the natural-gradient step moved the torso (if any) and the actor; the fit, the critic
    for name, module in (("torso", net.torso), ("actor", net.actor), ("critic", net.critic)):
        params = list(module.parameters())
        old = dict(before.named_modules())[name]
        changed = [not torch.equal(p, q) for p, q in zip(params, old.parameters(), strict=True)]
        assert all(changed), name


def test_masked_action_never_gets_probability():
    torch.manual_seed(1)
    net = ActorCritic(DISCRETE, n_members=1, hidden=(16,))
    trpo = TRPO(net, TRPOSettings(delta=0.05), device=CPU)
    n = 256
    obs = np.zeros((n, 4), np.float32)
    obs[n // 2 :, 0] = 1.0  # the second half: action 2 is forbidden there
    mask = np.ones((n, 3), bool)
    mask[n // 2 :, 2] = False
    for _ in range(10):
        batch = acted_batch(net, obs, mask, lambda a: (a == 2) * 1.0)  # 2 pays where legal
        trpo.update(batch, StepParams(gamma=0.99, lr=1e-3))
    out = net.act(obs, np.zeros(n, np.int64), mask)
    assert (out.probs[~mask] == 0).all()
    assert mask[np.arange(n), out.action].all()
    np.testing.assert_allclose(out.probs.sum(1), 1.0, rtol=1e-5)
    assert out.probs[: n // 2, 2].mean() > 0.8
    # without its mask the forbidden rows would play action 2 too: the mask alone holds it
    unmasked = net.act(obs[n // 2 :], np.zeros(n // 2, np.int64), None)
    assert unmasked.probs[:, 2].mean() > 0.5
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_trpo_learns_the_three_armed_bandit():
    torch.manual_seed(0)
    net = ActorCritic(DISCRETE, n_members=1, hidden=(16,))
    trpo = TRPO(net, device=CPU)
    obs, mask = np.zeros((512, 4), np.float32), np.ones((512, 3), bool)

    def paying_probability() -> float:
        return float(net.act(obs, np.zeros(512, np.int64), mask).probs[:, 2].mean())

    before = paying_probability()
    for _ in range(25):
        batch = acted_batch(net, obs, mask, lambda a: (a == 2) * 1.0)
        metrics = trpo.update(batch, StepParams(gamma=0.99, lr=1e-2))
        assert metrics["losses/kl"] <= TRPOSettings().delta
    assert before < 0.5 < 0.9 < paying_probability()
    assert trpo.updates == 25


def test_no_advantage_signal_takes_no_step():
    torch.manual_seed(0)
    net = ActorCritic(DISCRETE, n_members=1, hidden=(16,))
    trpo = TRPO(net, device=CPU)
    obs, mask = np.zeros((64, 4), np.float32), np.ones((64, 3), bool)
    batch = acted_batch(net, obs, mask, lambda a: np.ones(len(a)))  # equal advantages
    start = _actor_params(net)
    metrics = trpo.update(batch, StepParams(gamma=0.99, lr=1e-3))
    assert metrics["losses/line_search_failed"] == 0.0 and metrics["losses/kl"] == 0.0
    for p, q in zip(_actor_params(net), start, strict=True):
        assert torch.equal(p, q)


def test_failed_line_search_restores_the_parameters():
    # Rewards that favour actions near the mean push log_std down, where the true KL
    # grows faster than its quadratic model: with a large radius and no backtracking
    # the full step overshoots delta and is refused.
    def setup(backtrack_iters: int) -> tuple[TRPO, Batch]:
        torch.manual_seed(0)
        net = ActorCritic(BOX, n_members=1, hidden=(16,))
        obs = np.zeros((256, 3), np.float32)
        batch = acted_batch(net, obs, None, lambda a: -(a**2).sum(-1))
        settings = TRPOSettings(delta=2.0, backtrack_iters=backtrack_iters)
        return TRPO(net, settings, device=CPU), batch

    trpo, batch = setup(backtrack_iters=0)
    start = _actor_params(trpo.policy)
    metrics = trpo.update(batch, StepParams(gamma=0.99, lr=1e-3))
    assert metrics["losses/line_search_failed"] == 1.0
    assert metrics["losses/kl"] == 0.0 and metrics["losses/surrogate_improvement"] == 0.0
    for p, q in zip(_actor_params(trpo.policy), start, strict=True):
        assert torch.equal(p, q)
    # the same step, allowed to shrink, is accepted inside the radius
    trpo, batch = setup(backtrack_iters=10)
    metrics = trpo.update(batch, StepParams(gamma=0.99, lr=1e-3))
    assert metrics["losses/line_search_failed"] == 0.0
    assert metrics["losses/backtracks"] >= 1.0
    assert 0.0 < metrics["losses/kl"] <= 2.0
    assert float(trpo.policy.log_std.detach().mean()) < 0.0


def _plain(value) -> bool:
    """Tensors, numbers, strings, lists and dicts (and numpy arrays) only."""
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (torch.Tensor, np.ndarray, int, float, str))


def test_state_dict_round_trip_continues_identically():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    # max_rows below the batch size: chunked passes and a subsampled Fisher (uses the RNG)
    settings = TRPOSettings(max_rows=96, fvp_rows=96, vf_minibatch_size=64)
    trpo = TRPO(ActorCritic(DISCRETE, n_members=1, hidden=(16,)), settings, device=CPU, seed=3)
    params = StepParams(gamma=0.99, lr=1e-2)
    for _ in range(2):
        trpo.update(_space_batch("discrete", trpo.policy, 200, rng), params)
    state = trpo.state_dict()
    assert _plain(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    clone = TRPO(ActorCritic(DISCRETE, n_members=1, hidden=(16,)), settings, device=CPU, seed=9)
    clone.load_state_dict(torch.load(buffer, weights_only=True))
    assert clone.updates == trpo.updates == 2
    for a, b in zip(clone.policy.parameters(), trpo.policy.parameters(), strict=True):
        assert torch.equal(a, b)
    batch = _space_batch("discrete", trpo.policy, 200, rng)
    m1, m2 = trpo.update(batch, params), clone.update(batch, params)
    assert m1.pop("perf/gae_seconds") > 0 and m2.pop("perf/gae_seconds") > 0  # timings differ
    assert m1 == pytest.approx(m2, nan_ok=True)
    for a, b in zip(clone.policy.parameters(), trpo.policy.parameters(), strict=True):
        assert torch.equal(a, b)
    assert m1["losses/kl"] <= settings.delta
