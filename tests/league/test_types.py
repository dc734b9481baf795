"""mypy passes on the public API (`league.api`, held to the strict flags in
pyproject.toml) and the modules whose types it returns: CI runs it with the tests."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

CHECKED = (
    "league/api.py",
    "league/run.py",
    "league/progress.py",
    "league/evaluation",
    "league/config.py",
    "league/store",
    "league/training/exploit.py",
)


def test_mypy_passes_on_the_public_api():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", *CHECKED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
