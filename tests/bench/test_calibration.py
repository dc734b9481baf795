"""bench/throughput.py's calibration: the machine's speed on work no project code changes."""

from __future__ import annotations

import math
import sys

import torch

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import throughput


def test_calibration_rates_are_positive_and_leave_the_threads_as_they_were():
    threads = torch.get_num_threads()
    rates = throughput.calibration(seconds=0.05)
    assert set(rates) == {"gemm_gflops_1thread", "python_mloops"}
    assert all(math.isfinite(v) and v > 0 for v in rates.values())
    assert torch.get_num_threads() == threads


def test_calibration_divides_the_work_by_the_fastest_timing():
    # A clock that advances 0.5 s per call: every timing reads one tick, whatever runs.
    ticks = iter(range(10_000))
    rates = throughput.calibration(seconds=0.1, clock=lambda: 0.5 * next(ticks))
    # One repetition a timing (0.5 s >= 0.1 / 9 at once): work / 0.5 s.
    assert rates["gemm_gflops_1thread"] == round(2 * 256**3 / 1e9 / 0.5, 2)
    assert rates["python_mloops"] == round(0.01 / 0.5, 2)


def test_calibrated_measures_before_and_after_the_block():
    with throughput.calibrated() as speeds:
        assert set(speeds) == {"before"}
    assert set(speeds) == {"before", "after"}
    assert set(speeds["after"]) == {"gemm_gflops_1thread", "python_mloops"}
