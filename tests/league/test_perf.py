"""Each iteration's cost, stage by stage (`perf/*` in TensorBoard and in the metrics)."""

from __future__ import annotations

from conftest import CONFIGS, tiny_overrides
from league.config import load_config
from league.store import TENSORBOARD_DIR, new_run
from league.training import Trainer

STAGES = ("broadcast", "collect", "learn", "snapshot", "evaluation")
WORKER_STAGES = ("env", "inference", "bookkeeping")


def test_every_iteration_reports_what_each_stage_cost(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = load_config(CONFIGS / "tictactoe.yaml", tiny_overrides("tictactoe"))
    trainer = Trainer(config, new_run(config, tmp_path))
    seen: list[dict[str, float]] = []
    try:
        trainer.train(iterations=2, on_iteration=seen.append)
    finally:
        trainer.close()
    for metrics in seen:
        for stage in STAGES:
            assert metrics[f"perf/{stage}_seconds"] >= 0.0, stage
        worker = [metrics[f"perf/worker_{s}_seconds"] for s in WORKER_STAGES]
        assert all(w > 0 for w in worker), worker
        # Rollouts in the driver (no workers): the stages fit in the collect time.
        assert sum(worker) <= metrics["perf/collect_seconds"] * 1.01 + 1e-3
        assert 0 < metrics["perf/gae_seconds"] <= metrics["perf/learn_seconds"]
        parts = sum(metrics[f"perf/{s}_seconds"] for s in STAGES)
        assert parts <= metrics["perf/iteration_seconds"] * 1.01 + 1e-3
    acc = EventAccumulator(str(tmp_path / config.name / TENSORBOARD_DIR))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {f"perf/{s}_seconds" for s in (*STAGES, "iteration", "checkpoint")} <= tags
    assert {f"perf/worker_{s}_seconds" for s in WORKER_STAGES} <= tags
