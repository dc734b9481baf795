"""Several machines, really: a head and a worker node in network namespaces of their own
(`tests/netns.py`), the worker node with no view of the runs directory.

Runs where network namespaces can be made (root, as CI runs); elsewhere it is skipped
with the reason.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from netns import Cluster, available

from conftest import tiny_overrides
from league.store import Registry, load_checkpoint

pytestmark = [
    pytest.mark.ray,
    pytest.mark.xdist_group("cluster"),  # one test process builds the two-node cluster once
    pytest.mark.skipif(available() is not None, reason=f"no cluster here: {available()}"),
]

ITERATIONS = 6


def _sets(*extra: str) -> list[str]:
    overrides = [o for o in tiny_overrides("connect_four") if not o.startswith("train.workers")]
    overrides += ["train.steps_per_iteration=512", "train.rating_games=4", *extra]
    return [arg for o in overrides for arg in ("--set", o)]


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cluster-runs")


@pytest.fixture(scope="session")
def cluster(runs):
    made = Cluster(hide=[runs])
    try:
        yield made
    finally:
        made.close()
        assert not made.left_running(), made.left_running()


@pytest.fixture(scope="session")
def trained(cluster, runs) -> tuple[Path, dict]:
    """A short run whose two rollout workers sit one on each node."""
    out = cluster.league(
        "train", "connect_four", "--runs-dir", str(runs), "--name", "spread",
        "--address", cluster.address, "--workers", "2", "--iterations", "3", *_sets(), "--json",
    )  # fmt: skip
    return runs / "spread", json.loads(out.stdout)


def _worker_ips(cluster: Cluster) -> set[str]:
    return {a["ip"] for a in cluster.actors() if a["class"] == "RolloutWorker"}


def test_training_places_rollout_workers_on_both_nodes(cluster, trained):
    run_dir, summary = trained
    assert summary["workers"] == 2 and summary["iterations"] == 3
    assert summary["worker_restarts"] == 0
    assert _worker_ips(cluster) == {cluster.head_ip, cluster.node_ip}  # from Ray's GCS
    with Registry(run_dir) as reg:
        assert reg.integrity_ok() and len(reg.snapshots()) == 3
    assert (run_dir / "league.log").exists()


def test_eval_and_tournament_run_on_the_cluster(cluster, trained):
    run_dir, _ = trained
    out = cluster.league(
        "eval", "latest", "random", "--run", str(run_dir), "--games", "40",
        "--address", cluster.address, "--json",
    )  # fmt: skip
    stats = json.loads(out.stdout)
    assert stats["games"] == 40 and stats["wins"] + stats["draws"] + stats["losses"] == 40
    out = cluster.league(
        "tournament", "--run", str(run_dir), "--games", "4", "--top", "2",
        "--address", cluster.address, "--json",
    )  # fmt: skip
    board = json.loads(out.stdout)
    assert {"random", "scripted"} <= set(board["players"])


def _train_and_lose_the_node(cluster: Cluster, runs: Path, name: str, *extra: str):
    """Start a run on both nodes, kill the worker node once the run has a checkpoint,
    and return the finished process (stdout, stderr) and the run directory. (Carrying on
    without the lost worker, the default, is tested on the loopback cluster:
    `tests/league/test_lost_workers.py`.)"""
    run_dir = runs / name
    proc = cluster.popen_league(
        "train", "connect_four", "--runs-dir", str(runs), "--name", name,
        "--address", cluster.address, "--workers", "2", "--iterations", str(ITERATIONS),
        *_sets("train.placement_timeout=5", *extra), "--json",
    )  # fmt: skip
    checkpoint = run_dir / "checkpoint.safetensors"
    try:
        deadline = time.monotonic() + 300
        while not checkpoint.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never wrote a checkpoint"
            time.sleep(0.2)
        cluster.kill_node()
        out, err = proc.communicate(timeout=300)  # a hang fails here
    finally:
        if proc.poll() is None:
            proc.kill()
        cluster.start_node()  # for the tests after
    return proc.returncode, out, err, run_dir


def test_a_lost_node_with_stop_ends_with_a_checkpoint_and_resume_finishes(cluster, runs):
    code, out, err, run_dir = _train_and_lose_the_node(
        cluster, runs, "stop", "train.on_lost_worker=stop"
    )
    assert code == 2 and not out
    assert "could not be placed within 5 s: it needs {'CPU': 1}" in err
    assert re.search(r"1 of \d+ nodes alive", err) and "Traceback" not in err
    assert f"league train --resume {run_dir}" in err
    stopped_at = load_checkpoint(run_dir / "checkpoint.safetensors")["counters"]["iteration"]
    assert stopped_at < ITERATIONS

    out = cluster.league("train", "--resume", str(run_dir), "--address", cluster.address, "--json")
    summary = json.loads(out.stdout)
    assert summary["iterations"] == ITERATIONS and summary["workers"] == 2
    assert summary["worker_restarts"] == 1  # the one that died with its node
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
