"""Measure rollout and training throughput against the raw env-stepping limit.

For connect_four_v3, simple_tag_v3 and battle_v4 (12 against 12), interleaved, `--repeats`
times (medians):
  (a) raw env stepping with random legal actions and no policy, in 1 and 2 processes;
  (b) our rollout sampling (policy inference, shaping, bookkeeping) on 1 and 2 Ray workers;
  (c) end-to-end PPO training with 2 Ray workers (collect + learn), env steps/s, in
      synchronous and asynchronous mode (`train.async`);
plus the peak memory (PSS summed over the driver and every Ray process) during (c), and
a model of what asynchronous mode gains with a learner N times faster (`async_model`).

The compute-bound limit (`compute_bound`): each compute stage measured alone on one
core, per env step: the env (1 / the 1-process raw rate), the forward passes (one
batched `act` over `train.envs` rows, per acting agent) and the learning (a PPO update
of `steps_per_iteration` synthetic rows at the learner's precision, per row, times the
rows learned per env step in (c)); the limit is the cores over their sum, and
`ratio_to_compute_bound` gives (c) against it. (c) also reports every `perf/*` stage
of the trainer (`stage_seconds_sync`): the workers' env, inference and bookkeeping
seconds, the weight broadcast, GAE, snapshots and evaluation.
With `--lstm SIZE`, (b) on 2 workers and (c) synchronous run again with a recurrent
policy (`model.recurrent: {kind: lstm, size: SIZE}`), interleaved with the feed-forward
cases, and `lstm_cost` gives each recurrent rate over its feed-forward one. `--no-async`
leaves the asynchronous case out.

`--workers 0` needs no Ray (it is imported only for workers > 0): (b) runs on the
in-process runner (`sampling_driver`, the driver's rollouts of `train.workers=0`) and
(c) trains synchronously with rollouts in the driver (`ppo_driver`); `--lstm` and the
asynchronous case are left out. `--set device=cuda --set precision=bfloat16` puts the
learner on a GPU (the `machine` line names the device and precision the run used).

The model, from the synchronous run's per-stage timings (C: seconds an iteration
collects, L: seconds it learns, S: env steps it collects): synchronous, an iteration
takes C + L/N; asynchronous, the workers collect while the learner learns, so it takes
max(C, L/N). Assumed: the learner and the workers have hardware of their own (a GPU and
rollout CPUs, not this machine's two shared cores); moving batches and weights costs
nothing next to C; the workers' speed does not depend on the policy version.

    python bench/throughput.py [--repeats 3] [--seconds 8] [--out bench/results/throughput.json]
                               [--games connect_four_v3 ...] [--set key.path=value ...]
                               [--lstm 256] [--no-async] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import numpy as np
import psutil
import torch

from envs import ShapingParams, builtin_game
from league.config import load_config
from league.rollout import PlayerPool, PolicyFactory, RolloutRequest, SerialRunner
from league.store import new_run
from league.training import Trainer
from matchmaking import OpponentSampler, SelfPlayMatchmaker

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"connect_four_v3": "connect_four", "simple_tag_v3": "simple_tag", "battle_v4": "battle"}


def _raw_worker(game: str, seconds: float, out: mp.Queue) -> None:
    """Step one env copy with uniformly random legal actions; report env steps/s."""
    spec = builtin_game(game)
    env = spec.create()
    rng = np.random.default_rng()
    steps, start = 0, time.monotonic()
    if spec.info().api == "aec":
        while time.monotonic() - start < seconds:
            env.reset(seed=int(rng.integers(2**31)))
            for _agent in env.agent_iter():
                obs, _, term, trunc, _ = env.last()
                action = None
                if not (term or trunc):
                    action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
                    steps += 1
                env.step(action)
    else:
        n = {a: env.action_space(a).n for a in env.possible_agents}
        while time.monotonic() - start < seconds:
            env.reset(seed=int(rng.integers(2**31)))
            while env.agents:
                env.step({a: int(rng.integers(n[a])) for a in env.agents})
                steps += 1
    out.put(steps / (time.monotonic() - start))


def raw_rate(game: str, procs: int, seconds: float) -> float:
    """Return the summed env steps/s of `procs` processes stepping the raw env."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    workers = [ctx.Process(target=_raw_worker, args=(game, seconds, out)) for _ in range(procs)]
    for w in workers:
        w.start()
    rates = [out.get() for _ in workers]
    for w in workers:
        w.join()
    return sum(rates)


