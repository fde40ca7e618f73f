"""Faults written into valid rows, with the ground truth of where each one is."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import pandas as pd
import pandera.pandas as pa

from sdk.errors import ParamsError
from sdk.logs import get_logger
from sdk.models import ColumnRule, CompiledModel, compile_model
from sdk.simulate._outside import outside
from sdk.simulate._rules import kind_of, value_kind
from sdk.validation import BoundaryCheck, validate_frame

__all__ = ["FAULTS", "inject_faults"]

logger = get_logger("sdk.simulate")

FAULTS = ("missing", "malformed", "out_of_range", "duplicate")
"""The kinds of fault, as written in the truth's ``fault`` column."""

_MALFORMED_KINDS = frozenset({"int", "float", "bool", "datetime"})  # text is never malformed
_RANGED_KINDS = frozenset({"int", "float", "bool", "datetime", "str"})


@attrs.define
class _Cells:
    """The faults of one kind: row positions, column names and, for some, the values."""

    fault: str
    rows: np.ndarray
    columns: np.ndarray
    values: list[Any] = attrs.Factory(list)


def inject_faults(
    df: pd.DataFrame,
    model: type[pa.DataFrameModel],
    *,
    missing: float = 0.01,
    malformed: float = 0.01,
    out_of_range: float = 0.01,
    duplicates: float = 0.0,
    seed: int = 0,
    overlap: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write faults into valid rows, and say exactly where, to measure a quarantine against.

    Each rate is a share of ``df``'s rows; each such row gets one fault of that kind, in a
    column drawn among those where ``model`` makes the fault detectable:

    - ``missing``: an empty value in a column that is not nullable;
    - ``malformed``: text its column's dtype cannot read (``"12.5x"`` or ``"12,5"`` in a float
      column, ``"7.5"`` in an int column, ``"maybe"`` in a bool column, ``"not-a-date"``);
      text columns never are (any text is valid text);
    - ``out_of_range``: a value just outside the column's checks (``-1`` for ``ge=0``, the bound
      itself for ``gt``, ``1000000.01`` for ``le=1_000_000``, ``"us"`` for ``^[A-Z]{2}$``, a
      value not in an ``isin`` set), checked to fail one of them;
    - ``duplicate``: a copy of a clean row appended at the end, with a new index label (the
      next integers after the largest label of an integer index). A duplicate is a fault of
      both copies, as validation quarantines both: the truth lists the original and the copy
      under each unique column and under the model's unique column set (its names joined
      with ``,``, as the quarantine's ``column``).

    A column that receives text, or a missing value its dtype cannot hold (int, bool), becomes
    a text column (object dtype, values as a CSV file would hold them, ``None`` where missing),
    as a messy CSV file is read. Without ``overlap`` every faulty row has one fault only, so
    precision and recall by (row, column) are exact; with it, kinds choose rows independently
    and a row may have faults in several columns (still at most one per cell). A fault that
    makes two faulty rows collide on the model's unique column set is listed as a duplicate
    of both rows too. A kind no column can show is skipped with a ``faults_skipped`` warning.

    Args:
        df: valid rows of ``model`` (e.g. from :func:`sdk.simulate.synthesize`); text read
            from a file is coerced to the model's dtypes first.
        model: the pandera model that decides what is a fault.
        missing: share of rows given a missing value.
        malformed: share of rows given an unreadable value.
        out_of_range: share of rows given a value outside the checks.
        duplicates: appended copies, as a share of the rows.
        seed: the random seed.
        overlap: let the kinds choose their rows independently.

    Returns:
        ``(faulty, truth)``: the rows with the faults, and one row per fault with columns
        ``row`` (the index label in ``faulty``), ``column`` and ``fault`` (see :data:`FAULTS`),
        in the order of ``faulty``'s rows.

    Raises:
        ParamsError: a rate outside [0, 1], rates summing above 1 without ``overlap``, a
            repeated index label, or rows of ``df`` that fail ``model``.
        SchemaViolation: ``df`` lacks a column the model requires.
    """
    rates = {
        "missing": missing,
        "malformed": malformed,
        "out_of_range": out_of_range,
        "duplicate": duplicates,
    }
    for fault, rate in rates.items():
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
            name = "duplicates" if fault == "duplicate" else fault
            raise ParamsError(f"inject_faults: {name} must be a share in [0, 1], got {rate!r}")
    if not overlap and sum(rates.values()) > 1:
        raise ParamsError(
            f"inject_faults: the rates sum to {sum(rates.values()):g}, above 1; lower them or "
            f"pass overlap=True to let one row have several faults"
        )
    if not df.index.is_unique:
        raise ParamsError(
            "inject_faults: df's index repeats labels, so the truth could not name rows; "
            "reset it (df.reset_index(drop=True))"
        )
    compiled = compile_model(model)
    base = _valid(df, compiled, model.__name__)
    rng = np.random.default_rng(seed)
    n = len(base)
    counts = {name: round(rate * n) for name, rate in rates.items()}
    free = rng.permutation(n)
    taken: set[tuple[int, str]] = set()
    cells: list[_Cells] = []
    for fault in ("missing", "malformed", "out_of_range"):
        columns = _eligible(fault, compiled, base)
        if counts[fault] and not columns:
            logger.warning(
                "faults_skipped",
                extra={"fault": fault, "model": model.__name__, "reason": _NONE[fault]},
            )
            continue
        if overlap:
            rows = rng.choice(n, size=counts[fault], replace=False)
        else:
            rows, free = free[: counts[fault]], free[counts[fault] :]
        chosen = _place(fault, rows, columns, base, rng, taken)
        taken |= set(zip(chosen.rows.tolist(), chosen.columns.tolist(), strict=True))
        cells.append(chosen)
    faulty = _written(base, cells)
    truth = [
        (int(position), str(column), c.fault)
        for c in cells
        for position, column in zip(c.rows, c.columns, strict=True)
    ]
    originals = np.zeros(0, dtype=np.int64)
    if counts["duplicate"]:
        faulty, truth, originals = _duplicated(
            faulty, base, compiled, truth, counts["duplicate"], rng, model
        )
    truth += _collisions(faulty, base, compiled, cells, originals, truth)
    return faulty, _truth_frame(faulty, truth)


_NONE = {
    "missing": "every column is nullable",
    "malformed": "no column has a dtype text can break (int, float, bool, datetime)",
    "out_of_range": "no column has a check a value just outside could fail",
    "duplicate": "no column is unique and the model has no unique column set",
}


def _valid(df: pd.DataFrame, compiled: CompiledModel, name: str) -> pd.DataFrame:
    """``df`` coerced to the model's dtypes; refused unless every row passes."""
    checked = validate_frame(df, compiled, BoundaryCheck("inject_faults", "input", "df"))
    if checked.quarantined:
        positions, column, check = checked.failures[0]
        raise ParamsError(
            f"inject_faults: {checked.quarantined} of the {checked.rows} rows of df fail {name} "
            f"(e.g. row {df.index[positions[0]]!r}, column {column!r}: {check}); faults are "
            f"counted against valid rows, such as those of synthesize({name}, n)"
        )
    return checked.frame


