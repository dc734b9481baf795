"""Two Ray nodes against one: end-to-end env steps/s of `league train` on a cluster of a
head and a worker node (1 CPU each, in network namespaces joined by a veth pair:
`tests/netns.py`) against one node of 2 CPUs, both with 2 rollout workers.

On one 2-core machine the figure measures what a second node costs (object transfer
over a network, a second raylet), not a speed-up. Needs root. Run alone:

    python bench/cluster.py --iterations 30 --repeats 3 --out bench/results/cluster.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
from pathlib import Path

from throughput import machine  # bench/ is on sys.path when this script runs


def _load_netns():
    """`tests/netns.py`, the test suite's cluster harness (loaded by path: `tests/` on
    sys.path would shadow the `envs` package with `tests/envs`)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "netns.py"
    spec = importlib.util.spec_from_file_location("netns", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


netns = _load_netns()
LAYOUTS = {"one node, 2 CPUs": (2, 0), "two nodes, 1 CPU each": (1, 1)}


def one_run(cpus: tuple[int, int], iterations: int, runs: Path, name: str) -> dict:
    cluster = netns.Cluster(hide=[runs], cpus=cpus)
    try:
        out = cluster.league(
            "train", "connect_four", "--runs-dir", str(runs), "--name", name,
            "--address", cluster.address, "--workers", "2", "--iterations", str(iterations),
            "--set", "train.eval_every=0", "--set", "train.rating_games=0", "--json",
        )  # fmt: skip
    finally:
        cluster.close()
    summary = json.loads(out.stdout)
    return {
        "env_steps": summary["env_steps"],
        "seconds": summary["seconds"],
        "env_steps_per_s": summary["env_steps"] / summary["seconds"],
        "workers": summary["workers"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/cluster.json"))
    args = parser.parse_args()
    why = netns.available()
    if why is not None:
        sys.exit(f"bench/cluster.py: {why}")
    results: dict[str, list[dict]] = {layout: [] for layout in LAYOUTS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):  # interleaved, so drift hits both layouts alike
            for layout, cpus in LAYOUTS.items():
                run = one_run(cpus, args.iterations, Path(tmp), f"r{r}-{cpus[1]}")
                results[layout].append(run)
                print(
                    f"{layout}, repeat {r}: {run['env_steps_per_s']:,.0f} env steps/s", flush=True
                )
    medians = {
        layout: statistics.median(r["env_steps_per_s"] for r in runs)
        for layout, runs in results.items()
    }
    one, two = medians["one node, 2 CPUs"], medians["two nodes, 1 CPU each"]
    out = {
        "machine": machine(),
        "command": " ".join(sys.argv),
        "iterations": args.iterations,
        "runs": results,
        "median_env_steps_per_s": medians,
        "two_nodes_over_one": two / one,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"median: one node {one:,.0f}, two nodes {two:,.0f} env steps/s ({two / one:.2f}x)")


if __name__ == "__main__":
    main()
