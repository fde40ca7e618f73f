"""The quarantine, aggregated for the report: counts, top offending values and a sample.

Every number is computed from the whole quarantine with vectorised group-bys; only the sample
(at most :data:`SAMPLE_ROWS` records, every check represented) and the top values reach the page,
so its size does not grow with the quarantine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["KEYS", "SAMPLE_ROWS", "TEXT_CHARS", "TOP_VALUES", "aggregate", "check_label"]

SAMPLE_ROWS = 500
"""At most this many quarantine records are shown in the sample (more only when there are more
checks than that: each check keeps one)."""

TOP_VALUES = 5
"""Top offending values shown per check."""

TEXT_CHARS = 300
"""Longer values (and rows) are cut to this many characters on the page."""

_SAMPLE_FIELDS = ("source", "step", "boundary", "dataset", "column", "check", "value", "row")


def check_label(column: Any, check: Any) -> str:
    """``"column: check"``, as the manifest's ``quarantine.by_check`` keys it."""
    label = column if isinstance(column, str) else "<dataframe>"
    return f"{label}: {check}"


def truncate(value: Any, limit: int = TEXT_CHARS) -> str:
    """``value`` as text, cut to ``limit`` characters (an ellipsis says so)."""
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _texts(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as text, a missing value ``""`` (Arrow-backed text stays Arrow: fast)."""
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype="string")
    series = frame[column]
    if not isinstance(series.dtype, pd.StringDtype):
        series = series.astype("string")
    return series.fillna("")


KEYS = ("step", "column", "check", "value")
"""The columns counted (the others are read for the sample only)."""


def aggregate(
    quarantine: pd.DataFrame, rows: Callable[[np.ndarray], pd.DataFrame] | None = None
) -> dict[str, Any]:
    """Counts by step, column and check, top values per check, and a stratified sample.

    Args:
        quarantine: the records, with a unique index; only ``step``, ``column``, ``check`` and
            ``value`` are read unless ``rows`` is ``None``.
        rows: the whole records at these index labels (for the sample), when ``quarantine``
            holds only those four columns; default: taken from ``quarantine``.

    Returns a dict with ``records`` (the quarantine's records), ``counts`` (``step``,
    ``column``, ``check``, ``label``, ``count``, largest first), ``top_values`` (``label``,
    ``values``: ``[(value, count)]``), ``sample`` (records as dicts of text, truncated) and
    ``checks`` (every check label, sorted).
    """
    if not len(quarantine):
        return {"records": 0, "counts": [], "top_values": [], "sample": [], "checks": []}
    frame = pd.DataFrame({name: _texts(quarantine, name) for name in KEYS})
    frame["label"] = frame["column"] + ": " + frame["check"]
    if "column" in quarantine.columns:  # a missing column is the manifest's "<dataframe>"
        missing = quarantine["column"].isna().to_numpy()
        if missing.any():
            frame.loc[missing, "label"] = "<dataframe>: " + frame.loc[missing, "check"]
    counted = (
        frame.groupby(["step", "column", "check", "label"], sort=False)
        .size()
        .reset_index(name="count")
        .sort_values(["count", "step", "column", "check"], ascending=[False, True, True, True])
    )
    counts = [
        {"step": s, "column": c, "check": k, "label": lab, "count": int(n)}
        for s, c, k, lab, n in counted.itertuples(index=False)
    ]
    values = (
        frame.groupby(["label", "value"], sort=False)
        .size()
        .reset_index(name="count")
        .sort_values(["label", "count", "value"], ascending=[True, False, True])
    )
    top = values.groupby("label", sort=True).head(TOP_VALUES)
    top_values = [
        {
            "label": label,
            "values": [(truncate(v), int(n)) for v, n in zip(g["value"], g["count"], strict=True)],
        }
        for label, g in top.groupby("label", sort=True)
    ]
    checks = sorted(frame["label"].unique().tolist())
    quota = max(1, SAMPLE_ROWS // max(1, len(checks)))
    picked = frame.groupby("label", sort=True).head(quota)
    positions = picked.index.to_numpy()
    whole = quarantine.loc[positions] if rows is None else rows(positions)
    texts = {name: _texts(whole, name).tolist() for name in _SAMPLE_FIELDS}
    sample = [
        {**{name: truncate(texts[name][i]) for name in _SAMPLE_FIELDS}, "label": label}
        for i, label in enumerate(picked["label"].tolist())
    ]
    return {
        "records": len(frame),
        "counts": counts,
        "top_values": top_values,
        "sample": sample,
        "checks": checks,
    }


def counts_from_validation(validation: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Counts by step, column and check from the manifest's ``validation`` failures (when the
    quarantine itself cannot be read)."""
    counts = []
    for boundary in validation:
        for column, checks in (boundary.get("failures") or {}).items():
            for check, n in (checks or {}).items():
                counts.append(
                    {
                        "step": str(boundary.get("step", "")),
                        "column": str(column),
                        "check": str(check),
                        "label": check_label(column, check),
                        "count": int(n),
                    }
                )
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in counts:
        key = (str(row["step"]), str(row["column"]), str(row["check"]))
        if key in merged:
            merged[key]["count"] += row["count"]
        else:
            merged[key] = row
    return sorted(merged.values(), key=lambda r: (-r["count"], r["step"], r["column"], r["check"]))
