"""The report of a ``serve`` run (``sdk run ... --runner serve``, stopped with SIGTERM): the
page's numbers equal the manifest the server wrote when it stopped, and its counts by check the
quarantine records the server sent back in its answers (a server keeps no quarantine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scoring import record
from serve_harness import serve  # noqa: F401 (the fixture)

from sdk import write_report
from tests.report_html import Report, check_profile, check_report, count


def test_a_serve_report_equals_its_manifest_and_its_answers(serve: Any, tmp_path: Path) -> None:
    """Three requests (one good, one partly bad with a record that makes a step raise, one all
    bad: 422) to ``score`` → ``flag``; after SIGTERM the run's page shows the manifest's
    boundaries, both steps, and counts by check equal to the records answered."""
    server = serve("scoring:flagging")
    bodies = [
        [record(), record(customer_id=8, amount=5000.0, country="DE")],
        [record(), record(customer_id=8, amount="12,50", country="fr"), record(amount=13.13)],
        [record(customer_id=-1, n_tx=0)],
    ]
    answers = [server.post(body) for body in bodies]
    assert [a.status_code for a in answers] == [200, 200, 422]
    assert server.stop() == 0
    records = [r for answer in answers for r in answer.json()["quarantine"]]
    assert {r["source"] for r in records} == {"request#0", "request#1", "request#2"}

    run_id = answers[0].json()["run_id"]
    folder = tmp_path / "runs" / run_id
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["quarantine"]["uri"] is None  # the records went back in the answers only

    page = write_report(run_id, run_dir=tmp_path / "runs")
    assert page == folder / "report.html"
    report = Report(page.read_text(encoding="utf-8"))
    assert report.identity()["runner"] == "serve"
    assert count(report.identity()["rows_in"]) == 6
    check_report(report, manifest, records, source=r"request#\d+", min_sample=0, records_said=False)
    check_profile(report, json.loads(Path(manifest["profile"]).read_text()))
    features = report.profiles()[("features", "input")]
    assert {count(c["count"]) for c in features.values()} == {6}  # merged over the requests
    location = report.quarantine_location()
    assert location is not None and location[0] is False  # no records kept, counts from failures
    said = report.records_said()  # counted from the failures: a server keeps no records
    assert said is None or said[0] == len(records)
