"""The acting policy as a graph of tensors: what `league export` writes and what a
frozen snapshot acts with in ONNX Runtime.

The graph is `ActorCritic.outputs` in float32 without the Q head. Its inputs and
outputs, by name (`signature`): `obs`, `member`, `mask` (Discrete action spaces only)
and `state` (recurrent policies) in; `probs` ((Multi)Discrete) or `mean` and `std`
(Box), `value`, and `state_out` (recurrent) out. The batch axis is dynamic.
"""

from __future__ import annotations

import copy
import io
import warnings

import torch
from torch import nn

from agents.policy import ActorCritic

ONNX_OPSET = 17


class ActingGraph(nn.Module):
    """The acting policy as a function of tensors only (float32, no Q head, a copy)."""

    def __init__(self, policy: ActorCritic) -> None:
        super().__init__()
        self.policy = copy.deepcopy(policy).cpu().float().eval()
        self.policy.torso_dtype = torch.float32
        self.policy.q = None

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        names = signature(self.policy)[0]
        return self.policy.outputs(**dict(zip(names, inputs, strict=True)))


def signature(policy: ActorCritic) -> tuple[list[str], list[str]]:
    """The input and output names of the graph of `policy`."""
    sp = policy.spaces
    inputs = ["obs", "member", "mask"] if sp.discrete else ["obs", "member"]
    outputs = ["probs", "value"] if sp.n_actions else ["mean", "std", "value"]
    if policy.recurrent:
        return [*inputs, "state"], [*outputs, "state_out"]
    return inputs, outputs


def example_inputs(policy: ActorCritic, batch: int = 2) -> tuple[torch.Tensor, ...]:
    """Inputs of the right shapes and dtypes (all actions legal) to trace the graph with."""
    sp = policy.spaces
    obs = torch.zeros((batch, *sp.obs_shape), dtype=torch.float32)
    member = torch.zeros(batch, dtype=torch.int64)
    mask = (torch.ones((batch, sp.n_actions), dtype=torch.bool),) if sp.discrete else ()
    state = (torch.zeros((batch, policy.state_size)),) if policy.recurrent else ()
    return obs, member, *mask, *state


def onnx_bytes(policy: ActorCritic, *, fold: bool = True) -> bytes:
    """The policy's graph as a serialised ONNX model (opset `ONNX_OPSET`).

    `fold=False` keeps the exporter from folding constants, so that every parameter the
    graph reads stays an initializer named as in `ActingGraph`'s state dict
    (`policy.<name>`): a session can then be built with other weights of the same
    network (`league.rollout.frozen.GraphTemplate`)."""
    inputs, outputs = signature(policy)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's notices
        torch.onnx.export(
            ActingGraph(policy),
            example_inputs(policy),
            buf,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in (*inputs, *outputs)},
            opset_version=ONNX_OPSET,
            do_constant_folding=fold,
            dynamo=False,
        )
    return buf.getvalue()
