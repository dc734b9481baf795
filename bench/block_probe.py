"""Does a connect-four snapshot block a three it can see? Hand-made positions, no games.

For each column c, the opponent has three stacked in column c (a vertical threat) and
the snapshot's own stones sit two or more columns away, with no win of their own; for
each side, the opponent has three on the bottom row with the fourth cell open at the
inner end (a horizontal threat). Prints the probability the snapshot's policy gives the
one blocking column, and its argmax, per position.

    python bench/block_probe.py --run RUN_DIR [--snapshot latest] [--out FILE.json]

Every probability is the sampled policy's; a block probability near 0 means sampling
practically never finds the block, so self-play and PPO cannot learn it from experience.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from envs.bots import connect_four_bot
from league.evaluation import Arena

COLS = 7


# Ours for each threatened column c: a pair stacked in column a and one stone in column
# b, both at least two columns from c: no line of ours can be completed in one move.
_OURS = {0: (2, 5), 1: (3, 6), 2: (4, 0), 3: (0, 5), 4: (6, 1), 5: (3, 0), 6: (4, 1)}


def _vertical(c: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Their three stacked in column c, ours elsewhere."""
    a, b = _OURS[c]
    return [(5, a), (4, a), (5, b)], [(5, c), (4, c), (3, c)]


POSITIONS = {
    **{f"vertical three in column {c}": (c, *_vertical(c)) for c in range(COLS)},
    # Their three on the bottom row at an edge; the block is the inner end. Ours on row 4.
    "bottom row 0-2, block 3": (3, [(4, 0), (4, 1), (5, 6)], [(5, 0), (5, 1), (5, 2)]),
    "bottom row 4-6, block 3": (3, [(4, 6), (4, 5), (5, 0)], [(5, 4), (5, 5), (5, 6)]),
}
"""Name -> (blocking column, our stones, their stones) as (row, column), row 5 the bottom."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--snapshot", default="latest")
    parser.add_argument("--out")
    args = parser.parse_args()
    arena = Arena.open(args.run, None)
    player = arena.resolve(args.snapshot)
    net = arena.factory(player.role)
    net.load_state_dict(arena.weights[player])
    rows = {}
    for name, (block, mine, theirs) in POSITIONS.items():
        obs = np.zeros((1, 6, COLS, 2), np.int8)
        for r, c in mine:
            obs[0, r, c, 0] = 1
        for r, c in theirs:
            obs[0, r, c, 1] = 1
        mask = ~(obs[0, 0, :, 0] | obs[0, 0, :, 1]).astype(bool)[None]
        # The scripted bot (win first, else block) must block here: the position is
        # what its name says (no win of ours, one threat of theirs).
        assert connect_four_bot(obs[0], mask[0]) == block, name
        out = net.act(obs, np.zeros(1, np.int64), mask, greedy=True)
        rows[name] = {"block": float(out.probs[0, block]), "argmax": int(out.action[0])}
        got = rows[name]
        print(f"{name:<28} P(block col {block}) = {got['block']:.3f}  argmax {got['argmax']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"run": args.run, "snapshot": str(player), "positions": rows}, f, indent=1)


if __name__ == "__main__":
    main()
