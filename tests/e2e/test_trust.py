"""A run directory is code: opening one created elsewhere that names user code needs
`--trust-code` (or LEAGUE_TRUST_CODE=1); without it, one line lists what would run."""

from __future__ import annotations

import json
import os

import pytest

from conftest import ROOT, cli_json, run_cli, tiny_overrides

pytestmark = pytest.mark.slow

GAME = """
from pettingzoo.classic import tictactoe_v3


def env(**kwargs):
    return tictactoe_v3.env(**kwargs)
"""


def test_a_run_from_elsewhere_runs_its_code_only_when_trusted(tmp_path):
    (tmp_path / "mygame.py").write_text(GAME)
    sets = [a for o in tiny_overrides("tictactoe") for a in ("--set", o)]
    sets += ["--set", "game.name=mygame", "--set", "game.env=mygame:env"]
    cli_json("train", "tictactoe", "--runs-dir", "runs", "--name", "mine", *sets, cwd=tmp_path)
    run = tmp_path / "runs" / "mine"
    origin = json.loads((run / "origin.json").read_text())
    assert set(origin) == {"user", "host"}
    assert cli_json("table", "--run", str(run), cwd=tmp_path)["leaderboard"]  # made here

    # The same run as if copied from another machine, its config edited to run a command.
    (run / "origin.json").write_text(json.dumps({**origin, "host": "elsewhere"}))
    config = (run / "config.yaml").read_text()
    hostile = config.replace("env: mygame:env", "env: os:system\n  kwargs: {command: touch PWNED}")
    assert hostile != config
    (run / "config.yaml").write_text(hostile)
    for command in (
        ["table", "--run", str(run)],
        ["eval", "latest", "random", "--run", str(run), "--games", "2"],
        ["train", "--resume", str(run)],
    ):
        proc = run_cli(*command, cwd=tmp_path, check=False)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "os:system" in lines[0] and "--trust-code" in lines[0]
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "PWNED").exists()

    # Trusted (the flag or the variable), its own code runs again.
    (run / "config.yaml").write_text(config)
    assert run_cli("table", "--run", str(run), "--trust-code", cwd=tmp_path).returncode == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEAGUE_TRUST_CODE": "1"}
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "league", "table", "--run", str(run)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
