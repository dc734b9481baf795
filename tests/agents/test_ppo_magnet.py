"""PPO's magnet (`learner.ppo.magnet_coef`): KL(policy || a frozen copy of it, taken every
`magnet_every` updates) in the loss, and the KL of two of a network's distributions."""

from __future__ import annotations

import numpy as np
import torch

from agents import PPO, ActorCritic, PPOSettings, StepParams
from tests.fixtures.batches import BOX, DISCRETE, MULTI, bandit_batch

CPU = torch.device("cpu")
PARAMS = StepParams(gamma=0.99, lr=0.01, ent_coef=0.0)


def _ppo(**settings) -> PPO:
    torch.manual_seed(0)
    net = ActorCritic(DISCRETE, n_members=1, hidden=(16,))
    return PPO(net, PPOSettings(minibatch_size=64, **settings), device=CPU)


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_a_fixed_magnet_holds_the_policy_near_it_where_none_lets_it_commit():
    # The bandit pays action 2 only. The magnet taken before the first update (the
    # near-uniform initial policy) is kept for the whole run: a heavy one holds the
    # policy near it; without one the policy commits.
    probs = {}
    for coef in (0.0, 5.0):
        ppo = _ppo(magnet_coef=coef, magnet_every=1000)
        for _ in range(10):
            metrics = ppo.update(bandit_batch(ppo.policy, 512), PARAMS)
        probs[coef] = bandit_batch(ppo.policy, 512).probs[:, 2].mean()
        assert ("losses/magnet_kl" in metrics) == (coef > 0)
    assert probs[0.0] > 0.8
    assert probs[5.0] < 0.6


def test_a_moving_magnet_lets_the_policy_learn():
    # Taken every update, the magnet is a proximal term: the policy still commits.
    ppo = _ppo(magnet_coef=5.0, magnet_every=1)
    for _ in range(30):
        ppo.update(bandit_batch(ppo.policy, 512), PARAMS)
    assert bandit_batch(ppo.policy, 512).probs[:, 2].mean() > 0.8


def test_the_magnet_is_the_policy_as_it_was_every_n_updates():
    ppo = _ppo(magnet_coef=1.0, magnet_every=2)
    seen = [_weights(ppo.policy)]  # the weights before each update
    for _ in range(3):
        ppo.update(bandit_batch(ppo.policy, 256), PARAMS)
        seen.append(_weights(ppo.policy))
        magnet = _weights(ppo.magnet)
        taken_at = (ppo.updates - 1) // 2 * 2  # updates 0 and 2 take a new magnet
        assert _same(magnet, seen[taken_at]), ppo.updates
    assert not _same(seen[0], seen[2])  # the test can fail: the policy moved
    assert not any(p.requires_grad for p in ppo.magnet.parameters())


def test_mmds_moving_magnet_moves_towards_the_policy_by_beta_every_update():
    ppo = _ppo(magnet_coef=1.0, magnet_beta=0.25)
    for _ in range(3):
        magnet, policy = _weights(ppo.magnet), _weights(ppo.policy)
        ppo.update(bandit_batch(ppo.policy, 256), PARAMS)
        for key, value in ppo.magnet.state_dict().items():
            torch.testing.assert_close(value, magnet[key] + 0.25 * (policy[key] - magnet[key]))
    assert not _same(_weights(ppo.magnet), _weights(ppo.policy))


def test_the_magnet_survives_a_checkpoint():
    ppo = _ppo(magnet_coef=1.0, magnet_every=2)
    for _ in range(3):
        ppo.update(bandit_batch(ppo.policy, 256), PARAMS)
    state = ppo.state_dict()
    fresh = _ppo(magnet_coef=1.0, magnet_every=2)
    fresh.load_state_dict(state)
    assert _same(_weights(fresh.magnet), _weights(ppo.magnet))
    assert not _same(_weights(fresh.magnet), _weights(fresh.policy))
    assert _ppo().magnet is None and "magnet" not in _ppo().state_dict()


def test_kl_of_two_distributions_of_a_network():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    for spaces in (DISCRETE, MULTI, BOX):
        a, b = (ActorCritic(spaces, n_members=1, hidden=(8,)) for _ in range(2))
        obs = torch.as_tensor(rng.normal(size=(6, *spaces.obs_shape)), dtype=torch.float32)
        member = torch.zeros(6, dtype=torch.long)
        mask = None
        if spaces.discrete:
            mask = torch.ones(6, 3, dtype=torch.bool)
            mask[:, 0] = False  # an illegal action adds nothing
        da, _ = a(obs, member, mask)
        db, _ = b(obs, member, mask)
        kl = ActorCritic.kl(da, db)
        assert kl.shape == (6,) and torch.isfinite(kl).all() and (kl > 0).all()
        assert torch.allclose(ActorCritic.kl(da, da), torch.zeros(6), atol=1e-6)
        if spaces.discrete:
            p, q = da.probs[:, 1:], db.probs[:, 1:]
            expected = (p * (p.log() - q.log())).sum(-1)
            assert torch.allclose(kl, expected, atol=1e-5)
