"""``sdk ui``: the run directory served as a small read-only web app on this machine.

Pages: ``/`` lists the runs (newest first) linking to each run's report;
``/runs/RUN_ID/report`` is the run's report (:func:`sdk.report.build_report`);
``/runs/RUN_ID/compare/OTHER`` compares two runs; ``/api/runs`` is what
``sdk runs --format json`` prints. Nothing is written: reports are rendered per request.

It listens on ``127.0.0.1`` only and answers ``GET`` and ``HEAD`` only (405 otherwise). A run
id in a path is looked up among the run directories listed, never joined to a path, so ``..``,
slashes and their encoded forms are 404. Requests naming another host than ``127.0.0.1`` or
``localhost`` (a DNS-rebinding page) are refused (421). Every page carries a
Content-Security-Policy that allows no network access: inline styles and scripts only.
"""

from __future__ import annotations

import html
import json
import sys
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from sdk.errors import PipelineError, SdkError
from sdk.runners.rundir import run_root
from sdk.runs import run_records

__all__ = ["HEADERS", "UiServer", "make_server", "serve"]

HOST = "127.0.0.1"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Headers of every response: no resource from anywhere, no content sniffing."""

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid #ddd; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.failed { color: #b00020; } .succeeded { color: #2e7d32; }
"""


class UiServer(ThreadingHTTPServer):
    """The HTTP server of ``sdk ui``: serves the runs under :attr:`run_dir`."""

    daemon_threads = True

    def __init__(self, run_dir: Path, port: int) -> None:
        self.run_dir = run_dir
        super().__init__((HOST, port), _Handler)

    @property
    def url(self) -> str:
        """The list page's address, with the port actually bound (``port=0`` picks one)."""
        return f"http://{HOST}:{self.server_address[1]}/"


def make_server(run_dir: str | Path | None = None, port: int = 8765) -> UiServer:
    """A server for the runs under ``run_dir`` (as for ``sdk runs``), bound to
    ``127.0.0.1:port``; call ``serve_forever()`` on it.

    Raises:
        PipelineError: the port cannot be listened on (in use, not allowed).
    """
    try:
        return UiServer(run_root(run_dir).resolve(), port)
    except OSError as exc:
        raise PipelineError(
            f"sdk ui cannot listen on {HOST}:{port}: {exc.strerror or exc}; "
            "choose another --port (0 picks a free one)"
        ) from None


def serve(run_dir: str | Path | None = None, *, port: int = 8765, is_opened: bool = False) -> None:
    """Serve the runs under ``run_dir`` until Ctrl-C, printing the address first; with
    ``is_opened``, open the list page in the default browser too."""
    server = make_server(run_dir, port)
    print(f"sdk ui: serving {server.run_dir} at {server.url} (Ctrl-C stops)", flush=True)
    if is_opened:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("sdk ui: stopped", file=sys.stderr)
    finally:
        server.server_close()


