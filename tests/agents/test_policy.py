from __future__ import annotations

import numpy as np
import pytest
import torch

from agents import (
    PPO,
    ActorCritic,
    PPOSettings,
    StepParams,
    resolve_device,
    resolve_precision,
)
from envs import Spaces, builtin_game
from league.config import ModelConfig
from league.rollout import PolicyFactory
from tests.fixtures.batches import BOX, DISCRETE, MULTI, acted_batch, bandit_batch

IMAGE = Spaces(obs_shape=(42, 42, 4), obs_dtype="uint8", image=True, has_mask=False, n_actions=6)


def test_masked_categorical_never_picks_illegal_actions():
    torch.manual_seed(0)
    net = ActorCritic(DISCRETE, n_members=1, hidden=(16,))
    obs = np.random.default_rng(0).normal(size=(500, 4)).astype(np.float32)
    mask = np.zeros((500, 3), dtype=bool)
    mask[:, 1] = True
    mask[::2, 2] = True
    out = net.act(obs, np.zeros(500, dtype=np.int64), mask)
    assert mask[np.arange(500), out.action].all()
    assert out.probs.shape == (500, 3)
    np.testing.assert_allclose(out.probs.sum(1), 1.0, rtol=1e-5)
    assert (out.probs[~mask] == 0).all()
    greedy = net.act(obs, np.zeros(500, dtype=np.int64), mask, greedy=True)
    assert mask[np.arange(500), greedy.action].all()


def test_gaussian_policy_for_box_actions():
    net = ActorCritic(BOX, n_members=2, hidden=(16,))
    out = net.act(np.zeros((5, 3), np.float32), np.array([0, 1, 0, 1, 0]), None)
    assert out.action.shape == (5, 2)
    assert out.logp.shape == (5,)
    assert out.probs.shape == (5, 0)


def test_cnn_chosen_for_images_and_member_index_changes_output():
    net = ActorCritic(IMAGE, n_members=2)
    assert net.cnn
    obs = np.random.default_rng(1).integers(0, 255, size=(2, 42, 42, 4), dtype=np.uint8)
    obs[1] = obs[0]
    dist, value = net(torch.as_tensor(obs), torch.tensor([0, 1]))
    assert not torch.allclose(value[0], value[1])


def test_small_boards_get_same_padding_convolutions():
    board = Spaces(obs_shape=(6, 7, 2), obs_dtype="int8", image=False, has_mask=True, n_actions=7)
    net = ActorCritic(board, n_members=1, hidden=(64,), kind="cnn")
    assert type(net.torso).__name__ == "_GridTorso"
    obs = np.zeros((3, 6, 7, 2), dtype=np.int8)
    obs[1, 5, 0, 1] = obs[2, 5, 6, 1] = 1  # the same piece in the left and right columns
    out = net.act(obs, np.zeros(3, np.int64), np.ones((3, 7), bool))
    assert out.probs.shape == (3, 7)
    # every board cell is seen: moving a piece changes the value
    assert len({round(float(v), 6) for v in out.value}) == 3


def test_grid_channels_from_the_model_config():
    info = builtin_game("connect_four_v3").info()
    model = ModelConfig(kind="cnn", hidden=[24], channels=8)
    net = PolicyFactory.from_config(info, model)("main")
    convs = [m for m in net.torso.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 8]
    assert net.torso.fc[0].in_features == 8 * 6 * 7
    assert net.torso.fc[0].out_features == 24
    deeper = PolicyFactory.from_config(info, model.model_copy(update={"conv_layers": 4}))("main")
    convs = [m for m in deeper.torso.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(2, 8)] + [(8, 8)] * 3


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")


