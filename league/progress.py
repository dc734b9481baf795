"""The training progress line (`league train`, `league.api.train(progress=True)`)."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """Training progress on stderr: a live line within 80 columns on a terminal; where
    stderr is not a terminal (a notebook, nohup, CI, a log file), one plain line after
    the first iteration, then one every N iterations (before the first, nothing: an
    error there stays one line)."""

    def __init__(self, *, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.total, self.wr, self.every, self.start_at = 0, "-", 1, 0
        self.live = enabled and sys.stderr.isatty()
        self.plain = enabled and not self.live
        self.progress = Progress(
            TextColumn("{task.description}"),
            MofNCompleteColumn(),
            BarColumn(bar_width=10),
            TextColumn("{task.fields[steps]} steps {task.fields[sps]}/s vs rnd {task.fields[wr]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not self.live,
            expand=False,
        )
        self.task = self.progress.add_task("", total=None, steps="0", sps="-", wr="-")

    def __enter__(self) -> Progress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def status(self, what: str) -> None:
        """Say what is happening before the first iteration ends (on a terminal)."""
        self.progress.update(self.task, description=what)

    def start(self, total: int, start: int) -> None:
        """The run is built: count its iterations from `start` to `total`."""
        self.total, self.every, self.start_at = total, max(1, round(total / 20)), start
        what = f"iteration {start + 1} (the first takes longest)" if start < total else "done"
        self.progress.update(self.task, total=total, completed=start)
        self.status(what)

    def update(self, iteration: int, env_steps: int, metrics: dict[str, float]) -> None:
        """Show the iteration just finished."""
        if "league/score_vs_random" in metrics:
            self.wr = f"{metrics['league/score_vs_random']:.2f}"
        steps, sps = _short(env_steps), _short(metrics.get("charts/SPS", 0.0))
        self.progress.update(
            self.task, description="iter", completed=iteration, steps=steps, sps=sps, wr=self.wr
        )
        first = iteration == self.start_at + 1
        if self.plain and (first or iteration % self.every == 0 or iteration == self.total):
            print(
                f"iter {iteration}/{self.total}  {steps} env steps  {sps} steps/s  "
                f"vs random {self.wr}",
                file=sys.stderr,
                flush=True,
            )


def _short(x: float) -> str:
    """A count in at most 5 characters: 950, 12.3k, 4.56M."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= size:
            return f"{x / size:.3g}{unit}"
    return f"{x:.0f}"