def _config(game: str, workers: int, overrides: list[str]):
    """The game's shipped config with the `--set` overrides, on `workers` workers."""
    return load_config(
        ROOT / "configs" / f"{CONFIGS[game]}.yaml",
        [
            *overrides,
            f"train.workers={workers}",
            "train.eval_every=0",
            "train.iterations=1000000",
        ],
    )


def sampling_rate(game: str, workers: int, seconds: float, overrides: list[str]) -> float:
    """Return env steps/s of our rollouts (fresh policy, self-play) on `workers` Ray workers
    (0: the in-process runner)."""
    config = _config(game, workers, overrides)
    spec = builtin_game(game)
    info = spec.info()
    factory = PolicyFactory.from_config(info, config.model)
    if workers:
        from league.rollout.ray_workers import RayRunner

        runner = RayRunner(spec, info, workers=workers, envs=config.train.envs, factory=factory)
    else:
        runner = SerialRunner(spec, info, envs=config.train.envs, factory=factory)
    roles = sorted(set(info.roles.values()))
    try:
        runner.set_latest({r: factory(r).state_dict() for r in roles}, version=0)
        matchmaker = SelfPlayMatchmaker(info, {r: OpponentSampler(role=r) for r in roles})
        shaping = ShapingParams(weights=dict(config.reward.weights))
        runner.run(RolloutRequest(matchmaker, shaping, min_steps=500))  # warm-up
        steps, start, seed = 0, time.monotonic(), 1
        while time.monotonic() - start < seconds:
            request = RolloutRequest(
                matchmaker,
                shaping,
                seed=seed,
                min_steps=config.train.steps_per_iteration,
                fragment_length=config.train.fragment_length,
            )
            res = runner.run(request)
            steps += res.env_steps
            seed += 1
        return steps / (time.monotonic() - start)
    finally:
        runner.close()