def _eligible(fault: str, compiled: CompiledModel, base: pd.DataFrame) -> list[ColumnRule]:
    """The columns where ``fault`` is detectable."""
    rules = [r for r in compiled.columns if r.name in base.columns]
    if fault == "missing":
        return [r for r in rules if not r.nullable]
    if fault == "malformed":
        return [r for r in rules if kind_of(r.dtype) in _MALFORMED_KINDS]
    sample = base.head(20)
    return [
        r
        for r in rules
        if r.checks
        and kind_of(r.dtype) in _RANGED_KINDS
        and outside(r, sample[r.name], np.random.default_rng(0))[0].any()
    ]


def _place(
    fault: str,
    rows: np.ndarray,
    columns: list[ColumnRule],
    base: pd.DataFrame,
    rng: np.random.Generator,
    taken: set[tuple[int, str]],
) -> _Cells:
    """Choose a column per row, and the value to write where it is not simply missing."""
    picks = rng.integers(0, len(columns), size=len(rows)) if columns else np.zeros(0, int)
    names = np.array([columns[i].name for i in picks], dtype=object)
    keep = np.array(
        [(int(r), str(c)) not in taken for r, c in zip(rows, names, strict=True)], dtype=bool
    )
    rows, names, picks = rows[keep], names[keep], picks[keep]
    if fault == "missing":
        return _Cells(fault, rows, names)
    order = np.argsort(rows, kind="stable")
    rows, names, picks = rows[order], names[order], picks[order]
    values: list[Any] = [None] * len(rows)
    ok = np.ones(len(rows), dtype=bool)
    for i, rule in enumerate(columns):
        at = np.flatnonzero(picks == i)
        if not len(at):
            continue
        valid = base[rule.name].iloc[rows[at]]
        if fault == "malformed":
            texts = _malformed(kind_of(rule.dtype) or "", _texts(valid), rng)
            for j, text in zip(at, texts, strict=True):
                values[j] = text
        else:
            fails, outsiders = outside(rule, valid, rng)
            ok[at] = fails
            for j, value in zip(at, outsiders, strict=True):
                values[j] = value
    return _Cells(fault, rows[ok], names[ok], [v for v, hit in zip(values, ok, strict=True) if hit])


