"""Write a snapshot as a self-contained policy file: ONNX or TorchScript (`league export`).

The exported graph is `ActorCritic.outputs`, with these inputs and outputs:

| name   | shape           | dtype   | meaning                                            |
|--------|-----------------|---------|----------------------------------------------------|
| obs    | [B, *obs_shape] | float32 | the game's preprocessed observation (pixels 0-255) |
| member | [B]             | int64   | the agent's index within its team                  |
| mask   | [B, A]          | bool    | legal actions (Discrete action spaces only)        |
| probs  | [B, A]          | float32 | pi(. given obs); MultiDiscrete: per dimension      |
| mean   | [B, D]          | float32 | Gaussian mean (Box action spaces)                  |
| std    | [B, D]          | float32 | Gaussian standard deviation (Box action spaces)    |
| value  | [B]             | float32 | V(obs)                                             |
| state  | [B, S]          | float32 | recurrent policies: the agent's state (h then c)   |
| state_out | [B, S]       | float32 | recurrent policies: its state after this step      |

A recurrent policy takes `state` as its last input (zeros at an agent's first step of
an episode) and returns `state_out` as its last output: feed that back in as `state`
with the agent's next observation (`state_size` in the description gives S).

A JSON description (game, player, spaces, preprocessing, inputs, outputs) travels
inside the file: ONNX `metadata_props` key `league`, TorchScript extra file
`league.json`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch

from agents import ActorCritic
from agents.graph import ActingGraph, example_inputs, onnx_bytes, signature
from envs import GameSpec
from league.evaluation import EvalError

FORMATS = ("onnx", "torchscript")
METADATA_KEY = "league"
"""The ONNX metadata key, and the TorchScript extra file `league.json`, of the description."""


def describe(policy: ActorCritic, spec: GameSpec, player: str, fmt: str) -> dict[str, Any]:
    """What a user of the file needs to know, stored inside it."""
    sp = policy.spaces
    inputs, outputs = signature(policy)
    return {
        "format": fmt,
        "game": spec.name,
        "player": player,
        "obs_shape": list(sp.obs_shape),
        "obs_dtype": sp.obs_dtype,
        "members": policy.n_members,
        "n_actions": sp.n_actions,
        "nvec": list(sp.nvec),
        "action_shape": list(sp.action_shape),
        "state_size": policy.state_size,
        "preprocessing": [[name, dict(kwargs)] for name, kwargs in spec.preprocessing],
        "inputs": inputs,
        "outputs": outputs,
    }


def export_policy(
    policy: ActorCritic, spec: GameSpec, player: str, *, fmt: str, out: Path
) -> dict[str, Any]:
    """Write `policy` to `out` as `fmt`; return the description stored with it."""
    if fmt not in FORMATS:
        raise EvalError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    meta = describe(policy, spec, player, fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "torchscript":
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notice
            traced = torch.jit.trace(ActingGraph(policy), example_inputs(policy))
            torch.jit.save(traced, str(out), _extra_files={"league.json": json.dumps(meta)})
        return meta
    try:
        import onnx
    except ImportError:
        raise EvalError(
            "--format onnx needs the export extra: pip install 'league[export]'"
        ) from None
    tmp = out.with_name(out.name + ".tmp")
    model = onnx.load_from_string(onnx_bytes(policy))
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    onnx.save(model, str(tmp))
    tmp.replace(out)
    return meta
