from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
import torch

from agents.acer import (
    ACER,
    CUT,
    TERMINAL,
    TRUNCATED,
    ACERSettings,
    Segments,
    bias_correction_weights,
    policy_gain,
    retrace_targets,
    trust_region_projection,
)
from agents.batch import Batch
from agents.learner import StepParams
from agents.policy import ActorCritic
from tests.fixtures.batches import BOX, DISCRETE, MULTI, bandit_batch

CPU = torch.device("cpu")


def _batch(**cols: np.ndarray) -> Batch:
    """A Batch from the given columns; any other field is zeros (one per step)."""
    n = len(cols["reward"])
    for f in fields(Batch):
        cols.setdefault(f.name, np.zeros(n, np.int64))
    return Batch(**cols)


def _acer(seed: int = 0, **settings) -> ACER:
    torch.manual_seed(seed)
    net = ActorCritic(DISCRETE, n_members=1, hidden=(16,), q_head=True)
    return ACER(net, ACERSettings(**settings), device=CPU, seed=seed)


def test_retrace_targets_by_hand():
    gamma = 0.9
    reward = torch.tensor([[1.0, 0.0, 2.0], [1.0, 0.0, 2.0], [0.5, 0.0, 0.0]])
    q_taken = torch.tensor([[0.5, 1.0, 1.5]] * 2 + [[9.0, 9.0, 9.0]])
    value = torch.tensor([[0.4, 0.8, 1.2]] * 2 + [[9.0, 9.0, 9.0]])
    trace = torch.tensor([[1.0, 0.5, 0.25]] * 3)
    valid = torch.tensor([[True] * 3, [True] * 3, [True, False, False]])
    # rows: a truncated end (stored bootstrap 2), a terminal end (0), a one-step segment
    # cut inside its stream (V(next) = 3) followed by padding that must be ignored
    bootstrap = torch.tensor([2.0, 0.0, 3.0])
    got = retrace_targets(reward, q_taken, value, trace, valid, bootstrap, gamma)
    # truncated: Q2 = 2 + .9*2 = 3.8
    #   Q1 = 0 + .9*(.25*(3.8-1.5) + 1.2) = .9*1.775 = 1.5975
    #   Q0 = 1 + .9*(.5*(1.5975-1) + .8) = 1 + .9*1.09875 = 1.988875
    # terminal: Q2 = 2; Q1 = .9*(.25*.5 + 1.2) = 1.1925; Q0 = 1 + .9*(.5*.1925 + .8) = 1.806625
    # cut: Q0 = .5 + .9*3 = 3.2
    expected = torch.tensor([[1.988875, 1.5975, 3.8], [1.806625, 1.1925, 2.0], [3.2, 0.0, 0.0]])
    torch.testing.assert_close(got, expected)


def test_streams_are_cut_into_segments_with_their_ends():
    # stream A: 5 steps, truncated (bootstrap 0.7); stream B: 3 steps, terminal
    n = 8
    done = np.zeros(n, bool)
    done[[4, 7]] = True
    truncated = np.zeros(n, bool)
    truncated[4] = True
    bootstrap = np.zeros(n, np.float32)
    bootstrap[4] = 0.7
    obs = np.arange(n, dtype=np.float32)[:, None].repeat(4, 1)
    batch = _batch(
        obs=obs,
        mask=np.ones((n, 3), bool),
        probs=np.full((n, 3), 1 / 3, np.float32),
        reward=np.ones(n, np.float32),
        done=done,
        truncated=truncated,
        bootstrap=bootstrap,
    )
    segs = Segments.from_batch(batch, 2)
    assert segs.length.tolist() == [2, 2, 1, 2, 1]
    assert segs.end.tolist() == [CUT, CUT, TRUNCATED, CUT, TERMINAL]
    np.testing.assert_allclose(segs.boot_value, [0, 0, 0.7, 0, 0])
    # a cut segment keeps the next observation (the next segment's first row)
    assert segs.next_obs[[0, 1, 3], 0].tolist() == [2, 4, 7]
    picked = segs.select(np.array([3, 0]))
    assert picked.obs[:, 0].tolist() == [5, 6, 0, 1]
    assert picked.end.tolist() == [CUT, CUT]


