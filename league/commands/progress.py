"""The training progress line that `league train` shows on stderr."""

from __future__ import annotations

import sys


class Progress:
    """Training progress on stderr: a live line within 80 columns on a terminal; where
    stderr is not a terminal (nohup, CI, a log file), one plain line every N iterations."""

    def __init__(self, total: int, start: int, *, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.total, self.wr = total, "-"
        self.live = enabled and sys.stderr.isatty()
        self.plain = enabled and not self.live
        self.every = max(1, round(total / 20))
        self.progress = Progress(
            TextColumn("iter"),
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
        self.task = self.progress.add_task(
            "train", total=total, completed=start, steps="0", sps="-", wr="-"
        )

    def __enter__(self) -> Progress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def update(self, iteration: int, env_steps: int, metrics: dict[str, float]) -> None:
        """Show the iteration just finished."""
        if "league/score_vs_random" in metrics:
            self.wr = f"{metrics['league/score_vs_random']:.2f}"
        steps, sps = _short(env_steps), _short(metrics.get("charts/SPS", 0.0))
        self.progress.update(self.task, completed=iteration, steps=steps, sps=sps, wr=self.wr)
        if self.plain and (iteration % self.every == 0 or iteration == self.total):
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