def test_precision_resolution(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_precision("float32", cpu) == torch.float32
    assert resolve_precision("bfloat16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("float16", cpu)
    # auto: bfloat16 only where the CPU runs it natively (AMX or AVX512-BF16)
    for amx, avx in ((True, False), (False, True), (False, False)):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx: v)
        expected = torch.bfloat16 if amx or avx else torch.float32
        assert resolve_precision("auto", cpu) == expected


def test_bfloat16_torso_agrees_with_float32_and_trains_float32_weights():
    torch.manual_seed(0)
    info = builtin_game("connect_four_v3").info()
    net = PolicyFactory.from_config(info, ModelConfig(kind="cnn", hidden=[64], channels=8))("main")
    rng = np.random.default_rng(0)
    obs = torch.as_tensor(rng.integers(0, 2, (64, 6, 7, 2)), dtype=torch.int8)
    member, mask = torch.zeros(64, dtype=torch.long), torch.ones(64, 7, dtype=torch.bool)
    dist32, value32 = net(obs, member, mask)
    net.torso_dtype = torch.bfloat16
    dist16, value16 = net(obs, member, mask)
    # heads and outputs stay float32; only the torso's arithmetic is rounded
    assert dist16.logits.dtype == value16.dtype == torch.float32
    assert not torch.equal(dist16.logits, dist32.logits)
    assert torch.allclose(dist16.probs, dist32.probs, atol=0.01)
    assert torch.allclose(value16, value32, atol=0.05)
    (dist16.log_prob(torch.zeros(64, dtype=torch.long)).mean() + value16.mean()).backward()
    conv = net.torso.net[0]
    assert conv.weight.dtype == conv.weight.grad.dtype == torch.float32
    assert conv.weight.grad.abs().sum() > 0


def test_ppo_minibatches_have_exactly_the_configured_size():
    # One batch shape for every gradient step (oneDNN compiles a kernel per shape):
    # the rows left over in an epoch are not stepped on in that epoch.
    ppo = PPO(
        ActorCritic(DISCRETE, n_members=1, hidden=(16,)),
        PPOSettings(minibatch_size=64, epochs=3, target_kl=None),
        device=torch.device("cpu"),
    )
    sizes: list[int] = []
    ppo.policy.register_forward_hook(lambda _m, args, _out: sizes.append(len(args[0])))
    for n, expected in ((200, [64] * 9), (40, [40] * 3)):
        batch = bandit_batch(ppo.policy, n)
        sizes.clear()
        ppo.update(batch, StepParams(gamma=0.99, lr=2.5e-4))
        assert sizes == expected


def test_ppo_learns_a_bandit_and_round_trips_its_state():
    torch.manual_seed(0)
    ppo = PPO(
        ActorCritic(DISCRETE, n_members=1, hidden=(16,)),
        PPOSettings(minibatch_size=64),
        device=torch.device("cpu"),
    )
    params = StepParams(gamma=0.99, lr=0.01, ent_coef=0.01)
    before = bandit_batch(ppo.policy, 512).probs[:, 2].mean()
    for _ in range(15):
        metrics = ppo.update(bandit_batch(ppo.policy, 512), params)
    after = bandit_batch(ppo.policy, 512).probs[:, 2].mean()
    assert after > 0.9 > before
    assert {
        "losses/policy_loss",
        "losses/value_loss",
        "losses/entropy",
        "losses/approx_kl",
        "losses/clipfrac",
    } <= set(metrics)
    clone = PPO(
        ActorCritic(DISCRETE, n_members=1, hidden=(16,)), PPOSettings(), device=torch.device("cpu")
    )
    clone.load_state_dict(ppo.state_dict())
    for a, b in zip(clone.policy.parameters(), ppo.policy.parameters(), strict=True):
        assert torch.equal(a, b)
    assert clone.updates == ppo.updates


def test_ppo_learns_a_multidiscrete_bandit():
    torch.manual_seed(0)
    ppo = PPO(
        ActorCritic(MULTI, n_members=1, hidden=(16,)),
        PPOSettings(minibatch_size=64),
        device=torch.device("cpu"),
    )
    n = 512

    def batch():
        obs = np.zeros((n, 4), np.float32)
        reward_of = lambda a: (a[:, 0] == 2) & (a[:, 1] == 1)  # noqa: E731
        out = acted_batch(ppo.policy, obs, None, reward_of)
        assert out.action.shape == (n, 2) and out.probs.shape == (n, 5)
        return out

    for _ in range(20):
        ppo.update(batch(), StepParams(gamma=0.99, lr=0.02, ent_coef=0.01))
    assert batch().reward.mean() > 0.8
    greedy = ppo.policy.act(np.zeros((3, 4), np.float32), np.zeros(3, np.int64), None, greedy=True)
    assert greedy.action.tolist() == [[2, 1]] * 3


def test_ppo_entropy_bonus_set_by_the_loop_keeps_the_policy_spread():
    # Same bandit, same seeds: a large entropy weight set on the learner (as the
    # trainer's schedule does) holds the policy near uniform, weight 0 lets it commit.
    probs = {}
    for ent_coef in (0.0, 5.0):
        torch.manual_seed(0)
        ppo = PPO(
            ActorCritic(DISCRETE, n_members=1, hidden=(16,)),
            PPOSettings(minibatch_size=64),
            device=torch.device("cpu"),
        )
        params = StepParams(gamma=0.99, lr=0.01, ent_coef=ent_coef)
        for _ in range(10):
            ppo.update(bandit_batch(ppo.policy, 512), params)
        probs[ent_coef] = bandit_batch(ppo.policy, 512).probs[:, 2].mean()
    assert probs[0.0] > 0.8
    assert probs[5.0] < 0.6


@pytest.mark.parametrize("game", ["connect_four_v3", "tictactoe_v3"])
@pytest.mark.parametrize("q_head", [False, True])
@pytest.mark.parametrize("action_head", ["dense", "spatial"])
def test_a_mirrored_network_plays_a_board_and_its_mirror_image_alike(game, q_head, action_head):
    torch.manual_seed(0)
    info = builtin_game(game).info()
    model = ModelConfig(kind="cnn", hidden=[32], channels=8, mirror=True, action_head=action_head)
    net = PolicyFactory.from_config(info, model, "acer" if q_head else "ppo")("main")
    plain = PolicyFactory.from_config(info, model.model_copy(update={"mirror": False}))("main")
    # The mirror adds no weights: a snapshot loads into a network with or without it.
    assert {k for k in net.state_dict() if not k.startswith("q.")} == set(plain.state_dict())
    with torch.no_grad():  # spread the outputs: the initial heads are nearly uniform
        for name, p in net.named_parameters():
            if not name.startswith("torso."):
                p.add_(torch.randn_like(p) * 0.3)
    swap = list(info.mirror.actions)
    rng = np.random.default_rng(1)
    n, h, w = 32, *info.role_spaces["main"].obs_shape[:2]
    obs = torch.as_tensor(rng.integers(0, 2, (n, h, w, 2)), dtype=torch.int8)
    mask = torch.as_tensor(rng.random((n, len(swap))) < 0.7)
    mask[:, 0] = mask[:, swap[0]] = True  # a legal move on each side
    flipped_mask = mask[:, swap]
    member = torch.zeros(n, dtype=torch.long)
    dist, value, q = net.with_q(obs, member, mask) if q_head else (*net(obs, member, mask), None)
    m_dist, m_value, m_q = (
        net.with_q(obs.flip(2), member, flipped_mask)
        if q_head
        else (*net(obs.flip(2), member, flipped_mask), None)
    )
    # The mirror image's distribution is the board's, its actions swapped; same value.
    assert torch.allclose(m_dist.probs, dist.probs[:, swap], atol=1e-6)
    assert torch.allclose(m_value, value, atol=1e-6)
    if q_head:
        assert torch.allclose(m_q, q[:, swap], atol=1e-6)
    # An unmirrored network of the same weights is not symmetric (the test can fail).
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("q.")})
    p_dist, _ = plain(obs, member, mask)
    pm_dist, _ = plain(obs.flip(2), member, flipped_mask)
    assert not torch.allclose(pm_dist.probs, p_dist.probs[:, swap], atol=1e-3)
    # value_of and act agree with the forward pass.
    np.testing.assert_allclose(net.value_of(obs.numpy(), member.numpy()), value.detach(), atol=1e-6)
    out = net.act(obs.numpy(), member.numpy(), mask.numpy())
    np.testing.assert_allclose(out.probs, dist.probs.detach(), atol=1e-6)


