"""The report of a ``dask`` run on a real cluster: the page's numbers equal the manifest, the
quarantine the run wrote (``quarantine.parquet`` in its run directory) and its profile."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from dask_harness import dask_address, run
from dask_pipelines import exploding, three_scopes, transactions

import sdk
from sdk import write_report
from tests.report_html import Report, check_profile, check_report, count, number

__all__ = ["dask_address"]


def test_a_dask_report_equals_its_manifest_quarantine_and_profile(
    dask_address: str, tmp_path: Path
) -> None:
    """Rows, partition_by and global steps over a CSV read in parts on the workers: every
    boundary, count by check and sampled ``path:line`` source on the page is the run's, and its
    profile, merged from the parts, is the whole data's."""
    source = tmp_path / "transactions.csv"
    transactions().to_csv(source, index=False)
    options = {"address": dask_address, "partition_rows": 7, "run_dir": str(tmp_path / "runs")}
    result = run(
        three_scopes,
        "dask",
        options,
        transactions=str(source),
        outputs={"ranked": str(tmp_path / "ranked.csv")},
    )
    folder = tmp_path / "runs" / result.run_id
    manifest = json.loads((folder / "manifest.json").read_text())
    records = pd.read_parquet(folder / "quarantine.parquet")
    assert manifest["quarantine"]["uri"] == str(folder / "quarantine.parquet")
    assert len(records) == manifest["quarantine"]["records"] == 10

    page = write_report(str(folder), out=tmp_path / "dask.html")
    assert page == tmp_path / "dask.html"
    report = Report(page.read_text(encoding="utf-8"))
    assert report.identity()["runner"] == "dask"
    assert count(report.identity()["rows_in"]) == 24
    lines = rf"{source}:(\d+)"
    check_report(report, manifest, records.to_dict(orient="records"), source=lines)
    assert {row["source"] for row in report.sample()} == set(records["source"])  # 10 < sample

    assert manifest["profile"] == str(folder / "profile.json")
    check_profile(report, json.loads((folder / "profile.json").read_text()))
    shown = report.profiles()
    # profiled part by part on the workers, the numbers are still the whole data's
    ranked = pd.read_csv(tmp_path / "ranked.csv")
    for column in ranked.select_dtypes("number"):
        low, high = ranked[column].min(), ranked[column].max()
        assert number(shown[("ranked", "output")][column]["min"]) == low, column
        assert number(shown[("ranked", "output")][column]["max"]) == high, column
    read = pd.read_csv(source, dtype=str)
    for column in read:
        assert count(shown[("transactions", "input")][column]["nulls"]) == read[column].isna().sum()
    assert shown[("transactions", "input")]["country"]["top"].startswith("US (13), FR (6)")


def test_the_report_of_a_dask_run_failed_on_a_worker_names_the_step(
    dask_address: str, tmp_path: Path
) -> None:
    """A step raising on a worker: the failed run's page says so, naming the step and the
    exception raised there, every step still in the DAG."""
    source = tmp_path / "transactions.csv"
    transactions().to_csv(source, index=False)
    options = {"address": dask_address, "run_dir": str(tmp_path / "runs")}
    with pytest.raises(sdk.StepError) as caught:
        run(exploding, "dask", options, transactions=str(source))
    page = write_report(caught.value.run_id, run_dir=tmp_path / "runs")
    report = Report(page.read_text(encoding="utf-8"))
    assert report.identity()["status"] == "failed"
    assert report.dag_steps() == {"explode"}
    error = report.error()
    assert error is not None
    assert (error["step"], error["type"]) == ("explode", "StepError")
    assert "RuntimeError: boom" in error["message"]
