"""The run report (docs/report.md), read back as a user sees it.

Every page is parsed with the standard library's ``html.parser`` and read through the report's
stable hooks (ids, classes, ``data-*``); the numbers on it are compared with the run's manifest
and its quarantine records, never with the report's own code.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pandera.typing import DataFrame

import sdk
from examples.fraud.pipeline import Transactions
from examples.fraud.pipeline import pipeline as fraud
from sdk.cli import main as cli_main
from sdk.report import ReportUnavailable, build_report, write_report

HOSTILE = "<script>alert(1)</script> \"quoted\" 'single' </script><b>&amp;\nnew line ünï €"


class _Node:
    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag, self.attrs = tag, attrs
        self.children: list[Any] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def all(self, tag: str | None = None, **attrs: str | None) -> list[_Node]:
        found = []
        stack: list[Any] = [self]
        while stack:
            node = stack.pop(0)
            if not isinstance(node, _Node):
                continue
            if (tag is None or node.tag == tag) and all(node.has(k, v) for k, v in attrs.items()):
                found.append(node)
            stack[0:0] = node.children
        return found

    def has(self, name: str, value: str | None) -> bool:
        if name == "class_":
            return value in self.attrs.get("class", "").split()
        key = name.replace("_", "-")
        return key in self.attrs and (value is None or self.attrs[key] == value)

    def one(self, tag: str | None = None, **attrs: str | None) -> _Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]

    def fields(self) -> dict[str, str]:
        return {n.attrs["data-field"]: n.text() for n in self.all() if "data-field" in n.attrs}


class _Parser(HTMLParser):
    VOID = {"meta", "input", "br", "hr", "img", "link"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#doc", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(_Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> _Node:
    """The page as a tree; checks it is self-contained on the way."""
    assert '<meta name="sdk-report" content="1">' in html
    assert "http://" not in html and "https://" not in html
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.root


def _records(quarantine: pd.DataFrame) -> list[dict[str, str]]:
    return [
        {
            str(k): "" if v is None or (isinstance(v, float) and v != v) else str(v)
            for k, v in r.items()
        }
        for r in quarantine.to_dict("records")
    ]


def check_page(page: _Node, manifest: dict[str, Any], quarantine: pd.DataFrame) -> None:
    """The page shows this manifest and quarantine: identity, DAG, boundaries, counts, sample."""
    identity = page.one("dl", id="identity").fields()
    for name in ("run_id", "status", "runner", "pipeline", "fingerprint"):
        assert identity[name] == str(manifest[name])
    assert int(identity["quarantined"]) == manifest["quarantine"]["rows"]
    assert int(identity["rows_in"]) == sum(i["rows"] for i in manifest["inputs"])

    dag = page.one("svg", id="dag")
    assert {g.attrs["data-step"] for g in dag.all("g", class_="step")} == {
        s["name"] for s in manifest["steps"]
    }
    datasets = {g.attrs["data-dataset"] for g in dag.all("g", class_="dataset")}
    assert datasets == {i["name"] for i in manifest["inputs"]} | {
        o["name"] for o in manifest["outputs"]
    }
    edges = {
        (g.attrs["data-from"], g.attrs["data-to"]): g.attrs for g in dag.all("g", class_="edge")
    }
    rows = {
        (tr.attrs["data-step"], tr.attrs["data-boundary"]): (tr.attrs["data-dataset"], tr.fields())
        for tr in page.one("table", id="boundaries").all("tr", data_step=None)
    }
    assert len(rows) == len(manifest["validation"]) == len(edges)
    for v in manifest["validation"]:
        key = (v["dataset"], v["step"]) if v["boundary"] == "input" else (v["step"], v["dataset"])
        edge = edges[key]
        assert (int(edge["data-passed"]), int(edge["data-quarantined"])) == (
            v["passed"],
            v["quarantined"],
        )
        assert edge["data-skipped"] == str(v["skipped"]).lower()
        dataset, shown = rows[(v["step"], v["boundary"])]
        assert dataset == v["dataset"]
        assert [int(shown[k]) for k in ("rows", "passed", "quarantined")] == [
            v["rows"],
            v["passed"],
            v["quarantined"],
        ]
        assert shown["conservation"] == "ok"

    records = _records(quarantine)
    expected = Counter((r["step"], r["column"], r["check"]) for r in records)
    counts = Counter(
        {
            (tr.attrs["data-step"], tr.attrs["data-column"], tr.attrs["data-check"]): int(
                tr.fields()["count"]
            )
            for tr in page.one("table", id="quarantine-counts").all("tr", data_check=None)
        }
    )
    assert counts == expected
    assert sum(counts.values()) == manifest["quarantine"]["records"]

    values = Counter((f"{r['column']}: {r['check']}", r["value"]) for r in records)
    for table in page.all("table", class_="top-values"):
        for tr in table.all("tr"):
            f = tr.fields()
            if "value" in f:
                assert values[(table.attrs["data-check"], f["value"])] == int(f["count"])

    sample = page.all("table", id="quarantine-sample")
    if not records:
        assert sample == []
        return
    shown_rows = [tr.fields() for tr in sample[0].all("tr", data_check=None)]
    assert 0 < len(shown_rows) <= 500
    by_source = {(r["source"], r["check"], r["value"]) for r in records}
    for row in shown_rows:
        assert (row["source"], row["check"], row["value"]) in by_source
    labels = {tr.attrs["data-check"] for tr in sample[0].all("tr", data_check=None)}
    assert labels == {f"{r['column']}: {r['check']}" for r in records}  # every check sampled
    options = {o.attrs["value"] for o in page.one("select", id="check-filter").all("option")}
    assert options == labels | {""}


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def test_local_in_memory_run_report(fraud_raw: pd.DataFrame, tmp_path: Path) -> None:
    """A notebook run without a run directory: report_html writes the page from the result."""
    result = fraud.run(transactions=fraud_raw.head(800), max_invalid=1.0)
    path = result.report_html(tmp_path / "r.html")
    assert path == tmp_path / "r.html"
    page = parse(path.read_text(encoding="utf-8"))
    check_page(page, result.manifest, result.quarantine)
    profiles = page.one("section", id="profiles")
    if result.profile is None:
        assert "not profiled" in profiles.text()
    else:  # every profiled dataset, with its columns and their non-null counts
        shown = {
            t.attrs["data-dataset"]: {
                tr.attrs["data-column"]: int(tr.fields()["count"])
                for tr in t.all("tr", data_column=None)
            }
            for t in profiles.all("table", class_="profile")
        }
        assert shown == {
            name: {c: s["count"] for c, s in d["columns"].items()}
            for name, d in result.profile["datasets"].items()
        }
    assert page.all("section", id="error") == []


def test_local_default_path_is_the_working_folder(
    fraud_raw: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = fraud.run(transactions=fraud_raw.head(50))
    assert result.report_html() == Path(f"report-{result.run_id}.html")
    assert (tmp_path / f"report-{result.run_id}.html").exists()


def test_batch_run_report_from_its_run_directory(fraud_raw: pd.DataFrame, runs: Path) -> None:
    """Built from the run directory alone: the quarantine is read from quarantine.parquet."""
    result = fraud.run(
        transactions=fraud_raw.head(800),
        runner="batch",
        max_invalid=1.0,
        runner_options={"run_dir": str(runs)},
    )
    folder = runs / result.run_id
    path = write_report(result.run_id, run_dir=runs)
    assert path == folder / "report.html"
    manifest = json.loads((folder / "manifest.json").read_text())
    page = parse(path.read_text(encoding="utf-8"))
    check_page(page, manifest, pd.read_parquet(folder / "quarantine.parquet"))
    assert page.one("p", id="quarantine-location").attrs["data-readable"] == "true"
    # the skipped (proven redundant) validation is drawn dashed, with a title saying why
    skipped = [g for g in page.all("g", class_="edge") if g.attrs["data-skipped"] == "true"]
    assert skipped and all("proven redundant" in g.one("title").text() for g in skipped)
    assert 'stroke-dasharray="6 4"' in path.read_text()
    # the same page from the manifest's path, and RunResult.report_html defaults to the folder
    assert build_report(folder / "manifest.json") == path.read_text(encoding="utf-8")
    assert result.report_html() == folder / "report.html"
    params = {
        (tr.attrs["data-step"], tr.attrs["data-param"]): tr.fields()["value"]
        for tr in page.one("table", id="params").all("tr", data_param=None)
    }
    assert params == {("score", "weight"): "0.7", ("score", "bias"): "0.0"}
    hashes = [
        tr.fields()["content_hash"]
        for tr in page.one("table", id="inputs").all("tr", data_input=None)
    ]
    assert hashes == [manifest["inputs"][0]["content_hash"]]


def test_cli_prints_the_path_it_wrote(
    fraud_raw: pd.DataFrame,
    runs: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = fraud.run(transactions=fraud_raw.head(100), runner_options={"run_dir": str(runs)})
    out = runs.parent / "page" / "r.html"
    assert cli_main(["report", result.run_id, "--run-dir", str(runs), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    check_page(parse(out.read_text(encoding="utf-8")), result.manifest, result.quarantine)
    assert cli_main(["report", "no-such-run", "--run-dir", str(runs)]) == 2
    assert "no-such-run" in capsys.readouterr().err
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    assert cli_main(["report", str(runs / result.run_id / "manifest.json"), "--open"]) == 0
    written = runs / result.run_id / "report.html"
    assert capsys.readouterr().out.strip() == str(written)
    assert opened == [written.resolve().as_uri()]


def test_no_quarantined_rows(tmp_path: Path) -> None:
    clean = pd.DataFrame(
        {"customer_id": ["1", "2", "1"], "amount": ["1.5", "20", "3"], "country": ["GB"] * 3}
    )
    result = fraud.run(transactions=clean)
    assert result.quarantined == 0
    page = parse(result.report_html(tmp_path / "r.html").read_text(encoding="utf-8"))
    check_page(page, result.manifest, result.quarantine)
    assert "no quarantined rows" in page.one("table", id="quarantine-counts").text()


def test_every_row_quarantined(runs: Path) -> None:
    bad = pd.DataFrame({"customer_id": ["x", "-1", "2"], "amount": ["1", "2", "-3"]})
    bad["country"] = ["GB", "GB", "gb"]
    result = fraud.run(transactions=bad, max_invalid=1.0, runner_options={"run_dir": str(runs)})
    assert result.quarantined == 3
    folder = runs / result.run_id
    page = parse(write_report(folder).read_text(encoding="utf-8"))
    check_page(page, json.loads((folder / "manifest.json").read_text()), result.quarantine)
    first = page.one("table", id="boundaries").all("tr", data_step="add_features")[0].fields()
    assert (first["passed"], first["quarantined"]) == ("0", "3")


class Boom(sdk.Step):
    """Raises on every call, with a hostile message."""

    output = "boomed"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Transactions]:
        """Fail."""
        raise ValueError(HOSTILE)


def test_failed_run_shows_the_error_and_the_step(runs: Path, fraud_raw: pd.DataFrame) -> None:
    boom = sdk.Pipeline([Boom()], name="boom")
    with pytest.raises(sdk.StepError):
        boom.run(transactions=fraud_raw.head(20), runner_options={"run_dir": str(runs)})
    (folder,) = runs.iterdir()
    html = write_report(folder.name, run_dir=runs).read_text(encoding="utf-8")
    assert "<script>alert" not in html
    page = parse(html)
    error = page.one("section", id="error")
    assert error.attrs["data-step"] == "boom"
    assert error.one(None, data_field="type").text() == "StepError"
    assert HOSTILE in error.one("pre", data_field="message").text()
    assert page.one("dl", id="identity").fields()["status"] == "failed"


def _hostile_run(fraud_raw: pd.DataFrame, runs: Path) -> Path:
    """A real run's directory whose manifest and quarantine were given hostile text
    everywhere a user's data or code can put text."""
    raw = fraud_raw.head(40).copy()
    raw.loc[0:4, "country"] = [
        HOSTILE,
        "x" * 5000,
        "</script>",
        '"><img src=x onerror=alert(1)>',
        "😀",
    ]
    result = fraud.run(transactions=raw, max_invalid=1.0, runner_options={"run_dir": str(runs)})
    folder = runs / result.run_id
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["steps"][1]["name"] = HOSTILE  # the step `score`, renamed everywhere it appears
    for boundary in manifest["validation"]:
        if boundary["step"] == "score":
            boundary["step"] = HOSTILE
    manifest["steps"][1]["params"]["weight"] = HOSTILE
    manifest["steps"][1]["params"][HOSTILE] = 1
    manifest["metrics"] = {HOSTILE: {HOSTILE: 1.5}}
    manifest["versions"][HOSTILE] = HOSTILE
    manifest["error"] = {"type": HOSTILE, "message": HOSTILE}
    manifest["status"] = "failed"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    quarantine = pd.read_parquet(folder / "quarantine.parquet")
    quarantine.loc[1, "column"] = HOSTILE
    quarantine.loc[2, "step"] = HOSTILE
    quarantine.loc[3, "check"] = HOSTILE
    quarantine.to_parquet(folder / "quarantine.parquet")
    return folder


