"""Connect-four tactics of a snapshot: how often it takes a win and blocks a threat.

Plays a snapshot of a run (sampled actions, seats alternating, `--opening` random moves
first) against the random, scripted or tactical bot or itself, and counts, at each of the
snapshot's own moves:
- a win on offer (a column that completes four): taken or missed;
- a single threat to block (no win of its own, exactly one column where the opponent
  would complete four): blocked or missed;
- a move that lets the opponent win by playing on top of it (with no win or threat on
  the board), when a move that does not was available.

    python bench/tactics.py --run runs/connect_four [--snapshot latest]
        [--opponent random|scripted|tactical|self] [--games 200] [--opening 2] [--seed 1]
        [--out FILE.json]

`--snapshot scripted` plays the scripted bot in the snapshot's place: it never misses a
win or a block, which checks the counting itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from pettingzoo.classic import connect_four_v3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from envs.bots import (  # noqa: E402
    _connects,
    _landing_row,
    connect_four_bot,
    connect_four_tactical_bot,
)
from league.evaluation.arena import Arena  # noqa: E402


def winning_columns(stones: np.ndarray, occupied: np.ndarray) -> list[int]:
    """Columns where one more stone on `stones` completes four."""
    out = []
    for col in range(occupied.shape[1]):
        row = _landing_row(occupied, col)
        if row is None:
            continue
        trial = stones.copy()
        trial[row, col] = True
        if _connects(trial, row, col, 4):
            out.append(col)
    return out


def gives_win(theirs: np.ndarray, occupied: np.ndarray, col: int) -> bool:
    """True if playing `col` lets the opponent complete four on top of it."""
    row = _landing_row(occupied, col)
    if row is None or row == 0:
        return False
    trial = theirs.copy()
    trial[row - 1, col] = True
    return _connects(trial, row - 1, col, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--snapshot", default="latest")
    parser.add_argument(
        "--opponent", choices=("random", "scripted", "tactical", "self"), default="random"
    )
    parser.add_argument("--games", type=int, default=200)
    parser.add_argument("--opening", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out")
    args = parser.parse_args()

    arena = Arena.open(args.run, None)
    net = None
    if args.snapshot != "scripted":
        player = arena.resolve(args.snapshot)
        net = arena.factory(player.role)
        net.load_state_dict(arena.weights[player])
        net.eval()
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)

    def policy(board: np.ndarray, mask: np.ndarray) -> int:
        if net is None:
            return connect_four_bot(board, mask)
        with torch.no_grad():
            obs = board[None].astype(np.float32)
            return int(net.act(obs, np.array([0]), mask[None].astype(bool)).action[0])

    counts = dict.fromkeys(
        (
            "games",
            "wins",
            "draws",
            "losses",
            "win_offered",
            "win_missed",
            "threat",
            "block_missed",
            "gave_win",
        ),
        0,
    )
    for game in range(args.games):
        env = connect_four_v3.env()
        env.reset(seed=args.seed * 100_000 + game)
        me = env.possible_agents[game % 2]
        moves = 0
        for agent in env.agent_iter():
            obs, reward, term, trunc, _ = env.last()
            if term or trunc:
                if agent == me:
                    key = "wins" if reward > 0 else "losses" if reward < 0 else "draws"
                    counts[key] += 1
                env.step(None)
                continue
            board, mask = obs["observation"], obs["action_mask"]
            mine, theirs = board[:, :, 0].astype(bool), board[:, :, 1].astype(bool)
            occupied = mine | theirs
            if moves < args.opening:
                action = int(rng.choice(np.flatnonzero(mask)))
            elif agent == me:
                action = policy(board, mask)
                wins, threats = winning_columns(mine, occupied), winning_columns(theirs, occupied)
                if wins:
                    counts["win_offered"] += 1
                    counts["win_missed"] += action not in wins
                elif len(threats) == 1:
                    counts["threat"] += 1
                    counts["block_missed"] += action not in threats
                elif not threats and gives_win(theirs, occupied, action):
                    safe = [c for c in np.flatnonzero(mask) if not gives_win(theirs, occupied, c)]
                    counts["gave_win"] += bool(safe)
            elif args.opponent == "random":
                action = int(rng.choice(np.flatnonzero(mask)))
            elif args.opponent == "scripted":
                action = connect_four_bot(board, mask)
            elif args.opponent == "tactical":
                action = int(connect_four_tactical_bot(board, mask, rng=rng))
            else:
                action = policy(board, mask)
            moves += 1
            env.step(action)
        counts["games"] += 1
    result = {
        "args": vars(args),
        **counts,
        "win_taken_rate": 1 - counts["win_missed"] / max(counts["win_offered"], 1),
        "block_rate": 1 - counts["block_missed"] / max(counts["threat"], 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