def test_a_mirror_must_fit_the_game():
    from envs import GameError, Mirror

    board = Spaces(obs_shape=(6, 7, 2), obs_dtype="int8", image=False, has_mask=True, n_actions=7)
    for mirror, needle in [
        (Mirror(3, (6, 5, 4, 3, 2, 1, 0)), "obs_axis 3 is not an axis"),
        (Mirror(1, (6, 5, 4, 3, 2, 1)), "not a permutation of its 7 actions"),
        (Mirror(1, (1, 2, 0, 3, 4, 5, 6)), "do not undo themselves"),
    ]:
        with pytest.raises(GameError, match=needle):
            mirror.check("g", board)
    with pytest.raises(GameError, match="Discrete action space"):
        Mirror(0, (0, 1)).check("g", BOX)
    with pytest.raises(ValueError, match="cannot be recurrent"):
        ActorCritic(board, n_members=1, lstm=8, mirror=Mirror(1, (6, 5, 4, 3, 2, 1, 0)))


def _three_in(column: int) -> np.ndarray:
    """A connect-four board [6, 7, 2] with the opponent's vertical three in `column`."""
    board = np.zeros((6, 7, 2), np.int8)
    board[3:, column, 1] = 1
    return board


def _logits_and_q(net: ActorCritic, boards: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    obs, member = torch.as_tensor(boards), torch.zeros(len(boards), dtype=torch.long)
    with torch.no_grad():
        dist, _, q = (
            net.with_q(obs, member, None) if net.q is not None else (*net(obs, member), None)
        )
    return dist.logits, q


@pytest.mark.parametrize("q_head", [False, True])
def test_a_spatial_head_answers_a_threat_alike_in_every_column(q_head):
    torch.manual_seed(0)
    info = builtin_game("connect_four_v3").info()
    model = ModelConfig(kind="cnn", hidden=[32], channels=8, action_head="spatial")
    net = PolicyFactory.from_config(info, model, "acer" if q_head else "ppo")("main")
    dense = PolicyFactory.from_config(info, model.model_copy(update={"action_head": "dense"}))(
        "main"
    )
    for module in (net, dense):
        with torch.no_grad():  # spread the outputs: the initial heads are nearly uniform
            for p in module.parameters():
                p.add_(torch.randn_like(p) * 0.3)
    # The same threat one column to the right: column 3's output on the shifted board is
    # column 2's on the first (both columns' 5-wide windows lie inside the board), taken
    # relative to column 6, which sees an empty neighbourhood on both boards.
    boards = np.stack([_three_in(2), _three_in(3)])
    (logits, q), (d_logits, _) = _logits_and_q(net, boards), _logits_and_q(dense, boards)
    shifted = lambda x: (x[0, 2] - x[0, 6], x[1, 3] - x[1, 6])  # noqa: E731
    a, b = shifted(logits)
    assert torch.allclose(a, b, atol=1e-5) and abs(float(a)) > 1e-3
    if q_head:
        assert torch.allclose(q[0, 2], q[1, 3], atol=1e-5)
    a, b = shifted(d_logits)  # a dense head has no such sharing (the test can fail)
    assert not torch.allclose(a, b, atol=1e-3)
    # act, the forward pass and outputs agree; tic-tac-toe's cells are its actions.
    out = net.act(boards, np.zeros(2, np.int64), np.ones((2, 7), bool))
    np.testing.assert_allclose(out.probs, torch.softmax(logits, -1), atol=1e-6)
    ttt = builtin_game("tictactoe_v3").info()
    net = PolicyFactory.from_config(ttt, model)("main")
    assert net.act(np.zeros((4, 3, 3, 2), np.int8), np.zeros(4, np.int64), None).probs.shape == (
        4,
        9,
    )


def test_a_spatial_head_must_fit_the_game():
    from envs import GameError
    from envs.spec import check_action_axes

    board = Spaces(obs_shape=(6, 7, 2), obs_dtype="int8", image=False, has_mask=True, n_actions=7)
    for axes, needle in [
        ((0,), "give 6 positions .* but it has 7 actions"),
        ((0, 1), "give 42 positions"),
        ((2,), "must be distinct board axes"),
        ((1, 1), "must be distinct board axes"),
    ]:
        with pytest.raises(GameError, match=needle):
            check_action_axes("g", axes, board)
    with pytest.raises(GameError, match="Discrete action space and \\[H, W, C\\]"):
        check_action_axes("g", (0,), DISCRETE)
    for kwargs in ({"kind": "mlp"}, {"kind": "cnn", "lstm": 8}):
        with pytest.raises(ValueError, match="spatial action head needs the small-board CNN"):
            ActorCritic(board, n_members=1, action_axes=(1,), **kwargs)