def _escape(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _route(run_id: str) -> str:
    return "/runs/" + quote(run_id, safe="")


def _number(value: float | None, text: str) -> str:
    return '<td class="num">' + ("-" if value is None else text.format(value)) + "</td>"


def _run_row(run: dict[str, Any], older: dict[str, Any] | None) -> str:
    name = Path(run["path"]).name  # the folder's name: what the routes accept
    compare = ""
    if older is not None:
        href = f"{_route(name)}/compare/{quote(Path(older['path']).name, safe='')}"
        compare = f'<a class="compare" href="{_escape(href)}">vs {_escape(older["run_id"])}</a>'
    cells = [
        f'<td><a class="report" href="{_escape(_route(name))}/report">{_escape(name)}</a></td>',
        f"<td>{_escape(run['pipeline'])}</td>",
        f"<td>{_escape(run['runner'])}</td>",
        f'<td class="{_escape(run["status"])}">{_escape(run["status"])}</td>',
        f"<td>{_escape(run['started'])}</td>",
        _number(run["duration"], "{:.2f} s"),
        _number(run["rows_in"], "{:,}"),
        _number(run["quarantined"], "{:,}"),
        _number(run["quarantine_rate"], "{:.2%}"),
        f"<td>{compare}</td>",
    ]
    return f'<tr data-run-id="{_escape(name)}">{"".join(cells)}</tr>'


_COLUMNS = (
    "Run",
    "Pipeline",
    "Runner",
    "Status",
    "Started",
    "Duration",
    "Rows in",
    "Quarantined",
    "Quarantined %",
    "Compare",
)


def _list_page(root: Path, records: list[dict[str, Any]]) -> str:
    rows = [
        # compare with the next older run of the same pipeline: "what changed since then"
        _run_row(run, next((r for r in records[k + 1 :] if r["pipeline"] == run["pipeline"]), None))
        for k, run in enumerate(records)
    ]
    headers = "".join(f"<th>{h}</th>" for h in _COLUMNS)
    body = (
        f'<table id="runs"><thead><tr>{headers}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        if rows
        else '<p id="no-runs">No runs yet: <code>sdk run ...</code> adds one.</p>'
    )
    return _page(
        "Runs",
        f"<h1>Runs</h1><p>in <code>{_escape(root)}</code>, newest first · "
        f'<a href="/api/runs">JSON</a></p>{body}',
    )


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_escape(title)} · sdk ui</title>"
        '<link rel="icon" href="data:,">'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


class _Handler(BaseHTTPRequestHandler):
    """One request: GET and HEAD are answered, any other method is 405."""

    server: UiServer
    server_version = "sdk-ui"

    def version_string(self) -> str:
        """The ``Server`` header: no Python version."""
        return self.server_version

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>; every method but GET/HEAD is answered 405
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, "text/plain", b"read-only: GET and HEAD only\n")

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in (HOST, "localhost"):
            status, kind, content = HTTPStatus.MISDIRECTED_REQUEST, "text/plain", "wrong host\n"
        else:
            status, kind, content = self._content()
        self._send(status, kind, content.encode("utf-8"), body=body)

    def _content(self) -> tuple[HTTPStatus, str, str]:
        path = urlsplit(self.path).path
        root = self.server.run_dir
        if path == "/":
            return HTTPStatus.OK, "text/html", _list_page(root, run_records(root))
        if path == "/api/runs":
            return HTTPStatus.OK, "application/json", json.dumps(run_records(root), indent=2)
        parts = [unquote(part) for part in path.split("/")]
        known = {Path(r["path"]).name for r in run_records(root)}
        if len(parts) == 4 and parts[:2] == ["", "runs"] and parts[3] == "report":
            runs = [parts[2]]
        elif len(parts) == 5 and parts[:2] == ["", "runs"] and parts[3] == "compare":
            runs = [parts[2], parts[4]]
        else:
            return self._not_found(f"no page {path}")
        if not all(run in known for run in runs):
            return self._not_found("no such run; the list page links to every run")
        from sdk.report import build_report

        compare = root / runs[1] if len(runs) == 2 else None
        try:
            return HTTPStatus.OK, "text/html", build_report(root / runs[0], compare=compare)
        except SdkError as exc:  # a run directory the report cannot read
            return HTTPStatus.NOT_FOUND, "text/html", _page("No report", f"<p>{_escape(exc)}</p>")
        except Exception as exc:  # a bug: shown, and the server goes on serving other pages
            self.log_error("report of %s failed: %r", runs, exc)
            why = f"<p>the report failed: {_escape(type(exc).__name__)}: {_escape(exc)}</p>"
            return HTTPStatus.INTERNAL_SERVER_ERROR, "text/html", _page("Report failed", why)

    def _not_found(self, why: str) -> tuple[HTTPStatus, str, str]:
        return HTTPStatus.NOT_FOUND, "text/html", _page("Not found", f"<p>{_escape(why)}</p>")

    def _send(self, status: HTTPStatus, kind: str, content: bytes, *, body: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(content)))
        for name, value in HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write("sdk ui: " + format % args + "\n")