def test_learner_targets_use_the_right_bootstrap():
    # One 3-step stream, checked against a hand recursion over the network's own numbers:
    # terminal -> 0 after the last step, truncated -> the stored behaviour value.
    acer = _acer(segment_length=20)
    rng = np.random.default_rng(0)
    n, gamma = 3, 0.9
    obs = rng.normal(size=(n, 4)).astype(np.float32)
    mu = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8]], np.float32)
    action = np.array([2, 0, 1])
    reward = np.array([1.0, -0.5, 2.0], np.float32)
    with torch.no_grad():
        dist, _, q = acer.policy.with_q(torch.as_tensor(obs), torch.zeros(n), None)
    pi, q = dist.probs.numpy(), q.numpy()
    v = (pi * q).sum(1)
    c = np.minimum(1.0, pi[np.arange(n), action] / mu[np.arange(n), action])
    q_a = q[np.arange(n), action]
    for truncated, boot in ((False, 0.0), (True, 1.25)):
        batch = _batch(
            obs=obs,
            mask=np.ones((n, 3), bool),
            action=action,
            probs=mu,
            reward=reward,
            done=np.array([False, False, True]),
            truncated=np.array([False, False, truncated]),
            bootstrap=np.array([0.0, 0.0, 1.25], np.float32),
        )
        q2 = reward[2] + gamma * boot
        q1 = reward[1] + gamma * (c[2] * (q2 - q_a[2]) + v[2])
        q0 = reward[0] + gamma * (c[1] * (q1 - q_a[1]) + v[1])
        got = acer.q_retrace(Segments.from_batch(batch, 20), gamma).numpy()
        np.testing.assert_allclose(got, [q0, q1, q2], rtol=1e-5)
    # segments of 2 steps: the first is cut inside the stream and bootstraps from
    # V(x_2) under the current policy; the second is the terminal end
    q1 = reward[1] + gamma * v[2]
    q0 = reward[0] + gamma * (c[1] * (q1 - q_a[1]) + v[1])
    got = acer.q_retrace(Segments.from_batch(batch, 2), gamma).numpy()
    np.testing.assert_allclose(got, [q0, q1, reward[2] + gamma * 1.25], rtol=1e-5)


def test_bias_correction_by_hand():
    # 3 legal actions and an illegal 4th whose (unmasked) Q is not even finite.
    pi = torch.tensor([[0.5, 0.3, 0.2, 0.0]])
    mu = torch.tensor([[0.1, 0.1, 0.8, 0.0]])
    q = torch.tensor([[1.0, 2.0, 3.0, float("inf")]])
    mask = torch.tensor([[True, True, True, False]])
    c = 2.0
    v = torch.tensor([0.5 * 1 + 0.3 * 2 + 0.2 * 3])  # 1.7
    # rho = [5, 3, .25]; [1 - c/rho]_+ = [.6, 1/3, 0]; times pi = [.3, .1, 0]
    # times Q - V = [-.7, .3, 1.3] -> [-.21, .03, 0]
    w = bias_correction_weights(pi, mu, q, v, c, mask)
    torch.testing.assert_close(w, torch.tensor([[-0.21, 0.03, 0.0, 0.0]]))
    # The gain's gradient with respect to the logits, with Q_ret = V (no taken-action
    # term) and no entropy: sum_a w_a d log pi(a) / d phi_j = w_j - pi_j sum_a w_a
    phi = torch.log(pi.clamp_min(1e-30)).masked_fill(~mask, -1e9).requires_grad_()
    gain, _, rho = policy_gain(phi, mask, torch.tensor([0]), mu, q, v, c=c, ent_coef=0.0)
    gain.sum().backward()
    torch.testing.assert_close(rho, torch.tensor([5.0]))
    torch.testing.assert_close(phi.grad, torch.tensor([[-0.12, 0.084, 0.036, 0.0]]))