def machine(config=None) -> str:
    """The CPU model, cores, memory, the learner's device and precision (from `config`;
    None: `auto` for both) and the library versions."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    from agents import resolve_device, resolve_precision

    device = resolve_device(config.device if config else "auto")
    precision = resolve_precision(config.precision if config else "auto", device)
    precision = str(precision).removeprefix("torch.")
    where = f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device
    return (
        f"{model}, {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"learner on {where} in {precision}, Python {platform.python_version()}, "
        f"torch {torch.__version__}, ray {metadata.version('ray')}"
    )


def calibration(seconds: float = 1.0, clock=time.perf_counter) -> dict[str, float]:
    """How fast this machine is right now, on work that no project code changes: float32
    matrix products on one torch thread (GFLOP/s) and a pure-Python loop (million
    iterations a second), each the best of three timings of at least `seconds` / 9 (the
    whole takes one to two times `seconds`).

    Machines of one kind differ from hour to hour (the same Leduc run made 515 and 920
    iterations in 10 minutes in two sessions), so every timed benchmark records this
    before and after its runs: figures from two sessions compare only where it agrees."""

    def best_rate(work: float, fn) -> float:
        def timed(reps: int) -> float:
            t = clock()
            for _ in range(reps):
                fn()
            return clock() - t

        reps = 1  # doubled until one timing takes `seconds` / 9
        while timed(reps) < seconds / 9 and reps < 1 << 20:
            reps *= 2
        return work * reps / min(timed(reps) for _ in range(3))

    n = 256
    a, b = torch.randn(n, n), torch.randn(n, n)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gflops = best_rate(2 * n**3 / 1e9, lambda: torch.mm(a, b))
    finally:
        torch.set_num_threads(threads)

    def loop() -> int:
        total = 0
        for i in range(10_000):
            total += i & 7
        return total

    loops = best_rate(0.01, loop)
    return {"gemm_gflops_1thread": round(gflops, 2), "python_mloops": round(loops, 2)}


@contextlib.contextmanager
def calibrated() -> Iterator[dict[str, dict[str, float]]]:
    """Record `calibration()` before and after the block, as {"before": ..., "after": ...}."""
    speeds = {"before": calibration()}
    yield speeds
    speeds["after"] = calibration()


def ray_pss() -> int:
    """Sum the PSS of this process and every Ray process on the machine."""
    total = 0
    me = psutil.Process()
    for proc in psutil.process_iter(["cmdline", "name"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if proc.pid == me.pid or "ray" in cmd or "raylet" in (proc.info["name"] or ""):
                total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


@contextlib.contextmanager
def peak_pss() -> Iterator[list[int]]:
    """Sample `ray_pss` twice a second while the block runs; the list's one item holds the
    peak (bytes) when it ends."""
    peak, stop = [0], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], ray_pss())
            stop.wait(0.5)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def training_rate(
    game: str, workers: int, seconds: float, overrides: list[str], *, asynchronous: bool = False
) -> tuple[float, int, dict[str, float]]:
    """Return end-to-end PPO env steps/s, the peak PSS (bytes) while training, and the
    mean per-iteration stage timings: collect and learn seconds, env steps, and every
    `perf/*` stage the trainer reports (broadcast, the workers' env, inference and
    bookkeeping seconds, GAE, snapshots, evaluation)."""
    config = _config(game, workers, [*overrides, f"train.async={str(asynchronous).lower()}"])
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = new_run(config.model_copy(update={"name": "bench"}), Path(tmp))
        trainer = Trainer(config, run_dir)
        stages: list[dict[str, float]] = []
        with contextlib.ExitStack() as stack:
            stack.callback(trainer.close)
            peak = stack.enter_context(peak_pss())
            trainer.iterate()  # warm-up
            steps0, start = trainer.counters.env_steps, time.monotonic()
            while time.monotonic() - start < seconds:
                before = trainer.counters.env_steps
                m = trainer.iterate()
                stages.append(
                    {
                        "collect_s": m["perf/collect_seconds"],
                        "learn_s": m["perf/learn_seconds"],
                        "env_steps": trainer.counters.env_steps - before,
                        "learn_steps": m["charts/learn_steps"],
                    }
                    | {k.removeprefix("perf/"): v for k, v in m.items() if k.startswith("perf/")}
                )
            rate = (trainer.counters.env_steps - steps0) / (time.monotonic() - start)
    return rate, peak[0], {k: statistics.mean(s[k] for s in stages) for k in stages[0]}


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with `n` torch threads (one core's worth with n=1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


STAGE_COSTS = ("inference_s", "learn_s", "broadcast_rebuild_s")
"""What `stage_costs` measures, in seconds, sampled once a repeat."""


def stage_costs(game: str, workers: int, overrides: list[str], repeats: int = 20) -> dict:
    """Seconds of one core per sample for the two compute stages besides the env, each
    measured alone: one batched forward pass per acting agent at the batch a worker uses
    (`train.envs`), by the learning policy as a worker's pool holds it (`PlayerPool`:
    ONNX Runtime where it can; `broadcast_rebuild_s`, what taking new weights then costs
    once an iteration, is reported beside it), and one learned sample (a PPO update of
    `steps_per_iteration` synthetic rows with the config's epochs and minibatches, at
    the learner's precision, divided by the rows)."""
    from learner_step import synthetic_batch  # bench/ is on sys.path

    from agents import PPO, StepParams, resolve_device, resolve_precision

    config = _config(game, workers, overrides)
    info = builtin_game(game).info()
    role = sorted(set(info.roles.values()))[0]
    factory = PolicyFactory.from_config(info, config.model)
    rng = np.random.default_rng(0)
    out = {}
    with torch_threads(1):
        # The learning policy as a worker holds it (in ONNX Runtime where it can be).
        pool = PlayerPool(factory, info=info, rng=rng)
        pool.set_latest(role, factory(role).state_dict(), version=0)
        player = pool.latest[role]
        batch = synthetic_batch(info, role, config.train.envs, rng)
        mask = batch.mask if info.role_spaces[role].discrete else None
        player.act(batch.obs, batch.member, mask)  # warm-up (exports the graph)
        start = time.perf_counter()
        pool.set_latest(role, factory(role).state_dict(), version=1)
        player.act(batch.obs, batch.member, mask)
        out["broadcast_rebuild_s"] = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(repeats):
            player.act(batch.obs, batch.member, mask)
        out["inference_s"] = (time.perf_counter() - start) / (repeats * config.train.envs)
        device = resolve_device(config.device)
        learner_policy = factory(role)
        learner_policy.torso_dtype = resolve_precision(config.precision, device)
        learner = PPO(learner_policy, config.learner.ppo, device=device)
        rows = synthetic_batch(info, role, config.train.steps_per_iteration, rng)
        params = StepParams(gamma=0.99, lr=3e-4, ent_coef=0.01)
        learner.update(rows, params)  # warm-up: kernels for these shapes
        start = time.perf_counter()
        learner.update(rows, params)
        out["learn_s"] = (time.perf_counter() - start) / len(rows)
    # A turn-based game has one acting agent per env step; a simultaneous one, all.
    out["acting_per_env_step"] = 1 if info.api == "aec" else len(info.agents)
    return out


def compute_bound(raw_1proc: float, costs: dict, learned_per_env_step: float) -> dict:
    """The env steps/s the machine's cores allow if nothing but the compute stages cost:
    the cores over one env step's summed seconds (env, inference, learning)."""
    per_step = {
        "env": 1.0 / raw_1proc,
        "inference": costs["inference_s"] * costs["acting_per_env_step"],
        "learn": costs["learn_s"] * learned_per_env_step,
    }
    cores = os.cpu_count() or 1
    return {
        "cores": cores,
        "seconds_per_env_step": per_step,
        "learned_per_env_step": learned_per_env_step,
        "limit": cores / sum(per_step.values()),
    }


def async_model(collect_s: float, learn_s: float, env_steps: float) -> dict[str, dict]:
    """Env steps/s, synchronous and asynchronous, with a learner N times faster (see the
    module docstring for the model and its assumptions)."""
    out = {}
    for n in (1, 2, 4, 8, 16):
        sync = env_steps / (collect_s + learn_s / n)
        asyn = env_steps / max(collect_s, learn_s / n)
        out[f"learner_{n}x"] = {"sync": sync, "async": asyn, "gain": asyn / sync}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--games", nargs="+", default=list(CONFIGS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "throughput.json"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--lstm", type=int, default=0, help="also measure an LSTM of this size")
    parser.add_argument("--no-async", dest="asynchronous", action="store_false")
    parser.add_argument(
        "--workers", type=int, default=2, help="Ray workers of (b) and (c); 0: no Ray"
    )
    args = parser.parse_args()
    # An LSTM reads dense features: the spatial action head stays with feed-forward nets.
    lstm = [
        *args.overrides,
        f"model.recurrent={{kind: lstm, size: {args.lstm}}}",
        "model.action_head=dense",
    ]
    w = args.workers
    label = f"{w}workers" if w else "driver"
    if w:
        from league.rollout.ray_workers import start_ray

        start_ray()
    samples: dict[str, dict[str, list[float]]] = {g: {} for g in args.games}
    peaks: dict[str, list[int]] = {g: [] for g in args.games}
    stage_samples: dict[str, list[dict[str, float]]] = {g: [] for g in args.games}
    acting: dict[str, int] = {}
    rest = (args.seconds, args.overrides)
    for rep in range(args.repeats):
        for game in args.games:
            cases = {
                "raw_1proc": lambda g=game: raw_rate(g, 1, args.seconds),
                "raw_2proc": lambda g=game: raw_rate(g, 2, args.seconds),
            }
            if w:
                cases["sampling_1worker"] = lambda g=game: sampling_rate(g, 1, *rest)
            cases[f"sampling_{label}"] = lambda g=game: sampling_rate(g, w, *rest)
            for case, fn in cases.items():
                samples[game].setdefault(case, []).append(fn())
            costs = stage_costs(game, w, args.overrides)
            for key in STAGE_COSTS:
                samples[game].setdefault(key, []).append(costs[key])
            acting[game] = costs["acting_per_env_step"]
            rate, peak, timing = training_rate(game, w, *rest)
            samples[game].setdefault(f"ppo_{label}", []).append(rate)
            stage_samples[game].append(timing)
            peaks[game].append(peak)
            if args.asynchronous and w:
                rate, peak, _ = training_rate(game, w, *rest, asynchronous=True)
                samples[game].setdefault(f"ppo_{label}_async", []).append(rate)
                peaks[game].append(peak)
            if args.lstm and w:
                rate = sampling_rate(game, w, args.seconds, lstm)
                samples[game].setdefault(f"sampling_{label}_lstm", []).append(rate)
                rate, peak, _ = training_rate(game, w, args.seconds, lstm)
                samples[game].setdefault(f"ppo_{label}_lstm", []).append(rate)
                peaks[game].append(peak)
            print(
                f"repeat {rep + 1}: {game} "
                + ", ".join(
                    f"{k}={v[-1]:.0f}" for k, v in samples[game].items() if not k.endswith("_s")
                ),
                flush=True,
            )
    results = {
        "machine": machine(_config(args.games[0], w, args.overrides)),
        "workers": w,
        "repeats": args.repeats,
        "seconds_per_sample": args.seconds,
        "overrides": args.overrides,
        "lstm": args.lstm,
        "games": {},
    }
    for game in args.games:
        med = {k: statistics.median(v) for k, v in samples[game].items()}
        costs = {k: med.pop(k) for k in STAGE_COSTS}
        limit = med["raw_2proc"]
        learned = sum(t["learn_steps"] for t in stage_samples[game]) / sum(
            t["env_steps"] for t in stage_samples[game]
        )
        bound = compute_bound(
            med["raw_1proc"], {**costs, "acting_per_env_step": acting[game]}, learned
        )
        results["games"][game] = {
            "median_env_steps_per_s": med,
            "samples": samples[game],
            "ratio_to_2proc_limit": {k: v / limit for k, v in med.items()},
            "broadcast_rebuild_s": costs["broadcast_rebuild_s"],
            "compute_bound": bound,
            "ratio_to_compute_bound": {
                k: v / bound["limit"] for k, v in med.items() if k.startswith("ppo_")
            },
            f"peak_pss_gib_{label}": max(peaks[game]) / 2**30,
            "stage_seconds_sync": (
                stages := {
                    k: statistics.median(t[k] for t in stage_samples[game])
                    for k in stage_samples[game][0]
                }
            ),
            "async_model": async_model(
                **{k: stages[k] for k in ("collect_s", "learn_s", "env_steps")}
            ),
        }
        if w:
            results["games"][game][f"sampling_{w}_over_1"] = (
                med[f"sampling_{label}"] / med["sampling_1worker"]
            )
        if args.lstm and w:
            results["games"][game]["lstm_cost"] = {
                case: med[f"{case}_lstm"] / med[case]
                for case in (f"sampling_{label}", f"ppo_{label}")
            }
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
