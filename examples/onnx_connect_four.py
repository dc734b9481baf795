"""Play connect four with an exported agent, using only onnxruntime, numpy and PettingZoo.

    league export --run runs/connect_four latest --format onnx --out c4.onnx
    python examples/onnx_connect_four.py c4.onnx [--games 100]

The agent plays both seats in turn against uniformly random moves and the script
prints its score (win 1, draw 0.5) as JSON. Nothing from League is imported.
"""

import argparse
import json

import numpy as np
import onnxruntime as ort
from pettingzoo.classic import connect_four_v3

parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("--games", type=int, default=100)
args = parser.parse_args()

policy = ort.InferenceSession(args.model)
meta = json.loads(policy.get_modelmeta().custom_metadata_map["league"])
rng = np.random.default_rng(0)
env = connect_four_v3.env()
score = 0.0
for game in range(args.games):
    env.reset(seed=game)
    me = env.possible_agents[game % 2]  # the agent moves first in every other game
    state = np.zeros((1, meta["state_size"]), dtype=np.float32)  # a recurrent agent's memory
    for agent in env.agent_iter():
        obs, reward, terminated, truncated, _ = env.last()
        if terminated or truncated:
            if agent == me:
                score += (reward + 1) / 2  # +1 win, 0 draw, -1 loss
            action = None
        elif agent == me:
            feeds = {
                "obs": obs["observation"][None].astype(np.float32),
                "member": np.zeros(1, dtype=np.int64),  # index within the team
                "mask": obs["action_mask"][None].astype(bool),
            }
            if meta["state_size"]:  # recurrent: the state goes in, the next comes out
                feeds["state"] = state
            probs, value, *recurrent = policy.run(None, feeds)
            state = recurrent[0] if recurrent else state
            action = int(rng.choice(len(probs[0]), p=probs[0] / probs[0].sum()))
        else:
            action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
        env.step(action)
print(json.dumps({"games": args.games, "score": score / args.games}))
