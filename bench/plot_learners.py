"""Plot the learners' connect-four learning curves from `bench/learning.py` results.

    python bench/plot_learners.py bench/results/learning_ppo.json bench/results/learning_trpo.json \
        bench/results/learning_acer.json --out bench/results/learners.png

Each JSON holds one run per `--p-latest`; the first run of each file is plotted: its
score against the random bot and against the scripted bot, by wall-clock minutes and
by env steps (equal time and equal experience).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="bench/learning.py JSON files")
    parser.add_argument("--out", default="bench/results/learners.png")
    args = parser.parse_args()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for path in args.results:
        run = json.loads(Path(path).read_text())["runs"][0]
        algo = next((o.split("=", 1)[1] for o in run["overrides"] if "learner.algo=" in o), "ppo")
        rows = run["rows"]
        for ax, x in zip(axes, ("minutes", "env_steps"), strict=True):
            xs = [r[x] for r in rows]
            (line,) = ax.plot(xs, [r["score"] for r in rows], marker="o", label=f"{algo} vs random")
            ax.plot(
                xs,
                [r["scripted_score"] for r in rows],
                marker="s",
                linestyle="--",
                color=line.get_color(),
                label=f"{algo} vs scripted",
            )
    axes[0].set_xlabel("wall-clock minutes of training")
    axes[1].set_xlabel("env steps")
    axes[0].set_ylabel("score (win 1, draw 0.5), 200 games")
    for ax in axes:
        ax.axhline(0.95, color="grey", linewidth=0.8, linestyle=":")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle("connect four: PPO, TRPO and ACER (shipped config, learner switched)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(args.out)


if __name__ == "__main__":
    main()
