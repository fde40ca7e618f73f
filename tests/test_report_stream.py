"""The report of a ``stream`` run, against a real Redis: the page's numbers equal the manifest
and the quarantine records read back from where the stream wrote them (a Redis stream, a JSON
lines file, a SQLite table), this run's only when an earlier run wrote there too."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from conftest import REDIS
from orders_stream import Price, Priced
from pandera.typing import DataFrame
from report_html import Report, check_profile, check_report, count

import sdk
from sdk import Pipeline, Step


class Shipped(Priced):
    """A priced order line with its shipping cost; a total over 4,000 is refused."""

    total: float = pa.Field(ge=0, le=4000)
    shipping: float = pa.Field(ge=0)


class Ship(Step):
    """Add the shipping cost; raises on quantity 13 (a bug the stream quarantines)."""

    scope = "rows"

    def run(self, price: DataFrame[Priced]) -> DataFrame[Shipped]:
        """Shipping is 1 % of the total."""
        if (price["quantity"] == 13).any():
            raise ValueError("unlucky quantity")
        return cast(DataFrame[Shipped], price.assign(shipping=price["total"] / 100))


shipping = Pipeline([Price(), Ship()], name="shipping")
"""``orders`` → ``price`` → ``ship``: bad values quarantined at the input, totals over 4,000 at
the output of ``ship``, quantity 13 by ``ship`` raising."""

ENTRY = r"redis://127\.0\.0\.1:6379/0\?stream=sdk-report-\w+#\d+-\d+"


@pytest.fixture
def stream(client: Any) -> Iterator[str]:
    """A fresh stream name; it and its companions are deleted after the test."""
    name = f"sdk-report-{uuid.uuid4().hex[:10]}"
    yield name
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)


def orders(n: int, seed: int) -> list[dict[str, str]]:
    """``n`` order lines as text: every 25th price unreadable, every 40th quantity 0."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        row = {
            "order_id": str(i + 1),
            "quantity": str(rng.integers(1, 50)),
            "unit_price": f"{rng.uniform(1, 100):.2f}",
        }
        if i % 25 == 3:
            row["unit_price"] = "n/a"
        if i % 40 == 7:
            row["quantity"] = "0"
        rows.append(row)
    return rows


def run(name: str, sink: str, tmp_path: Path) -> sdk.RunResult:
    """Consume the stream ``name`` to its end with ``shipping``; outputs and quarantine go to
    ``sink``: ``redis`` streams beside the source (the quarantine ``NAME:quarantine``), JSON
    lines files, or tables of one SQLite file (the quarantine ``sdk_quarantine``)."""
    outputs = {
        "redis": {"ship": f"{REDIS}?stream={name}:out"},
        "jsonl": {"ship": str(tmp_path / "shipped.jsonl")},
        "sqlite": {"ship": f"sqlite:///{tmp_path}/shop.db?table=shipped"},
    }[sink]
    return shipping.run(
        "stream",
        orders=f"{REDIS}?stream={name}&group=g&consumer=c1",
        outputs=outputs,
        quarantine=str(tmp_path / "quarantine.jsonl") if sink == "jsonl" else None,
        max_invalid=1.0,
        runner_options={
            "idle_timeout_s": 0.3,
            "max_latency_ms": 20,
            "max_batch_rows": 150,
            "run_dir": str(tmp_path / "runs"),
        },
    )


def written(sink: str, uri: str, client: Any) -> pd.DataFrame:
    """Every quarantine record the runs wrote to ``uri``, read back with the sink's own
    client."""
    if sink == "redis":
        return pd.DataFrame([f for _, f in client.xrange(uri.split("?stream=")[1])])
    if sink == "jsonl":
        return pd.read_json(uri, lines=True, dtype=False)
    path, table = uri.removeprefix("sqlite:///").split("?table=")
    with sqlite3.connect(path) as db:
        return pd.read_sql(f"SELECT * FROM {table}", db)


