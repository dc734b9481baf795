"""The inference benchmarks run end to end on tiny budgets and measure what they claim:
every option's probabilities are eager's, and every forward pass of a run is counted."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT / "bench",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_inference_options_match_eager_and_price_a_rebuild(tmp_path):
    out = tmp_path / "options.json"
    _run(
        "inference_options.py",
        "--batches", "3",
        "--repeats", "1",
        "--calls", "2",
        "--options", "eager", "jit_frozen", "onnxruntime",
        "--out", str(out),
    )  # fmt: skip
    got = json.loads(out.read_text())["batch_3"]
    assert set(got["us_per_sample"]) == {"eager", "jit_frozen", "onnxruntime"}
    assert max(got["parity"].values()) < 1e-5
    assert got["rebuild_s"]["eager"] == 0 and got["rebuild_s"]["onnxruntime"] > 0


def test_inference_calls_counts_every_forward_pass_by_rows():
    out = _run(
        "inference_calls.py",
        "--iterations", "3",
        "--measure", "2",
        "--set", "train.steps_per_iteration=256",
        "--set", "train.envs=8",
    )  # fmt: skip
    got = json.loads(out)
    assert got["env_steps"] > 0 and got["inference_us_per_env_step"] > 0
    rows = got["by_rows"]
    assert sum(v["calls"] for v in rows.values()) > 0
    assert abs(sum(v["share"] for v in rows.values()) - 1) < 0.01