def test_hostile_text_is_escaped_never_executed(fraud_raw: pd.DataFrame, runs: Path) -> None:
    folder = _hostile_run(fraud_raw, runs)
    html = build_report(folder)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert html.count("<script") == 2  # the page's own: JSON data and the inline script
    page = parse(html)
    texts = {
        tr.fields()["value"]
        for tr in page.one("table", id="quarantine-sample").all("tr", data_check=None)
    }
    assert HOSTILE in texts and "</script>" in texts
    assert "x" * 300 + "…" in texts  # long values cut, never the whole 5000 characters
    assert "x" * 301 not in html
    assert HOSTILE in page.one("section", id="error").one("pre").text()
    assert HOSTILE in {g.attrs["data-step"] for g in page.all("g", class_="step")}
    assert len(page.all("tr", data_step=HOSTILE, data_boundary=None)) == 2  # its boundaries
    params = page.one("table", id="params").all("tr", data_step=HOSTILE, data_param=HOSTILE)
    assert [tr.fields()["value"] for tr in params] == ["1"]
    assert any(
        tr.attrs["data-column"] == HOSTILE
        for tr in page.one("table", id="quarantine-counts").all("tr", data_check=None)
    )
    data = page.one("script", id="report-data").text()
    assert "</" not in data
    assert HOSTILE.split("\n")[0][:8] in json.dumps(json.loads(data))  # still the same text
    assert len({o.attrs["value"] for o in page.one("select", id="check-filter").all("option")}) > 1


