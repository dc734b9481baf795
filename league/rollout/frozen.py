"""A policy's forward pass in ONNX Runtime: what every player with a network acts with
where it can (Discrete actions, `onnxruntime` installed).

A worker acts in small batches (its env copies where one player is to move), where eager
PyTorch's cost per call, not per sample, dominates: on connect four's network one call of
1 to 4 rows took 1.4 ms eager and 0.35 ms in ONNX Runtime, and 32 rows 85 us a row
against 58 (`bench/inference_options.py`, BENCHMARKS.md). A network's graph is exported
once per role and worker (`GraphTemplate`, about 0.15 s); a session for new weights of
it is then built from that graph (about 10 ms): once per snapshot, whose weights never
change, and once per iteration for a learning policy, whose weights the learner
broadcasts. A session holds about 4-7 MB for that network.

Without `onnx` and `onnxruntime` (the `export` extra), or for other action spaces,
players stay eager.
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from agents import ActorCritic, ActOutput
from agents.graph import onnx_bytes, signature

FREEZE_AFTER = 8
"""Calls a snapshot makes in eager PyTorch before it is frozen: a session (about 10 ms,
the cost of some 8 small eager calls) is paid only by a snapshot that plays on."""


def can_freeze(policy: ActorCritic) -> bool:
    """Whether `policy` can act through ONNX Runtime here."""
    sp = policy.spaces
    found = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
    return sp.discrete and not sp.multi and found


class GraphTemplate:
    """A network's acting graph, exported once without folding constants, so that its
    weights stay initializers named as in the network's state dict: a session for any
    weights of that network writes them into the graph and builds a session from it,
    without exporting again. (`SessionOptions.add_initializer` would skip the copy, but
    ONNX Runtime 1.32's full optimisation then computes some layers with the exported
    weights, not the added ones.)"""

    def __init__(self, policy: ActorCritic) -> None:
        import onnx

        # Exported from a copy with distinct random weights: the exporter merges
        # initializers of equal values (two zero biases) into one, and the weights of
        # a later session may differ where these were equal.
        probe = copy.deepcopy(policy).cpu()
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for t in probe.state_dict().values():
                if t.is_floating_point():
                    t.copy_(torch.rand(t.shape, generator=gen))
        self.graph = onnx.load_from_string(onnx_bytes(probe, fold=False))
        keys = {k for k, t in policy.state_dict().items() if t.is_floating_point()}
        self.params = {
            init.name.removeprefix("policy."): init
            for init in self.graph.graph.initializer
            if init.name.startswith("policy.") and init.name.removeprefix("policy.") in keys
        }
        """State-dict key -> the initializer (float32, raw data) that holds it."""
        self.outputs = signature(policy)[1]
        self.n_actions, self.state_size = policy.spaces.n_actions, policy.state_size

    def session(self, state: Mapping[str, torch.Tensor]) -> Any:
        """An ONNX Runtime session (1 thread) for the network with weights `state`."""
        import onnxruntime as ort

        for key, init in self.params.items():
            init.raw_data = state[key].detach().to("cpu", torch.float32).numpy().tobytes()
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        return ort.InferenceSession(
            self.graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )


class FrozenPolicy:
    """`ActorCritic.act` for the policy's weights as they are now, run by an ONNX Runtime
    session on one thread: the same probabilities and values (to float32 rounding), the
    action drawn from them with `rng` (argmax when greedy). `template`: the network's
    exported graph (built here when not given)."""

    def __init__(
        self,
        policy: ActorCritic,
        rng: np.random.Generator,
        template: GraphTemplate | None = None,
    ) -> None:
        template = template if template is not None else GraphTemplate(policy)
        self.session = template.session(policy.state_dict())
        self.outputs = template.outputs
        self.n_actions, self.state_size = template.n_actions, template.state_size
        self.rng = rng

    def act(
        self,
        obs: np.ndarray,
        member: np.ndarray,
        mask: np.ndarray | None,
        state: np.ndarray | None = None,
        *,
        greedy: bool = False,
    ) -> ActOutput:
        """Pick actions for a batch of agents (shapes as `ActorCritic.act`)."""
        n = len(obs)
        if mask is None:
            mask = np.ones((n, self.n_actions), dtype=bool)
        feeds = {
            "obs": np.asarray(obs, dtype=np.float32),
            "member": np.asarray(member, dtype=np.int64),
            "mask": np.asarray(mask, dtype=bool),
        }
        if self.state_size:
            feeds["state"] = (
                np.zeros((n, self.state_size), np.float32)
                if state is None
                else np.asarray(state, dtype=np.float32)
            )
        got = dict(zip(self.outputs, self.session.run(self.outputs, feeds), strict=True))
        return choose(got["probs"], got["value"], got.get("state_out"), self.rng, greedy)


def choose(
    probs: np.ndarray,
    value: np.ndarray,
    state: np.ndarray | None,
    rng: np.random.Generator,
    greedy: bool,
) -> ActOutput:
    """A player's actions from its probabilities [B, A]: drawn with `rng` (`draw`), or
    the most likely when greedy. Eager and frozen alike, so that a player plays the
    same games whenever it froze (a resumed run rebuilds its players)."""
    action = probs.argmax(axis=1) if greedy else draw(probs, rng)
    with np.errstate(divide="ignore"):
        logp = np.log(probs[np.arange(len(probs)), action])
    return ActOutput(action, logp, value, probs, state)


def draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of `probs` [B, A], with those probabilities (inverse CDF, one
    uniform number per row); an action of probability 0 is never drawn."""
    cdf = probs.cumsum(axis=1, dtype=np.float64)
    u = rng.random((len(probs), 1)) * cdf[:, -1:]
    action = (cdf <= u).sum(axis=1)
    # Rounding can leave u at the total: take the last action with any probability.
    last = probs.shape[1] - 1 - (probs[:, ::-1] > 0).argmax(axis=1)
    return np.minimum(action, last)