@pytest.mark.parametrize("sink", ["redis", "jsonl", "sqlite"])
def test_a_stream_report_equals_its_manifest_and_its_quarantine(
    client: Any, stream: str, sink: str, tmp_path: Path
) -> None:
    """Two runs consume one stream into the same quarantine; the second run's page, from its
    run directory and from its result in a notebook, shows its own numbers: boundaries as in its
    manifest, counts by check and sampled entry ids as in its records, every step in the DAG
    (a stream's result keeps no quarantine records: they went to the destination)."""
    client.xadd(stream, {"order_id": "0", "quantity": "1", "unit_price": "x"})  # run 1's
    first = run(stream, sink, tmp_path)
    pipe = client.pipeline(transaction=False)
    for row in orders(400, seed=1):
        pipe.xadd(stream, {**row, **({"quantity": "13"} if row["order_id"] == "9" else {})})
    pipe.execute()
    result = run(stream, sink, tmp_path)

    manifest = json.loads((tmp_path / "runs" / result.run_id / "manifest.json").read_text())
    uri = manifest["quarantine"]["uri"]
    assert (
        uri
        == {
            "redis": f"{REDIS}?stream={stream}:quarantine",
            "jsonl": str(tmp_path / "quarantine.jsonl"),
            "sqlite": f"sqlite:///{tmp_path}/shop.db?table=sdk_quarantine",
        }[sink]
    )
    records = written(sink, uri, client)
    assert set(records["run_id"]) == {first.run_id, result.run_id}
    records = records[records["run_id"] == result.run_id]
    assert len(records) == sum(
        n for b in manifest["validation"] for c in b["failures"].values() for n in c.values()
    )
    assert {"step_error", "less_than_or_equal_to(4000)"} <= set(records["check"])

    from sdk.report import write_report

    page = write_report(result.run_id, run_dir=tmp_path / "runs")
    assert page == tmp_path / "runs" / result.run_id / "report.html"
    report = Report(page.read_text(encoding="utf-8"))
    assert report.identity()["runner"] == "stream"
    assert count(report.identity()["rows_in"]) == 400
    check_report(report, manifest, records.to_dict(orient="records"), source=ENTRY)
    check_profile(report, json.loads(Path(manifest["profile"]).read_text()))
    orders_profile = report.profiles()[("orders", "input")]
    assert {count(c["count"]) for c in orders_profile.values()} == {400}  # merged micro-batches
    assert orders_profile["unit_price"]["top"].startswith("n/a (16)")

    notebook = Report(result.report_html(tmp_path / "notebook.html").read_text(encoding="utf-8"))
    check_report(notebook, manifest, records.to_dict(orient="records"), source=ENTRY)


def test_the_report_of_a_stream_stopped_by_its_error_budget_shows_why(
    client: Any, stream: str, tmp_path: Path
) -> None:
    """Every other price unreadable: the stream stops with DataQualityError after writing what
    it read; the failed run's page shows the error, and counts equal to the records written."""
    pipe = client.pipeline(transaction=False)
    for i, row in enumerate(orders(300, seed=2)):
        pipe.xadd(stream, {**row, **({"unit_price": "?"} if i % 2 else {})})
    pipe.execute()
    with pytest.raises(sdk.DataQualityError) as caught:
        shipping.run(
            "stream",
            orders=f"{REDIS}?stream={stream}&group=g&consumer=c1",
            max_invalid=0.2,
            runner_options={
                "idle_timeout_s": 0.3,
                "max_batch_rows": 100,
                "run_dir": str(tmp_path / "runs"),
            },
        )
    folder = tmp_path / "runs" / caught.value.run_id
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    records = pd.DataFrame([f for _, f in client.xrange(f"{stream}:quarantine")])

    from sdk.report import write_report

    report = Report(write_report(str(folder)).read_text(encoding="utf-8"))
    check_report(report, manifest, records.to_dict(orient="records"), source=ENTRY)
    assert report.identity()["status"] == "failed"
    assert report.error() == {
        "step": "",
        "type": "DataQualityError",
        "message": " ".join(manifest["error"]["message"].split()),
    }