def test_compare_two_runs_with_different_params(fraud_raw: pd.DataFrame, runs: Path) -> None:
    a = fraud.run(
        transactions=fraud_raw.head(800), max_invalid=1.0, runner_options={"run_dir": str(runs)}
    )
    b = fraud.run(
        transactions=fraud_raw.head(400),
        max_invalid=1.0,
        params={"score.weight": 0.9},
        runner_options={"run_dir": str(runs)},
    )
    path = write_report(a.run_id, run_dir=runs, compare=b.run_id)
    assert path == runs / a.run_id / f"report-vs-{b.run_id}.html"
    page = parse(path.read_text(encoding="utf-8"))
    params = {
        (tr.attrs["data-step"], tr.attrs["data-param"]): tr.fields()
        for tr in page.one("table", id="compare-params").all("tr", data_param=None)
    }
    assert params[("score", "weight")] == {"a": "0.7", "b": "0.9"}
    compared = page.one("table", id="compare-params")
    assert compared.one("tr", data_param="weight").attrs["data-differs"] == "true"
    assert compared.one("tr", data_param="bias").attrs["data-differs"] == "false"
    assert page.one("p", id="compare-fingerprint").attrs["data-same"] == "false"
    rates = {
        tr.attrs["data-check"]: (
            float(tr.one(None, data_field="a").attrs["data-value"]),
            float(tr.one(None, data_field="b").attrs["data-value"]),
        )
        for tr in page.one("table", id="compare-checks").all("tr", data_check=None)
    }
    for run, side in ((a, 0), (b, 1)):
        for label, n in run.manifest["quarantine"]["by_check"].items():
            assert rates[label][side] == pytest.approx(n / run.rows_in)
    rows = page.one("table", id="compare-rows").all("tr", data_step="add_features")[0].fields()
    assert (rows["a_rows"], rows["b_rows"]) == ("800", "400")
    check_page(page, a.manifest, a.quarantine)  # the full report of run a follows


