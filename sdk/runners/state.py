"""The run state: an aggregator of unit results, the same for every runner.

:meth:`RunState.merge` adds a unit's counts, durations and quarantine records; the state
answers what the run has seen so far (rows in, rows quarantined, the report, the records of
one boundary) and whether the error budget is exceeded. It logs nothing and calls no hook:
the runner base does that from these totals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import pandas as pd

from sdk.profile import DatasetProfile, merge_profiles
from sdk.quarantine import empty_quarantine
from sdk.result import REPORT_COLUMNS
from sdk.runners.stage import BoundaryCounts, StepTotals, records_in_order

if TYPE_CHECKING:
    from sdk.runners.stage import UnitResult

__all__ = ["RunInfo", "RunState"]

_EMPTY: list[pd.DataFrame] = []
"""An empty quarantine, built once: a run without bad rows copies it (~30 µs, not ~1 ms)."""

Key = tuple[str, str, str]
_KEY = ("step", "boundary", "dataset")
"""The quarantine columns that name a boundary."""


@attrs.frozen
class RunInfo:
    """What hooks learn about the run they observe."""

    run_id: str
    pipeline: str
    runner: str
    params: dict[str, dict[str, Any]]
    fingerprint: str
    host: str


def _empty() -> pd.DataFrame:
    if not _EMPTY:
        _EMPTY.append(empty_quarantine())
    return _EMPTY[0].copy()


class RunState:
    """Totals of one run, merged from its units' results.

    Args:
        info: the run's identity.
        inputs: the names of the pipeline's inputs (rows in are final once each is read).
    """

    def __init__(self, info: RunInfo, inputs: list[str]) -> None:
        self.info = info
        self.counts: dict[Key, BoundaryCounts] = {}
        self.steps: dict[str, StepTotals] = {}
        self.profiles: dict[str, DatasetProfile] = {}
        self._records: dict[Key, list[pd.DataFrame]] = {}
        self._rows_in: dict[str, int] = {}
        self._pending = set(inputs)
        self._quarantine: pd.DataFrame | None = None  # concatenated once until the next merge

    # -- inputs ----------------------------------------------------------------------------
    def input_read(self, dataset: str, rows: int) -> bool:
        """Record that pipeline input ``dataset`` was read whole: ``rows`` rows.

        Returns:
            Whether this was the first complete read (later reads count nothing).
        """
        if dataset not in self._pending:
            return False
        self._pending.discard(dataset)
        self._rows_in[dataset] = rows
        return True

    def stream_read(self, dataset: str, rows: int) -> None:
        """Add ``rows`` more rows read from ``dataset``, a stream (never read whole)."""
        self._pending.discard(dataset)
        self._rows_in[dataset] = self._rows_in.get(dataset, 0) + rows

    def input_rows(self, dataset: str) -> int | None:
        """Rows read from pipeline input ``dataset`` (``None`` if it was not read)."""
        return self._rows_in.get(dataset)

    @property
    def rows_in(self) -> int:
        """Rows read from the pipeline's inputs so far."""
        return sum(self._rows_in.values())

    @property
    def inputs_complete(self) -> bool:
        """Whether every input has been read whole (``rows_in`` is final)."""
        return not self._pending

    # -- units -----------------------------------------------------------------------------
    def merge(self, result: UnitResult) -> None:
        """Add a unit's counts, step totals, profiles and quarantine records."""
        merge_profiles(self.profiles, result.profiles)
        for key, counts in result.counts.items():
            self.counts.setdefault(key, BoundaryCounts(skipped=counts.skipped)).add(counts)
        for name, totals in result.steps.items():
            self.steps.setdefault(name, StepTotals()).add(totals)
        quarantine = result.quarantine
        if len(quarantine):
            values = [str(quarantine[c].iat[0]) for c in _KEY]
            first: Key = (values[0], values[1], values[2])
            if all((quarantine[c].to_numpy() == v).all() for c, v in zip(_KEY, first, strict=True)):
                self._records.setdefault(first, []).append(quarantine)  # one boundary: usual
            else:
                for (step, boundary, dataset), records in quarantine.groupby(
                    list(_KEY), sort=False
                ):
                    key = (str(step), str(boundary), str(dataset))
                    self._records.setdefault(key, []).append(records)
            self._quarantine = None

    def forget_records(self) -> None:
        """Drop the quarantine records kept so far (a stream that wrote them to its sink
        keeps only counts, so its memory does not grow with the stream)."""
        self._records.clear()
        self._quarantine = None

    def records(self, key: Key) -> pd.DataFrame | None:
        """The quarantine records of one boundary, or ``None`` if it quarantined nothing."""
        frames = self._records.get(key)
        return pd.concat(frames, ignore_index=True) if frames else None

    def boundaries(self, step: str) -> list[tuple[Key, BoundaryCounts]]:
        """The boundaries of ``step``, in the order first validated."""
        return [(key, counts) for key, counts in self.counts.items() if key[0] == step]

    def quarantine(self) -> pd.DataFrame:
        """All quarantine records so far, by boundary in the order first validated."""
        if self._quarantine is None:
            frames = [f for key in self.counts for f in self._records.get(key, [])]
            self._quarantine = records_in_order(frames) if frames else _empty()
        return self._quarantine

    @property
    def quarantined(self) -> int:
        """Rows quarantined so far, each counted once.

        Rows removed at output boundaries are distinct rows; a dataset validated by several
        consumers has the same rows checked several times, so it counts with the largest
        number any of them removed.
        """
        per_input: dict[str, int] = {}
        total = 0
        for (_, boundary, dataset), counts in self.counts.items():
            if boundary == "input":
                per_input[dataset] = max(per_input.get(dataset, 0), counts.quarantined)
            else:
                total += counts.quarantined
        return total + sum(per_input.values())

    def over_budget(self, max_invalid: float, *, final: bool) -> bool:
        """Whether the error budget is exceeded — for certain, unless ``final``.

        Quarantined rows only grow, so once every input is read (``rows_in`` final) a fraction
        over the budget stays over it: the run may fail early with the outcome it would have
        had at the end. Before that, only the ``final`` check decides.
        """
        if not (final or self.inputs_complete) or not self.rows_in:
            return False
        return self.quarantined / self.rows_in > max_invalid

    def report(self) -> pd.DataFrame:
        """One row per boundary, in the order they were first validated."""
        rows = [
            {"step": s, "boundary": b, "dataset": d, **counts.as_dict()}
            for (s, b, d), counts in self.counts.items()
        ]
        return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