def _malformed(kind: str, texts: list[str | None], rng: np.random.Generator) -> list[str]:
    """Unreadable text for ``kind``, made from the valid values' text where it fits."""
    out = []
    for text, variant in zip(texts, rng.integers(0, 2, size=len(texts)), strict=True):
        t = text or "0"
        if kind == "int":
            out.append(f"{t}x" if variant else f"{t}.5")
        elif kind == "float":
            out.append(t.replace(".", ",", 1) if variant and "." in t else f"{t}x")
        elif kind == "bool":
            out.append("maybe" if variant else "yes please")
        else:
            out.append("not-a-date" if variant else "2021-02-30")
    return out


def _texts(series: pd.Series) -> list[str | None]:
    """Values as a CSV file holds them: ISO 8601 datetimes, floats read back exactly."""
    missing = series.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        zone = getattr(series.dtype, "tz", None)
        stamps = series.dt.tz_convert("UTC").dt.tz_localize(None) if zone is not None else series
        text = np.datetime_as_string(stamps.to_numpy("M8[ns]"), unit="auto").astype(object)
        if zone is not None:
            text = text + "Z"
    elif series.dtype == object:
        text = np.array([v if isinstance(v, str) else str(v) for v in series], dtype=object)
    else:
        text = series.astype(str).to_numpy(dtype=object)
    text[missing] = None
    return text.tolist()


def _needs_text(column: pd.Series, values: list[Any], has_missing: bool) -> bool:
    """Whether writing ``values`` (and missing values) into ``column`` needs a text column."""
    if value_kind(column.dtype) == "str":
        return False
    if any(isinstance(v, str) for v in values):
        return True
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        if has_missing:
            return True
        if dtype.kind in "iu":
            info = np.iinfo(np.dtype(dtype.str))
            return not all(info.min <= int(v) <= info.max for v in values)
    return False


def _written(base: pd.DataFrame, cells: list[_Cells]) -> pd.DataFrame:
    """``base`` with the cells' faults written in (columns turned to text where needed)."""
    faulty = base.copy()
    for name in dict.fromkeys(str(c) for group in cells for c in group.columns):
        column = base[name]
        blanks: list[np.ndarray] = []
        writes: list[tuple[np.ndarray, list[Any]]] = []
        for group in cells:
            at = group.columns == name
            if not at.any():
                continue
            if group.fault == "missing":
                blanks.append(group.rows[at])
            else:
                values = [v for v, hit in zip(group.values, at, strict=True) if hit]
                writes.append((group.rows[at], values))
        values_all = [v for _, values in writes for v in values]
        if _needs_text(column, values_all, bool(blanks)):
            out = pd.Series(_texts(column), index=column.index, dtype=object)
            for positions, values in writes:
                others = [i for i, v in enumerate(values) if not isinstance(v, str)]
                text = np.array(values, dtype=object)
                if others:  # out-of-range values, written as the column's other values are
                    text[others] = _texts(pd.Series([values[i] for i in others]))
                out.iloc[positions] = text
        else:
            out = column.copy()
            for positions, values in writes:
                out.iloc[positions] = pd.Series(values, dtype=object).astype(column.dtype).array
        for positions in blanks:
            out.iloc[positions] = None
        faulty[name] = out
    return faulty


