"""The progress bar of ``aiotrack import``: tqdm on stderr (counts, rows, rate, ETA)."""

from __future__ import annotations

from typing import Any, TextIO

from tqdm import tqdm

from aiotrack.transfer.importer import Progress

__all__ = ["BarProgress"]


class BarProgress(Progress):
    """Redraws in place on a terminal; on a pipe or log file, one line every 10 seconds."""

    def __init__(self, out: TextIO, *, enabled: bool = True) -> None:
        self.out = out
        self.enabled = enabled
        self.rows = 0
        self.unit = "rows"
        self._bar: tqdm[Any] | None = None

    def start(self, total: int, unit: str) -> None:
        self.unit = unit
        if not self.enabled:
            return
        interactive = self.out.isatty()
        self._bar = tqdm(
            total=total,
            unit=f" {unit}",
            file=self.out,
            dynamic_ncols=interactive,
            mininterval=0.2 if interactive else 10.0,
            desc="importing",
        )

    def advance(self, units: int, rows: int) -> None:
        self.rows += rows
        if self._bar is not None:
            if self.unit != "rows":  # counting runs: show the rows beside them
                self._bar.set_postfix_str(f"{self.rows:,} rows", refresh=False)
            self._bar.update(units)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