def test_trust_region_projection():
    torch.manual_seed(0)
    g, k = torch.randn(64, 5), torch.randn(64, 5)
    delta = 0.5
    z, scale = trust_region_projection(g, k, delta)
    assert ((k * z).sum(-1) <= delta + 1e-5).all()
    inside = (k * g).sum(-1) <= delta
    assert inside.any() and (~inside).any()
    # already inside the bound: unchanged, scale 0; outside: exactly on the boundary
    torch.testing.assert_close(z[inside], g[inside])
    assert (scale[inside] == 0).all() and (scale[~inside] > 0).all()
    torch.testing.assert_close((k * z).sum(-1)[~inside], torch.full(((~inside).sum(),), delta))
    # by hand: g = (2, 0), k = (1, 1), delta 1 -> scale (2 - 1)/2 = .5, z = (1.5, -.5)
    z, scale = trust_region_projection(torch.tensor([[2.0, 0.0]]), torch.ones(1, 2), 1.0)
    torch.testing.assert_close(z, torch.tensor([[1.5, -0.5]]))
    torch.testing.assert_close(scale, torch.tensor([0.5]))
    # k = 0 (the policy equals the average policy): nothing to project
    z, scale = trust_region_projection(g, torch.zeros_like(g), delta)
    assert torch.equal(z, g) and (scale == 0).all()


def test_trust_region_holds_the_policy_near_the_average_policy():
    # The average network frozen (polyak 1) at the initial policy and a tight bound: the
    # projection engages and the policy drifts less far from it than without the trust region.
    kl, scales = {}, {}
    for trust_region in (True, False):
        acer = _acer(replay_ratio=0.0, polyak=1.0, delta=0.01, trust_region=trust_region)
        scales[trust_region] = [
            acer.update(bandit_batch(acer.policy, 256), StepParams(0.99, 0.01))[
                "losses/trust_region_scale"
            ]
            for _ in range(5)
        ]
        with torch.no_grad():
            obs, member = torch.zeros(1, 4), torch.zeros(1)
            p_avg = acer.average(obs, member)[0].probs
            p = acer.policy(obs, member)[0].probs
        kl[trust_region] = (p_avg * (p_avg / p).log()).sum().item()
    assert max(scales[True]) > 0 and max(scales[False]) == 0
    assert kl[True] < 0.5 * kl[False]


def test_acer_learns_a_bandit_with_replay():
    acer = _acer(replay_start=256, buffer_size=2048, replay_ratio=2.0)
    params = StepParams(gamma=0.99, lr=0.01, ent_coef=0.01)
    before = bandit_batch(acer.policy, 256).probs[:, 2].mean()
    replays = 0.0
    for i in range(20):
        metrics = acer.update(bandit_batch(acer.policy, 256, version=i), params)
        replays += metrics["losses/replay_updates"]
    after = bandit_batch(acer.policy, 256).probs[:, 2].mean()
    assert after > 0.9 > before
    assert replays > 10
    assert metrics["losses/replay_size"] == 2048
    # the buffer holds the last 2048 / 256 = 8 batches: versions 12..19, ages 0..7
    assert metrics["losses/replay_updates"] == 0 or 0 < metrics["losses/replay_age"] < 7
    for key in (
        "policy_loss",
        "q_loss",
        "entropy",
        "mean_rho",
        "truncated_fraction",
        "trust_region_scale",
        "replay_updates",
        "replay_size",
        "replay_age",
    ):
        assert isinstance(metrics[f"losses/{key}"], float)
    # the Q head has learned the payoffs
    with torch.no_grad():
        _, _, q = acer.policy.with_q(torch.zeros(1, 4), torch.zeros(1), None)
    assert abs(q[0, 2].item() - 1.0) < 0.2 and abs(q[0, 0].item()) < 0.3


