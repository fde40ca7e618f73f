"""The run report and `sdk ui` in a real browser: Debian's chromium, headless, driven by
playwright.

Skipped when playwright or /usr/bin/chromium is missing (`apt-get install chromium`, as
`.ci/run` does), failed instead under ``SDK_REQUIRE_SERVICES=1`` (CI). One browser serves the
module. A screenshot of the fraud report is saved to ``$SDK_TEST_ARTIFACTS`` (else the test's
tmp folder); ``SDK_WRITE_SCREENSHOT=PATH`` also writes it to PATH (the README's image).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest

from examples.fraud.pipeline import pipeline as fraud
from sdk.report import write_report
from sdk.runs import run_records
from sdk.ui import HEADERS, UiServer, make_server
from tests.conftest import ROOT, require_service

CHROMIUM = Path("/usr/bin/chromium")
FRAUD_CSV = ROOT / "examples" / "fraud" / "transactions.csv"
SCRIPT = "<script>window.__pwned=1</script>"
ATTRIBUTE = '"><img src=x onerror=window.__pwned=1>'
WIDTH = 1280


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run directory with the fraud example's run and a run whose bad values are hostile
    text (markup, quotes, a very long string)."""
    folder = tmp_path_factory.mktemp("browser")
    run_dir = folder / "runs"
    fraud_id = fraud.run(
        transactions=str(FRAUD_CSV), runner_options={"run_dir": str(run_dir)}
    ).run_id
    hostile = pd.read_csv(FRAUD_CSV, dtype=str).head(40)
    hostile.loc[len(hostile)] = ["1", "10", SCRIPT]
    hostile.loc[len(hostile)] = ["2", ATTRIBUTE, "US"]
    hostile.loc[len(hostile)] = [SCRIPT, "5", ATTRIBUTE + "x" * 5000]
    hostile.to_csv(folder / "hostile.csv", index=False)
    fraud.run(
        transactions=str(folder / "hostile.csv"),
        runner_options={"run_dir": str(run_dir)},
        run_id="hostile",
        max_invalid=1.0,
    )
    manifest = json.loads((run_dir / fraud_id / "manifest.json").read_text())
    return {"dir": run_dir, "folder": folder, "manifest": manifest, "fraud": fraud_id}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, for the whole module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("chromium", "playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        require_service("chromium", f"no {CHROMIUM}: apt-get install chromium (as .ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(runs: dict[str, Any]) -> Iterator[UiServer]:
    """`sdk ui` on 127.0.0.1, a port the system picks, in a thread."""
    ui = make_server(runs["dir"], port=0)
    thread = threading.Thread(target=ui.serve_forever, daemon=True)
    thread.start()
    yield ui
    ui.shutdown()
    ui.server_close()


class Page:
    """A page whose console errors, page errors and requests outside ``allowed`` are kept;
    requests outside ``allowed`` are aborted (the network is blocked)."""

    def __init__(self, browser: Any, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed
        self.context = browser.new_context(viewport={"width": WIDTH, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.route("**/*", self._route)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _route(self, route: Any) -> None:
        if route.request.url.startswith(self.allowed):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def close(self) -> None:
        self.context.close()


def _visible(page: Any, selector: str) -> list[dict[str, str]]:
    """The rows of ``selector`` a person sees (one round trip): their check and text."""
    return list(
        page.eval_on_selector_all(
            selector,
            "rows => rows.filter(r => r.checkVisibility())"
            ".map(r => ({check: r.dataset.check, text: r.innerText}))",
        )
    )


def _artifact(tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("SDK_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def test_fraud_report_works_offline(
    browser: Any, runs: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fraud report opens from a file with the network blocked, without errors; the DAG
    shows every step; the check filter and the text search narrow the quarantine sample."""
    manifest = runs["manifest"]
    report = write_report(runs["fraud"], run_dir=runs["dir"])
    view = Page(browser, ("file:", "data:"))
    page = view.page
    page.goto(report.as_uri())
    assert view.errors == [] and view.outside == []
    for step in manifest["steps"]:
        assert page.locator(f'#dag g.node.step[data-step="{step["name"]}"]').is_visible()

    rows = "#quarantine-sample tbody tr"
    every = page.eval_on_selector_all(rows, "rows => rows.map(r => r.dataset.check)")
    assert len(_visible(page, rows)) == len(every) > 0
    by_check = manifest["quarantine"]["by_check"]
    check = max(by_check, key=lambda c: (by_check[c], c))
    page.select_option("#check-filter", value=check)
    shown = _visible(page, rows)
    assert {row["check"] for row in shown} == {check}
    assert len(shown) == every.count(check)
    page.select_option("#check-filter", value="")
    assert len(_visible(page, rows)) == len(every)

    value = "usa"  # a bad country in the sample data
    page.fill("#quarantine-search", value)
    shown = _visible(page, rows)
    assert 0 < len(shown) < len(every)
    assert all(value in row["text"].lower() for row in shown)
    page.fill("#quarantine-search", "")
    assert len(_visible(page, rows)) == len(every)
    assert view.errors == []
    page.locator("#quarantine-search").blur()  # no focus ring in the screenshot

    shot = _artifact(tmp_path, "report-fraud.png")
    page.screenshot(path=str(shot), full_page=True)
    written = os.environ.get("SDK_WRITE_SCREENSHOT")
    with capsys.disabled():
        print(f"\nscreenshot of the fraud report: {shot}")
        if written:
            _readme_screenshot(page, Path(written))
    view.close()


def _readme_screenshot(page: Any, path: Path) -> None:
    """The README's image: the page from its top (identity, DAG, boundaries, the quarantine
    explorer), as much of it as fits in 400 KB, and at most 2,000 pixels."""
    height = min(page.evaluate("document.documentElement.scrollHeight"), 2000)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        clip = {"x": 0, "y": 0, "width": WIDTH, "height": height}
        page.screenshot(path=str(path), full_page=True, clip=clip)
        if path.stat().st_size < 400_000 or height < 800:
            break
        height = int(height * 0.8)
    assert path.stat().st_size < 400_000, f"{path} is {path.stat().st_size:,} bytes"
    print(f"\nREADME screenshot: {path} ({WIDTH}x{height}, {path.stat().st_size:,} bytes)")


def test_ui_lists_runs_and_links_to_their_reports(
    browser: Any, runs: dict[str, Any], server: UiServer
) -> None:
    """`sdk ui`'s list page links each run to its report; following a link shows that run's
    report, working under the ui's Content-Security-Policy."""
    view = Page(browser, (server.url, "data:"))
    page = view.page
    listed = page.goto(server.url)
    assert listed is not None and listed.status == 200
    assert listed.headers["content-security-policy"] == HEADERS["Content-Security-Policy"]
    ids = [row.get_attribute("data-run-id") for row in page.query_selector_all("#runs tbody tr")]
    assert sorted(ids) == sorted(r["run_id"] for r in run_records(runs["dir"]))
    for run_id in ids:
        page.goto(server.url)
        page.click(f'#runs tr[data-run-id="{run_id}"] a.report')
        page.wait_for_url(f"**/runs/{run_id}/report")
        assert urlsplit(page.url).path == f"/runs/{run_id}/report"
        assert page.inner_text('#identity dd[data-field="run_id"]').strip() == run_id
    assert page.evaluate("window.__pwned") is None
    assert view.errors == [] and view.outside == []
    view.close()


def test_hostile_text_is_shown_never_run(
    browser: Any, runs: dict[str, Any], server: UiServer
) -> None:
    """Values with markup and quotes are shown as text, in the file and through `sdk ui`; no
    script of theirs runs, even when they are searched for."""
    report = write_report("hostile", run_dir=runs["dir"])
    for url, allowed in (
        (report.as_uri(), ("file:", "data:")),
        (f"{server.url}runs/hostile/report", (server.url, "data:")),
    ):
        view = Page(browser, allowed)
        page = view.page
        page.goto(url)
        sample = page.inner_text("#quarantine-sample")
        assert SCRIPT in sample and ATTRIBUTE in sample
        page.fill("#quarantine-search", "__pwned")
        assert _visible(page, "#quarantine-sample tbody tr")
        assert page.evaluate("window.__pwned") is None
        assert view.errors == [] and view.outside == []
        view.close()


def _request(
    server: UiServer, method: str, path: str, host: str | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    """The response to ``method path`` sent as is (no normalisation), and its body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    connection.putrequest(method, path, skip_host=True)
    connection.putheader("Host", host or f"127.0.0.1:{server.server_address[1]}")
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def test_ui_is_read_only_and_serves_only_listed_runs(
    runs: dict[str, Any], server: UiServer
) -> None:
    """Only GET and HEAD (405 otherwise); run ids outside the listing, dot-dot and encoded
    slashes are 404; every response has the CSP and nosniff headers; /api/runs is the JSON of
    `sdk runs --format json`; another Host (DNS rebinding) is refused."""
    fraud_id = runs["fraud"]
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        assert _request(server, method, "/")[0].status == 405
    for path in (
        "/runs/../report",
        "/runs/%2e%2e/report",
        "/runs/..%2F..%2Fetc/report",
        f"/runs/{fraud_id}%2F..%2Fhostile/report",
        "/runs/nope/report",
        f"/runs/{fraud_id}/compare/..",
        f"/runs/{fraud_id}",
        "/etc/passwd",
    ):
        answer, _ = _request(server, "GET", path)
        assert answer.status == 404, path
        assert answer.getheader("X-Content-Type-Options") == "nosniff"
    head, body = _request(server, "HEAD", f"/runs/{fraud_id}/report")
    assert head.status == 200 and body == b""
    assert head.getheader("Content-Security-Policy") == HEADERS["Content-Security-Policy"]
    compare, body = _request(server, "GET", f"/runs/{fraud_id}/compare/hostile")
    assert compare.status == 200 and b'id="compare-checks"' in body
    api, body = _request(server, "GET", "/api/runs")
    assert (api.getheader("Content-Type") or "").startswith("application/json")
    assert json.loads(body) == run_records(runs["dir"])
    assert _request(server, "GET", "/", host="attacker.example:80")[0].status == 421
    assert server.server_address[0] == "127.0.0.1"


def test_sdk_ui_command_prints_its_port_and_stops_on_ctrl_c(runs: dict[str, Any]) -> None:
    """`sdk ui --port 0` prints the address it bound (127.0.0.1, the port picked), serves the
    runs there, and Ctrl-C stops it with exit code 0."""
    command = [sys.executable, "-m", "sdk", "ui", "--port", "0", "--run-dir", str(runs["dir"])]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as ui:
        try:
            assert ui.stdout is not None
            line = ui.stdout.readline()
            url = line.split(" at ")[1].split()[0]
            assert urlsplit(url).hostname == "127.0.0.1" and urlsplit(url).port != 0
            with urllib.request.urlopen(url + "api/runs", timeout=10) as answer:
                listed = json.loads(answer.read())
            assert {run["run_id"] for run in listed} == {runs["fraud"], "hostile"}
            ui.send_signal(signal.SIGINT)
            assert ui.wait(timeout=10) == 0
        finally:
            ui.kill()
