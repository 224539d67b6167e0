"""The progress of long work, on stderr: on a terminal, a rich progress bar per task (items,
rate, and the time left where the total is known); off a terminal, one summary line per
task when it ends. The work reports through plain callbacks, so ingest and rule modules
know nothing of rich::

    with Tracker() as tracker:
        files = tracker.task("loading", unit="files", total=file_count(path))
        summary = ingest(store, path, progress=tracker.say,
                         count=lambda read, objects: files.update(read))
        files.finish(f"{sum(summary.objects.values())} nodes written")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as RichTask
from rich.table import Column
from rich.text import Text

from korrel8.console.output import err, message

__all__ = ["Task", "Tracker"]


class _Rate(ProgressColumn):
    """Items per second, with the task's unit: ``412 files/s``."""

    def render(self, task: RichTask) -> Text:
        speed, unit = task.finished_speed or task.speed, task.fields.get("unit", "")
        if not speed:
            return Text("")
        return Text(f"{speed:,.0f} {unit}/s" if speed >= 10 else f"{speed:.1f} {unit}/s")


def _fixed(width: int | None = None) -> Column:
    return Column(no_wrap=True, min_width=width)


def _note(width: int) -> Column:
    return Column(no_wrap=True, overflow="ellipsis", max_width=max(12, width - 80))


class Tracker:
    """Progress bars on ``console`` if it is a terminal, else summary lines, or nothing at
    all without a console; a context manager (the bars stop at its end). ``bars`` is the
    rich Progress on a terminal; ``clock`` gives the seconds for rates and times left."""

    def __init__(
        self, console: Console | None = err, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.console, self.clock = console, clock
        self.live = console is not None and console.is_terminal
        self.bars: Progress | None = None
        if console is not None and self.live:
            self.bars = Progress(
                TextColumn("{task.description}", table_column=_fixed()),
                BarColumn(bar_width=24),
                MofNCompleteColumn(table_column=_fixed()),
                _Rate(table_column=_fixed(12)),
                TimeElapsedColumn(table_column=_fixed(7)),
                TimeRemainingColumn(table_column=_fixed(7)),
                # What it is at: cut short, so that the rest fits an 80-column terminal.
                TextColumn("{task.fields[note]}", table_column=_note(console.width)),
                console=console,
                get_time=clock,
            )

    def __enter__(self) -> Tracker:
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.bars is not None:
            self.bars.stop()

    def say(self, text: str) -> None:
        """A message: above the bars on a terminal, a line off one."""
        if self.console is not None:
            message(text, self.console)

    def task(self, description: str, *, unit: str = "items", total: int | None = None) -> Task:
        task_id = None
        if self.bars is not None:
            task_id = self.bars.add_task(description, total=total, unit=unit, note="")
        return Task(self, task_id, description, unit, total)


class Task:
    """One bar: ``update`` or ``advance`` it as the work goes, ``finish`` it at the end."""

    def __init__(
        self, tracker: Tracker, task_id: TaskID | None, description: str, unit: str,
        total: int | None,
    ) -> None:  # fmt: skip
        self.tracker, self.task_id, self.description = tracker, task_id, description
        self.unit, self.total = unit, total
        self.completed = 0
        self.started = tracker.clock()
        self.finished = False

    def update(self, completed: int, *, total: int | None = None, note: str = "") -> None:
        self.completed = completed
        self.total = total if total is not None else self.total
        bars = self.tracker.bars
        if bars is not None and self.task_id is not None:
            bars.update(self.task_id, completed=completed, total=self.total, note=note)

    def advance(self, n: int = 1, *, note: str = "") -> None:
        self.update(self.completed + n, note=note)

    def finish(self, note: str = "", *, quiet: bool = False) -> None:
        """The bar full; off a terminal, one line: ``description: N unit in S s (R unit/s),
        note`` (none if ``quiet``: a caller that prints its own summary)."""
        if self.finished:
            return
        self.finished = True
        seconds = self.tracker.clock() - self.started
        bars = self.tracker.bars
        if bars is not None and self.task_id is not None:
            bars.update(self.task_id, completed=self.completed, total=self.completed, note=note)
            bars.stop_task(self.task_id)
        elif not quiet:
            rate = f" ({self.completed / seconds:,.0f} {self.unit}/s)" if seconds >= 0.5 else ""
            line = f"{self.description}: {self.completed} {self.unit} in {seconds:.1f} s{rate}"
            self.tracker.say(line + (f", {note}" if note else ""))