def test_large_quarantine_stays_small_and_fast(fraud_raw: pd.DataFrame, runs: Path) -> None:
    """200,000 quarantined rows (400-character values, 350-character rows): the page stays
    under 2 MB, and is built in seconds."""
    result = fraud.run(
        transactions=fraud_raw.head(300), max_invalid=1.0, runner_options={"run_dir": str(runs)}
    )
    folder = runs / result.run_id
    n = 200_000
    checks = ["not_nullable", "coerce_dtype('float64')", "greater_than_or_equal_to(0)"]
    position = pd.RangeIndex(n).astype(str)
    big = pd.DataFrame(
        {
            "run_id": result.run_id,
            "step": "add_features",
            "boundary": "input",
            "dataset": "transactions",
            "source": "tx.csv:" + position,
            "column": "amount",
            "check": pd.Series(checks * (n // 3 + 1)).head(n).to_numpy(),
            "value": (pd.Series(range(n)) % 977).astype(str) + "v" * 400,  # long values
            "row": '{"customer_id": "' + position + '", "note": "' + "r" * 300 + '"}',
        }
    )
    big.to_parquet(folder / "quarantine.parquet")
    manifest = json.loads((folder / "manifest.json").read_text())
    v = manifest["validation"][0]
    v.update(rows=n + v["passed"], quarantined=n, failures={"amount": dict.fromkeys(checks, 0)})
    for i, check in enumerate(checks):
        v["failures"]["amount"][check] = len(range(i, n, 3))
    manifest["inputs"][0]["rows"] = v["rows"]
    manifest["quarantine"].update(records=n, rows=n)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    started = time.perf_counter()
    html = build_report(folder)
    assert time.perf_counter() - started < 8
    assert len(html.encode()) < 2_000_000, len(html.encode())
    page = parse(html)
    counts = {
        tr.attrs["data-check"]: int(tr.fields()["count"])
        for tr in page.one("table", id="quarantine-counts").all("tr", data_check=None)
    }
    assert counts == {c: len(range(i, n, 3)) for i, c in enumerate(checks)}
    assert len(page.one("table", id="quarantine-sample").all("tr", data_check=None)) <= 500


def test_unreadable_quarantine_counts_from_the_manifest(
    runs: Path, fraud_raw: pd.DataFrame
) -> None:
    """A quarantine published to a remote store is not read back: the page says where it went
    and counts from the manifest."""
    result = fraud.run(
        transactions=fraud_raw, max_invalid=1.0, runner_options={"run_dir": str(runs)}
    )
    folder = runs / result.run_id
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["quarantine"]["uri"] = "s3://bucket/quarantine.parquet"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "quarantine.parquet").unlink()
    page = parse(build_report(folder))
    location = page.one("p", id="quarantine-location")
    assert location.attrs["data-readable"] == "false"
    assert "s3://bucket/quarantine.parquet" in location.text()
    counts = Counter(
        {
            (tr.attrs["data-step"], tr.attrs["data-column"], tr.attrs["data-check"]): int(
                tr.fields()["count"]
            )
            for tr in page.one("table", id="quarantine-counts").all("tr", data_check=None)
        }
    )
    assert counts == Counter(
        (r["step"], r["column"], r["check"]) for r in _records(result.quarantine)
    )


def test_profile_is_shown(runs: Path, fraud_raw: pd.DataFrame) -> None:
    result = fraud.run(transactions=fraud_raw.head(30), runner_options={"run_dir": str(runs)})
    folder = runs / result.run_id
    profile = {
        "profile_version": 1,
        "datasets": {
            "transactions": {
                "role": "input",
                "rows": 30,
                "columns": {
                    "country": {
                        "dtype": "str",
                        "count": 29,
                        "nulls": 1,
                        "min": None,
                        "max": None,
                        "top": [["US", 20], ["GB", 9]],
                    },
                    "amount": {
                        "dtype": "float64",
                        "count": 30,
                        "nulls": 0,
                        "min": 0.5,
                        "max": 99.0,
                        "top": [],
                    },
                },
            }
        },
    }
    (folder / "profile.json").unlink(missing_ok=True)
    assert "not profiled" in parse(build_report(folder)).one("section", id="profiles").text()
    (folder / "profile.json").write_text(json.dumps(profile))
    page = parse(build_report(folder))
    table = page.one("table", class_="profile", data_dataset="transactions")
    assert table.attrs["data-role"] == "input"
    country = table.one("tr", data_column="country").fields()
    assert (country["dtype"], country["count"], country["nulls"]) == ("str", "29", "1")
    assert country["top"] == "US (20), GB (9)"
    amount = table.one("tr", data_column="amount").fields()
    assert (amount["min"], amount["max"]) == ("0.5", "99.0")


def test_notebook_repr_embeds_the_compact_view(fraud_raw: pd.DataFrame) -> None:
    result = fraud.run(transactions=fraud_raw.head(200), max_invalid=1.0)
    html = result._repr_html_()
    page = _Parser()
    page.feed(html)
    root = page.root
    assert root.one("dl", id="identity").fields()["run_id"] == result.run_id
    assert {g.attrs["data-step"] for g in root.all("g", class_="step")} == {"add_features", "score"}
    assert len(root.one("table", id="boundaries").all("tr", data_step=None)) == 4
    assert "report_html()" in html
    assert f"{result.quarantined} quarantined" in html or "Rows quarantined" in html
    assert "Rows out: features" in html


def test_a_long_pipeline_with_an_artifact_is_drawn_whole(tmp_path: Path) -> None:
    """Seven layers and more are drawn top-down; an artifact input is its own kind of node,
    linked to the step that takes it without a boundary of its own."""
    names = ["a", "b", "c", "d"]
    steps = [
        {"name": f"step_{n}", "params": {}, "output": f"out_{n}",
         "inputs": {"x": "raw" if i == 0 else f"out_{names[i - 1]}",
                    **({"m": "model"} if n == "c" else {})}}
        for i, n in enumerate(names)
    ]  # fmt: skip
    validation = [
        {"step": s["name"], "boundary": b, "dataset": d, "rows": 10, "passed": 10 - k,
         "quarantined": k, "skipped": False, "failures": {"x": {"check": k}} if k else {}}
        for s in steps
        for b, d, k in (("input", s["inputs"]["x"], 1 if s["name"] == "step_a" else 0),
                        ("output", s["output"], 0))
    ]  # fmt: skip
    for v in validation[1:]:
        v["rows"] = v["passed"] = 9
    manifest = {
        "run_id": "r1", "pipeline": "long", "runner": "local", "status": "succeeded",
        "fingerprint": "f", "steps": steps, "validation": validation,
        "inputs": [{"name": "raw", "uri": "raw.csv", "rows": 10},
                   {"name": "model", "uri": "m.skops", "rows": None}],
        "outputs": [{"name": f"out_{n}", "uri": None, "rows": 9} for n in names],
        "quarantine": {"uri": None, "records": 1, "rows": 1, "by_check": {"x: check": 1}},
    }  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    page = parse(build_report(tmp_path / "manifest.json"))
    dag = page.one("svg", id="dag")
    assert {g.attrs["data-step"] for g in dag.all("g", class_="step")} == {s["name"] for s in steps}
    kinds = {g.attrs["data-dataset"]: g.attrs["data-kind"] for g in dag.all("g", class_="dataset")}
    assert kinds == {"raw": "input", "model": "artifact", "out_a": "intermediate",
                     "out_b": "intermediate", "out_c": "intermediate",
                     "out_d": "output"}  # fmt: skip
    assert len(dag.all("g", class_="edge")) == len(validation)
    assert [(g.attrs["data-from"], g.attrs["data-to"]) for g in dag.all("g", class_="link")] == [
        ("model", "step_c")
    ]
    assert int(dag.attrs["height"]) > int(dag.attrs["width"])  # top-down
    assert page.one("p", id="quarantine-location").attrs["data-readable"] == "false"
    counts = page.one("table", id="quarantine-counts").one("tr", data_check="check").fields()
    assert counts["count"] == "1"  # from the manifest's failures: no records were kept


def test_a_killed_run_without_a_manifest(runs: Path) -> None:
    """A run killed outright left only run.json: the page shows what it knows, interrupted."""
    folder = runs / "r-killed"
    folder.mkdir(parents=True)
    record = {
        "run_id": "r-killed", "status": "running", "pid": 2**22 + 12345,
        "host": os.uname().nodename, "pipeline": "fraud", "runner": "batch",
        "params": {"score": {"weight": 0.7}}, "started": "2026-11-30T08:00:00+00:00",
    }  # fmt: skip
    (folder / "run.json").write_text(json.dumps(record))
    assert cli_main(["report", "r-killed", "--run-dir", str(runs)]) == 0
    page = parse((folder / "report.html").read_text(encoding="utf-8"))
    identity = page.one("dl", id="identity").fields()
    assert (identity["run_id"], identity["pipeline"], identity["runner"]) == (
        "r-killed",
        "fraud",
        "batch",
    )
    assert identity["status"] == "interrupted"  # its process is gone
    assert page.one("tr", data_param="weight").fields()["value"] == "0.7"


def test_without_the_report_extra(monkeypatch: pytest.MonkeyPatch, runs: Path) -> None:
    """jinja2 missing (the `report` extra not installed): runs and their notebook view still
    work, and asking for the page says which extra to install."""
    monkeypatch.setitem(sys.modules, "jinja2", None)
    monkeypatch.delitem(sys.modules, "sdk.report._render", raising=False)
    monkeypatch.delattr("sdk.report._render", raising=False)
    bad = pd.DataFrame({"customer_id": ["1", "x"], "amount": ["1", "2"], "country": ["GB", "GB"]})
    result = fraud.run(transactions=bad, max_invalid=1.0, runner_options={"run_dir": str(runs)})
    view = result._repr_html_()
    assert result.run_id in view and "1 quarantined" in view and "pipeline-sdk[report]" in view
    with pytest.raises(ReportUnavailable, match=r"pip install 'pipeline-sdk\[report\]'"):
        result.report_html(runs / "r.html")
    assert cli_main(["report", result.run_id, "--run-dir", str(runs)]) == 2