def test_a_masked_action_never_gets_probability():
    # Action 2 pays where it is legal (every other row); where it is illegal it must keep
    # exactly 0 probability, and its large unmasked Q must not leak into any target.
    acer = _acer(replay_start=0, replay_ratio=1.0)
    mask = np.ones((128, 3), bool)
    mask[::2, 2] = False
    params = StepParams(gamma=0.99, lr=0.01, ent_coef=0.01)
    for i in range(15):
        metrics = acer.update(bandit_batch(acer.policy, 128, mask, version=i), params)
        assert all(np.isfinite(v) for k, v in metrics.items() if k != "losses/replay_age")
    probs = bandit_batch(acer.policy, 128, mask).probs
    assert (probs[::2, 2] == 0).all()
    assert probs[1::2, 2].mean() > 0.6
    # an infinite Q for the illegal action changes nothing in the targets of rows where it
    # is illegal (0 * inf would poison them if it were summed in)
    n = 4
    batch = _batch(
        obs=np.zeros((n, 4), np.float32),
        mask=np.tile([True, True, False], (n, 1)),
        action=np.array([0, 1, 0, 1]),
        probs=np.tile(np.float32([0.5, 0.5, 0.0]), (n, 1)),
        reward=np.zeros(n, np.float32),
        done=np.array([False, False, False, True]),
        truncated=np.zeros(n, bool),
        bootstrap=np.zeros(n, np.float32),
    )
    segs = Segments.from_batch(batch, 2)  # the first segment bootstraps from V(next obs)
    before = acer.q_retrace(segs, 0.99)
    with torch.no_grad():
        acer.policy.q[-1].bias[2] = float("inf")
    torch.testing.assert_close(acer.q_retrace(segs, 0.99), before)


def test_replay_buffer_drops_its_oldest_segments():
    acer = _acer(segment_length=2, buffer_size=10, replay_start=10, replay_ratio=0.0)
    rng = np.random.default_rng(0)
    for version in range(4):
        acer.update(bandit_batch(acer.policy, 4, version=version), StepParams(0.9, 1e-3))
    contents = acer.buffer.contents()
    assert acer.buffer.steps == contents.steps == 10
    assert contents.version.tolist() == [1, 1, 2, 2, 2, 2, 3, 3, 3, 3]
    sample = acer.buffer.sample(rng, 3)
    assert sample.steps == 3 and len(set(sample.version.tolist()) - {1, 2, 3}) == 0


def test_refuses_action_spaces_other_than_discrete():
    for spaces, name in ((MULTI, "MultiDiscrete"), (BOX, "Box")):
        with pytest.raises(ValueError, match=name):
            ACER(ActorCritic(spaces, n_members=1, hidden=(8,)), device=CPU)
    with pytest.raises(ValueError, match="Q head"):
        ACER(ActorCritic(DISCRETE, n_members=1, hidden=(8,)), device=CPU)
    with pytest.raises(ValueError, match="replay_start"):
        ACERSettings(replay_start=100, buffer_size=10)
    with pytest.raises(ValueError, match="unknown"):
        ACERSettings(unknown=1)


def test_state_round_trip_continues_identically(tmp_path):
    from league.store.checkpoint import load_checkpoint, save_checkpoint

    acer = _acer(seed=0, replay_start=64, segment_length=2)
    params = StepParams(gamma=0.99, lr=0.01, ent_coef=0.01)
    for i in range(4):
        acer.update(bandit_batch(acer.policy, 64, version=i), params)
    # through a real (safetensors, pickle-free) checkpoint file
    save_checkpoint(tmp_path / "acer.ckpt", {"learner": acer.state_dict()})
    state = load_checkpoint(tmp_path / "acer.ckpt")["learner"]
    clone = _acer(seed=1, replay_start=64, segment_length=2)
    clone.load_state_dict(state)

    def same(a: ACER, b: ACER) -> None:
        for net in ("policy", "average"):
            for x, y in zip(
                getattr(a, net).state_dict().values(),
                getattr(b, net).state_dict().values(),
                strict=True,
            ):
                assert torch.equal(x, y)
        ca, cb = a.buffer.contents().arrays(), b.buffer.contents().arrays()
        for key in ca:
            np.testing.assert_array_equal(ca[key], cb[key])
            assert ca[key].dtype == cb[key].dtype

    same(acer, clone)
    assert clone.buffer.steps == acer.buffer.steps > 0
    assert not all(
        torch.equal(x, y)
        for x, y in zip(acer.policy.parameters(), acer.average.parameters(), strict=True)
    )
    batch = bandit_batch(acer.policy, 64, version=4)
    m1, m2 = acer.update(batch, params), clone.update(batch, params)
    assert m1["losses/replay_updates"] > 0
    assert m1 == pytest.approx(m2, nan_ok=True)
    same(acer, clone)
