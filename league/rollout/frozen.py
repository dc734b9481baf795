"""A frozen snapshot's forward pass in ONNX Runtime.

Snapshot opponents act in small batches (a few env copies of a worker each), where
eager PyTorch's cost per call, not per sample, dominates: on connect four's network one
call of 1 to 4 rows took 1.4 ms eager and 0.35 ms in ONNX Runtime, and such calls were
40% of a worker's inference time in a default run (`bench/inference_options.py`,
BENCHMARKS.md). Building a session costs about 0.15 s, paid once per snapshot: its
weights never change; it holds about 4-7 MB for that network. The learning policies
stay eager (their weights change every iteration, and their large batches gain little).

Only Discrete action spaces are frozen (their actions are drawn here from the graph's
probabilities); without `onnxruntime` (the `export` extra) every snapshot stays eager.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from agents import ActorCritic, ActOutput
from agents.graph import onnx_bytes, signature

FREEZE_AFTER = 32
"""Calls a snapshot makes in eager PyTorch before it is frozen: one played for a game
or two (a league exploiter's rarely drawn opponents) never pays for a session."""


def can_freeze(policy: ActorCritic) -> bool:
    """Whether `policy` can act through ONNX Runtime here."""
    sp = policy.spaces
    return sp.discrete and not sp.multi and importlib.util.find_spec("onnxruntime") is not None


class FrozenPolicy:
    """`ActorCritic.act` for one set of weights, run by an ONNX Runtime session on one
    thread: the same probabilities and values (to float32 rounding), the action drawn
    from them with `rng` (argmax when greedy)."""

    def __init__(self, policy: ActorCritic, rng: np.random.Generator) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            onnx_bytes(policy), options, providers=["CPUExecutionProvider"]
        )
        self.outputs = signature(policy)[1]
        self.n_actions, self.state_size = policy.spaces.n_actions, policy.state_size
        self.rng = rng

    def act(
        self,
        obs: np.ndarray,
        member: np.ndarray,
        mask: np.ndarray | None,
        state: np.ndarray | None = None,
        *,
        greedy: bool = False,
    ) -> ActOutput:
        """Pick actions for a batch of agents (shapes as `ActorCritic.act`)."""
        n = len(obs)
        if mask is None:
            mask = np.ones((n, self.n_actions), dtype=bool)
        feeds = {
            "obs": np.asarray(obs, dtype=np.float32),
            "member": np.asarray(member, dtype=np.int64),
            "mask": np.asarray(mask, dtype=bool),
        }
        if self.state_size:
            feeds["state"] = (
                np.zeros((n, self.state_size), np.float32)
                if state is None
                else np.asarray(state, dtype=np.float32)
            )
        got = dict(zip(self.outputs, self.session.run(self.outputs, feeds), strict=True))
        return choose(got["probs"], got["value"], got.get("state_out"), self.rng, greedy)


def choose(
    probs: np.ndarray,
    value: np.ndarray,
    state: np.ndarray | None,
    rng: np.random.Generator,
    greedy: bool,
) -> ActOutput:
    """A snapshot's actions from its probabilities [B, A]: drawn with `rng` (`draw`), or
    the most likely when greedy. Eager and frozen alike, so that a snapshot plays the
    same games whenever it froze (a resumed run rebuilds its players)."""
    action = probs.argmax(axis=1) if greedy else draw(probs, rng)
    with np.errstate(divide="ignore"):
        logp = np.log(probs[np.arange(len(probs)), action])
    return ActOutput(action, logp, value, probs, state)


def draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of `probs` [B, A], with those probabilities (inverse CDF, one
    uniform number per row); an action of probability 0 is never drawn."""
    cdf = probs.cumsum(axis=1, dtype=np.float64)
    u = rng.random((len(probs), 1)) * cdf[:, -1:]
    action = (cdf <= u).sum(axis=1)
    # Rounding can leave u at the total: take the last action with any probability.
    last = probs.shape[1] - 1 - (probs[:, ::-1] > 0).argmax(axis=1)
    return np.minimum(action, last)
