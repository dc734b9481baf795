"""Measure ways to make a rollout worker's forward pass cheaper, each alone on one core.

A worker asks its policy for a batch of actions every step: `ActorCritic.act` under
`torch.no_grad` today. This times, per sample, at the batch sizes a worker sees
(`--batches`), on 1 torch thread (a worker's setting), interleaved `--repeats` times
(medians):

- `eager`: `ActorCritic.act` as the workers call it;
- `inference_mode`: the same under `torch.inference_mode()`;
- `channels_last`: the network's convolution weights in channels-last memory format
  (the observations already arrive channels-last: [B, H, W, C] permuted);
- `jit_frozen`: the policy's `outputs` traced, frozen and optimised for inference
  (`torch.jit.optimize_for_inference`), the action drawn from its probabilities;
- `onnxruntime`: `FrozenPolicy` built from the policy alone: the graph exported and
  a session built for each new set of weights (what frozen snapshots did until commit
  57149f3 of 2026-12-07), the action drawn in numpy;
- `onnxruntime_template`: `FrozenPolicy` from the role's `GraphTemplate`, exported once:
  what every player acts with now, a learning policy getting a new session (not a new
  export) for each broadcast;
- `compiled`: `torch.compile` of the policy's `outputs` (inductor, C++ on a CPU).

Options that rebuild a graph from the weights pay that rebuild every time the learner
broadcasts new weights (once an iteration); `rebuild_s` gives its seconds, and
`per_iteration_ms` the cost of one iteration's inference for a worker's share of
`train.steps_per_iteration` at that batch size, rebuild included. `parity` gives the
largest absolute difference of each option's action probabilities from `eager`'s.

    python bench/inference_options.py [--config configs/connect_four.yaml]
                                      [--batches 16 32 64] [--repeats 5] [--calls 200]
                                      [--workers 2] [--out bench/results/inference_options.json]

Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from agents.graph import ActingGraph
from league.config import load_config
from league.game_config import resolve_game
from league.rollout import PolicyFactory
from league.rollout.frozen import FrozenPolicy, GraphTemplate, draw

ROOT = Path(__file__).resolve().parents[1]
Act = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(obs, member, mask) -> action probabilities [B, A] (an action is drawn from them)."""


def build_options(example: tuple[np.ndarray, ...]) -> dict[str, Callable[..., Act]]:
    """Each option: policy (with its current weights) -> act function."""
    rng = np.random.default_rng(0)

    def eager(p):
        return lambda o, m, k: p.act(o, m, k).probs

    def inference_mode(p):
        def act(o, m, k):
            with torch.inference_mode():
                return p.act(o, m, k).probs

        return act

    def channels_last(p):
        p.to(memory_format=torch.channels_last)
        return eager(p)

    def jit_frozen(p):
        tensors = tuple(torch.as_tensor(x) for x in example)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(ActingGraph(p).eval(), tensors, check_trace=False)
            return _graph_act(torch.jit.optimize_for_inference(torch.jit.freeze(traced)), rng)

    def onnxruntime(p):
        frozen = FrozenPolicy(p, rng)  # exported afresh
        return lambda o, m, k: frozen.act(o, m, k).probs

    templates: list[GraphTemplate] = []

    def onnxruntime_template(p):
        if not templates:  # exported once: the first (warm-up) build pays for it
            templates.append(GraphTemplate(p))
        frozen = FrozenPolicy(p, rng, templates[0])
        return lambda o, m, k: frozen.act(o, m, k).probs

    def compiled(p):
        return _graph_act(torch.compile(ActingGraph(p).eval(), dynamic=False), rng)

    return {
        "eager": eager,
        "inference_mode": inference_mode,
        "channels_last": channels_last,
        "jit_frozen": jit_frozen,
        "onnxruntime": onnxruntime,
        "onnxruntime_template": onnxruntime_template,
        "compiled": compiled,
    }


def _graph_act(graph: Callable, rng: np.random.Generator) -> Act:
    """Act with a traced or compiled graph of the policy: its probabilities, one action
    drawn from them as a frozen snapshot draws it."""

    def act(o, m, k):
        with torch.no_grad():
            probs = graph(torch.as_tensor(o), torch.as_tensor(m), torch.as_tensor(k))[0].numpy()
        draw(probs, rng)
        return probs

    return act


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "connect_four.yaml"))
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--options", nargs="+", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "inference_options.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(Path(args.config), args.overrides)
    info = resolve_game(config).info()
    role = sorted(set(info.roles.values()))[0]
    spaces = info.role_spaces[role]
    factory = PolicyFactory.from_config(info, config.model)
    reference = factory(role)
    rng = np.random.default_rng(0)
    results: dict = {"config": Path(args.config).name, "overrides": args.overrides}
    from throughput import machine  # bench/ is on sys.path

    results["machine"] = machine(config)
    per_iteration_rows = config.train.steps_per_iteration / max(1, args.workers)
    for b in args.batches:
        obs = rng.integers(0, 2, (b, *spaces.obs_shape)).astype(spaces.obs_dtype)
        member = np.zeros(b, np.int64)
        mask = rng.random((b, spaces.n_actions)) > 0.2
        mask[:, 0] = True
        want = reference.act(obs, member, mask).probs
        options = build_options((obs, member, mask))
        chosen = args.options or list(options)
        acts, rebuild, parity = {}, {}, {}
        for name in chosen:
            policy = factory(role)
            policy.load_state_dict(reference.state_dict())
            start = time.perf_counter()
            act = options[name](policy)
            for _ in range(3):  # warm-up: the first calls build kernels
                got = act(obs, member, mask)
            rebuild[name] = time.perf_counter() - start
            # A rebuild is timed again once warm (what each broadcast costs).
            start = time.perf_counter()
            act = options[name](policy)
            act(obs, member, mask)
            rebuild[name] = min(rebuild[name], time.perf_counter() - start)
            acts[name] = act
            parity[name] = float(np.abs(got - want).max())
        samples: dict[str, list[float]] = {n: [] for n in chosen}
        for _ in range(args.repeats):
            for name, act in acts.items():
                start = time.perf_counter()
                for _ in range(args.calls):
                    act(obs, member, mask)
                samples[name].append((time.perf_counter() - start) / (args.calls * b))
        per_sample = {n: statistics.median(v) for n, v in samples.items()}
        rebuilds = {
            n: (0.0 if n in ("eager", "inference_mode", "channels_last") else rebuild[n])
            for n in chosen
        }
        results[f"batch_{b}"] = {
            "us_per_sample": {n: round(v * 1e6, 2) for n, v in per_sample.items()},
            "speed_up": {n: round(per_sample["eager"] / v, 2) for n, v in per_sample.items()}
            if "eager" in per_sample
            else {},
            "rebuild_s": {n: round(v, 4) for n, v in rebuilds.items()},
            "per_iteration_ms": {
                n: round((per_sample[n] * per_iteration_rows + rebuilds[n]) * 1e3, 1)
                for n in chosen
            },
            "parity": parity,
        }
        print(f"batch {b}: " + json.dumps(results[f"batch_{b}"]), flush=True)
    with contextlib.suppress(OSError):
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
