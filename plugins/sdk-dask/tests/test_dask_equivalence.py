"""Runner equivalence: ``dask`` gives the outputs, quarantine and step events of ``local``.

Against a real local cluster (2 worker processes), for the fraud example (partition_by, then
rows), pipelines of each scope and a mix of all three, a two-input join declared
``partition_by``, frames with bad rows of every kind drawn by hypothesis, and CSV inputs
whose quarantine sources (``path:line``) must be the same as ``local``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dask_harness import ROOT, dask_address, run, step_events
from dask_pipelines import PIPELINES, customers, join, three_scopes, transactions
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import sdk
from examples.fraud.pipeline import pipeline as fraud
from sdk.testing import assert_equivalent, capture_logs

__all__ = ["dask_address"]

FRAUD_CSV = ROOT / "examples" / "fraud" / "transactions.csv"


def both(
    pipeline: sdk.Pipeline, address: str, options: dict[str, Any] | None = None, **inputs: Any
) -> tuple[sdk.RunResult, sdk.RunResult, list[Any], list[Any]]:
    """Run ``pipeline`` through local and dask; return both results and their step events."""
    kept = {k: v for k, v in (options or {}).items() if k == "run_dir"}
    with capture_logs() as local_logs:
        local = run(pipeline, "local", kept, **inputs)
    with capture_logs() as dask_logs:
        dasked = run(pipeline, "dask", {"address": address, **(options or {})}, **inputs)
    return local, dasked, step_events(local_logs), step_events(dask_logs)


@pytest.mark.parametrize("partition_rows", [300, 5000])
def test_fraud_example_matches_local(
    dask_address: str, tmp_path: Path, partition_rows: int
) -> None:
    """The fraud example (partition_by customer, then rows) over its CSV: the same outputs,
    quarantine (sources ``path:line`` included) and step events as local."""
    options = {"partition_rows": partition_rows, "run_dir": str(tmp_path)}
    local, dasked, expected, got = both(fraud, dask_address, options, transactions=str(FRAUD_CSV))
    assert_equivalent(local, dasked)
    assert len(dasked.quarantine) > 0
    assert sorted(dasked.quarantine["source"]) == sorted(local.quarantine["source"])
    assert all(s.startswith(f"{FRAUD_CSV}:") for s in dasked.quarantine["source"])
    assert got == expected
    assert dasked.runner == "dask"


@pytest.mark.parametrize("name", list(PIPELINES))
@pytest.mark.parametrize("partition_rows", [5, 100])
def test_each_scope_matches_local(dask_address: str, name: str, partition_rows: int) -> None:
    """rows only, rows then partition_by, rows then global, all three, and a two-input join
    declared partition_by: outputs, quarantine (index labels as sources) and step events as
    local, whatever the parts."""
    inputs: dict[str, Any] = {"transactions": transactions()}
    if PIPELINES[name] is join:
        inputs["customers"] = customers()
    local, dasked, expected, got = both(
        PIPELINES[name], dask_address, {"partition_rows": partition_rows}, **inputs
    )
    assert_equivalent(local, dasked)
    assert len(dasked.quarantine) > 0
    assert got == expected


def test_csv_with_a_quoted_newline_keeps_physical_lines(dask_address: str, tmp_path: Path) -> None:
    """A CSV field spanning two lines: every later row's source is its physical line, as in
    local, even when the file is cut into parts of 2 rows."""
    path = tmp_path / "tx.csv"
    path.write_text(
        'customer_id,amount,country\n1,10.0,US\n2,"5\n0",FR\n3,-4,DE\n4,7.5,us\n5,1.0,US\n'
        "x,2.0,US\n",
        encoding="utf-8",
    )
    local, dasked, _, _ = both(
        three_scopes,
        dask_address,
        {"partition_rows": 2, "run_dir": str(tmp_path / "runs")},
        transactions=str(path),
    )
    assert_equivalent(local, dasked)
    sources = sorted(dasked.quarantine["source"])
    assert sources == sorted(local.quarantine["source"])
    assert f"{path}:3" in sources  # the row whose amount holds the newline
    assert f"{path}:5" in sources  # -4, on line 5: the quoted newline counted
    assert f"{path}:8" in sources


VALUES = {
    "customer_id": st.sampled_from(["0", "1", "2", "3", "12", "-1", "x", "", None, "1.5"]),
    "amount": st.sampled_from(
        ["1.0", "0", "250.5", "499.99", "600", "-3", "abc", "", None, "1e400"]
    ),
    "country": st.sampled_from(["US", "FR", "DE", "usa", "1", "", None]),
}


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """0-30 transactions as text, with missing, malformed and out-of-range values."""
    n = draw(st.integers(0, 30))
    columns = {c: draw(st.lists(values, min_size=n, max_size=n)) for c, values in VALUES.items()}
    return pd.DataFrame(columns, dtype=object)


@settings(
    max_examples=15,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    frame=frames(),
    partition_rows=st.sampled_from([1, 4, 50]),
    name=st.sampled_from(sorted(PIPELINES)),
)
def test_any_frame_matches_local(
    dask_address: str, frame: pd.DataFrame, partition_rows: int, name: str
) -> None:
    """For any frame with bad rows, any pipeline and any part size: dask's outputs and
    quarantine equal local's, order-insensitively, run ids aside; rows are conserved."""
    inputs: dict[str, Any] = {"transactions": frame}
    if PIPELINES[name] is join:
        inputs["customers"] = customers()
    local = run(PIPELINES[name], "local", **inputs)
    dasked = run(
        PIPELINES[name],
        "dask",
        {"address": dask_address, "partition_rows": partition_rows},
        **inputs,
    )
    assert_equivalent(local, dasked)
    assert dasked.rows_in == local.rows_in
    assert dasked.quarantined == local.quarantined
