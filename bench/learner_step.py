"""Time one PPO gradient step of a config's network in float32 and in bfloat16.

Builds the learner of a shipped config (connect four by default) and runs
`PPO.update` on a synthetic batch of random boards with legal-action masks, one
epoch, KL early stop off, so every update is `--steps` gradient steps of exactly
`minibatch_size` rows. The precisions are interleaved `--repeats` times and the
median milliseconds per gradient step are printed (2 torch threads, as the driver).
`--compile` adds float32 with the policy under `torch.compile` (inductor) and the
seconds its compilation took. `--device cuda` (or `auto`) runs the learner on the GPU;
the clock then stops only after `torch.cuda.synchronize()`, so queued kernels are
counted.

    python bench/learner_step.py [--config configs/connect_four.yaml] [--repeats 5]
                                 [--steps 20] [--device cpu|cuda|auto]
                                 [--set key.path=value ...] [--compile]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from agents import PPO, Batch, StepParams, resolve_device
from league.config import load_config
from league.game_config import resolve_game
from league.rollout import PolicyFactory

ROOT = Path(__file__).resolve().parents[1]


def synthetic_batch(info, role: str, n: int, rng: np.random.Generator) -> Batch:
    """Random observations of the role's shape with random legal actions and returns."""
    spaces = info.role_spaces[role]
    obs = rng.integers(0, 2, (n, *spaces.obs_shape)).astype(spaces.obs_dtype)
    mask = rng.random((n, spaces.n_actions)) > 0.2
    mask[:, 0] = True
    action = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
    probs = mask / mask.sum(axis=1, keepdims=True)
    reward = rng.choice([-1.0, 0.0, 1.0], n).astype(np.float32)
    done = rng.random(n) < 0.05
    done[-1] = True  # every stream ends with done
    return Batch(
        obs=obs,
        mask=mask,
        member=np.zeros(n, np.int64),
        action=action,
        logp=np.log(probs[np.arange(n), action]).astype(np.float32),
        value=np.zeros(n, np.float32),
        probs=probs.astype(np.float32),
        reward=reward,
        components=reward[:, None],
        done=done,
        truncated=np.zeros(n, bool),
        bootstrap=np.zeros(n, np.float32),
        version=np.zeros(n, np.int64),
        team=np.zeros(n, np.int64),
        episode=np.arange(n),
        state=np.zeros((n, 0), np.float32),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "connect_four.yaml"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument(
        "--compile", action="store_true", help="also time float32 with torch.compile"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    device = resolve_device(args.device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    config = load_config(Path(args.config), args.overrides)
    info = resolve_game(config).info()
    role = sorted(set(info.roles.values()))[0]
    mb = config.learner.ppo.minibatch_size
    settings = config.learner.ppo.model_copy(update={"epochs": 1, "target_kl": None})
    params = StepParams(gamma=0.99, lr=3e-4, ent_coef=0.01)
    batch = synthetic_batch(info, role, mb * args.steps, np.random.default_rng(0))
    learners, compile_s = {}, None
    for name in ("float32", "bfloat16", *(["float32_compiled"] if args.compile else [])):
        policy = PolicyFactory.from_config(info, config.model)(role)
        policy.torso_dtype = getattr(torch, name.removesuffix("_compiled"))
        start = time.perf_counter()
        if name.endswith("_compiled"):
            policy.compile()  # in place: the state dict keeps its keys
        learners[name] = PPO(policy, settings, device=device)
        learners[name].update(batch, params)  # warm-up: kernels for this shape are built here
        sync()
        if name.endswith("_compiled"):
            compile_s = time.perf_counter() - start
    samples: dict[str, list[float]] = {name: [] for name in learners}
    for _ in range(args.repeats):
        for name, learner in learners.items():
            start = time.perf_counter()
            learner.update(batch, params)
            sync()
            samples[name].append((time.perf_counter() - start) / args.steps * 1e3)
    med = {name: statistics.median(v) for name, v in samples.items()}
    print(
        json.dumps(
            {
                "config": Path(args.config).name,
                "overrides": args.overrides,
                "device": str(device),
                "device_name": (
                    torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
                ),
                "torch": torch.__version__,
                "minibatch_size": mb,
                "ms_per_step_median": {k: round(v, 2) for k, v in med.items()},
                "speed-up": round(med["float32"] / med["bfloat16"], 2),
                **(
                    {
                        "compiled_speed_up": round(med["float32"] / med["float32_compiled"], 2),
                        "compile_and_first_update_s": round(compile_s, 1),
                    }
                    if compile_s is not None
                    else {}
                ),
                "samples_ms": {k: [round(x, 2) for x in v] for k, v in samples.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
