"""`league export`: the exported ONNX and TorchScript policies equal the torch policy."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from agents import ActorCritic
from envs import Spaces, builtin_game
from league.evaluation import EvalError
from league.export import METADATA_KEY, export_policy, signature
from tests.fixtures.batches import BOX, DISCRETE, MULTI

BOARD = Spaces(obs_shape=(6, 7, 2), obs_dtype="int8", image=False, has_mask=True, n_actions=7)
PIXELS = Spaces(obs_shape=(42, 42, 4), obs_dtype="uint8", image=True, has_mask=False, n_actions=6)

KINDS = {
    "mlp-discrete": (DISCRETE, "mlp"),
    "grid-cnn-discrete": (BOARD, "cnn"),
    "mirrored-grid-cnn": (BOARD, "mirror"),
    "spatial-grid-cnn": (BOARD, "spatial"),
    "pixel-cnn-discrete": (PIXELS, "auto"),
    "mlp-multidiscrete": (MULTI, "mlp"),
    "mlp-continuous": (BOX, "mlp"),
    "lstm-discrete": (DISCRETE, "lstm"),
    "lstm-continuous": (BOX, "lstm"),
}
"""Every policy kind the league trains: torso (MLP, grid CNN, pixel CNN) x action head,
recurrent, and board networks with their mirror built in (`model.mirror`) and with a
spatial action head (`model.action_head: spatial`)."""


def _policy(spaces: Spaces, kind: str) -> ActorCritic:
    torch.manual_seed(0)
    if kind == "lstm":  # a recurrent policy: its state is an input and an output
        net = ActorCritic(spaces, n_members=3, hidden=(32, 32), lstm=16, chunk_length=4)
    elif kind == "mirror":
        mirror = builtin_game("connect_four_v3").mirror
        net = ActorCritic(spaces, n_members=3, hidden=(32, 32), kind="cnn", mirror=mirror)
    elif kind == "spatial":
        net = ActorCritic(spaces, n_members=3, hidden=(32,), kind="cnn", action_axes=(1,))
    else:
        net = ActorCritic(spaces, n_members=3, hidden=(32, 32), kind=kind, channels=8)
    with torch.no_grad():  # spread the outputs: the initial heads are nearly uniform
        for name, p in net.named_parameters():
            if not name.startswith("torso."):
                p.add_(torch.randn_like(p) * 0.3)
    return net.eval()


def _inputs(spaces: Spaces, n: int = 64, state_size: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    if spaces.obs_dtype == "uint8":
        obs = rng.integers(0, 256, size=(n, *spaces.obs_shape)).astype(np.float32)
    else:
        obs = rng.normal(size=(n, *spaces.obs_shape)).astype(np.float32)
    feeds = {"obs": obs, "member": rng.integers(0, 3, size=n).astype(np.int64)}
    if spaces.discrete:
        mask = rng.random((n, spaces.n_actions)) < 0.5
        mask[np.arange(n), rng.integers(0, spaces.n_actions, size=n)] = True  # one legal
        feeds["mask"] = mask
    if state_size:
        feeds["state"] = rng.normal(size=(n, state_size)).astype(np.float32)
    return feeds


def _reference(net: ActorCritic, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    with torch.no_grad():
        out = net.outputs(**{k: torch.as_tensor(feeds[k]) for k in signature(net)[0]})
    return [t.numpy() for t in out]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_onnx_and_torchscript_outputs_equal_the_torch_policy(kind, tmp_path):
    spaces, torso = KINDS[kind]
    net = _policy(spaces, torso)
    feeds = _inputs(spaces, state_size=net.state_size)
    want = _reference(net, feeds)
    spec = builtin_game("connect_four_v3")

    meta = export_policy(net, spec, "main@1", fmt="onnx", out=tmp_path / "p.onnx")
    session = ort.InferenceSession(str(tmp_path / "p.onnx"))
    assert [i.name for i in session.get_inputs()] == meta["inputs"]
    assert [o.name for o in session.get_outputs()] == meta["outputs"]
    got = session.run(None, feeds)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-4)

    export_policy(net, spec, "main@1", fmt="torchscript", out=tmp_path / "p.pt")
    extra = {"league.json": ""}
    module = torch.jit.load(str(tmp_path / "p.pt"), _extra_files=extra)
    assert json.loads(extra["league.json"])["inputs"] == meta["inputs"]
    with torch.no_grad():
        scripted = module(*(torch.as_tensor(feeds[k]) for k in meta["inputs"]))
    for g, w in zip(scripted, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w, atol=1e-4)


def test_exported_probabilities_are_the_policys_and_illegal_actions_get_none(tmp_path):
    net = _policy(BOARD, "cnn")
    feeds = _inputs(BOARD)
    export_policy(net, builtin_game("connect_four_v3"), "main@1", fmt="onnx", out=tmp_path / "a")
    probs, value = ort.InferenceSession(str(tmp_path / "a")).run(None, feeds)
    assert (probs[~feeds["mask"]] == 0).all()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    acted = net.act(feeds["obs"], feeds["member"], feeds["mask"])  # what the rollout sees
    np.testing.assert_allclose(probs, acted.probs, atol=1e-4)
    np.testing.assert_allclose(value, acted.value, atol=1e-4)


def test_the_description_travels_inside_the_onnx_file(tmp_path):
    net = _policy(PIXELS, "auto")
    spec = builtin_game("volleyball_pong_v3")
    export_policy(net, spec, "main@7", fmt="onnx", out=tmp_path / "p.onnx")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "p.onnx")).metadata_props}
    meta = json.loads(props[METADATA_KEY])
    assert meta["game"] == "volleyball_pong_v3" and meta["player"] == "main@7"
    assert meta["obs_shape"] == [42, 42, 4] and meta["members"] == 3
    assert ["resize", {"x_size": 42, "y_size": 42}] in meta["preprocessing"]
    assert not (tmp_path / "p.onnx.tmp").exists()


def test_an_unknown_format_is_refused(tmp_path):
    with pytest.raises(EvalError, match="--format 'tflite'"):
        _export_tictactoe("tflite", tmp_path / "p")


def test_onnx_without_the_export_extra_says_which_extra_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed
    with pytest.raises(EvalError, match=r"pip install 'league\[export\]'"):
        _export_tictactoe("onnx", tmp_path / "p.onnx")


def _export_tictactoe(fmt, out):
    spec = builtin_game("tictactoe_v3")
    return export_policy(_policy(DISCRETE, "mlp"), spec, "x", fmt=fmt, out=out)