def _duplicated(
    faulty: pd.DataFrame,
    base: pd.DataFrame,
    compiled: CompiledModel,
    truth: list[tuple[int, str, str]],
    k: int,
    rng: np.random.Generator,
    model: type[pa.DataFrameModel],
) -> tuple[pd.DataFrame, list[tuple[int, str, str]], np.ndarray]:
    """Append copies of ``k`` clean rows; both copies of each are faults of every unique
    column (where the value is present) and of the model's unique column set."""
    columns = [r.name for r in compiled.columns if r.unique and r.name in base.columns]
    subset = list(compiled.unique)
    if not columns and not subset:
        logger.warning(
            "faults_skipped",
            extra={"fault": "duplicate", "model": model.__name__, "reason": _NONE["duplicate"]},
        )
        return faulty, truth, np.zeros(0, dtype=np.int64)
    n = len(base)
    clean = np.ones(n, dtype=bool)
    clean[[position for position, _, _ in truth]] = False
    if not subset:  # a copy is only caught by a unique column where its value is present
        clean &= base[columns].notna().any(axis=1).to_numpy()
    candidates = np.flatnonzero(clean)
    originals = np.sort(rng.choice(candidates, size=min(k, len(candidates)), replace=False))
    copies = faulty.iloc[originals].copy()
    copies.index = _new_labels(faulty.index, len(originals))
    out = pd.concat([faulty, copies])
    present = base[columns].iloc[originals].notna().to_numpy() if columns else None
    added: list[tuple[int, str, str]] = []
    for i, original in enumerate(originals):
        for position in (int(original), len(faulty) + i):
            added += [
                (position, name, "duplicate")
                for j, name in enumerate(columns)
                if present is not None and present[i, j]
            ]
            if subset:
                added.append((position, ",".join(subset), "duplicate"))
    return out, truth + added, originals


def _new_labels(index: pd.Index, k: int) -> pd.Index:
    """``k`` labels not in ``index``: the next integers after its largest, for an integer
    index; ``duplicate-<i>`` otherwise."""
    if pd.api.types.is_integer_dtype(index.dtype):
        start = int(index.max()) + 1 if len(index) else 0
        return pd.RangeIndex(start, start + k)
    labels = [f"duplicate-{i}" for i in range(k + len(index)) if f"duplicate-{i}" not in index]
    return pd.Index(labels[:k], dtype=object)


def _collisions(
    faulty: pd.DataFrame,
    base: pd.DataFrame,
    compiled: CompiledModel,
    cells: list[_Cells],
    originals: np.ndarray,
    truth: list[tuple[int, str, str]],
) -> list[tuple[int, str, str]]:
    """Faulty rows that the faults make repeat each other over the model's unique column set
    (two missing values count as equal there, as in pandas): duplicates too."""
    subset = [c for c in compiled.unique if c in base.columns]
    if not subset or not cells:
        return []
    rows = np.concatenate([np.arange(len(base)), originals]).astype(np.int64)
    key = base[subset].iloc[rows].astype(object).reset_index(drop=True)
    for group in cells:
        for position, name, value in zip(
            group.rows, group.columns, group.values or [None] * len(group.rows), strict=True
        ):
            if name in subset:
                key.iloc[int(position), subset.index(name)] = (
                    value if group.fault == "out_of_range" else np.nan
                )
    name = ",".join(subset)
    known = {(position, column) for position, column, _ in truth}
    repeated = np.flatnonzero(key.duplicated(keep=False).to_numpy())
    return [(int(p), name, "duplicate") for p in repeated if (int(p), name) not in known]


def _truth_frame(faulty: pd.DataFrame, truth: list[tuple[int, str, str]]) -> pd.DataFrame:
    """The truth as a frame, by row label, in the order of ``faulty``'s rows."""
    ordered = sorted(truth, key=lambda t: (t[0], t[1]))
    positions = np.array([t[0] for t in ordered], dtype=np.int64)
    return pd.DataFrame(
        {
            "row": faulty.index[positions] if len(positions) else faulty.index[:0],
            "column": pd.Series([t[1] for t in ordered], dtype=object),
            "fault": pd.Series([t[2] for t in ordered], dtype=object),
        }
    )
