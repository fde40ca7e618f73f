"""The serve runner over HTTP, beside the bare FastAPI endpoint a user would write instead.

Usage (from the repository root, with the ``sdk-serve`` plugin installed)::

    python benchmarks/bench_serve.py                            # median of 3 rounds
    python benchmarks/bench_serve.py --quick                    # fewer requests, one round
    python benchmarks/bench_serve.py --out docs/performance.md  # also write the table there

Two uvicorn servers (one worker, loopback, fresh each round): **sdk** — ``sdk run
plugins/sdk-serve/tests/scoring.py:scoring --runner serve`` (logging at its default level into a
file) — and **bare** (``--bare``), the FastAPI endpoint a user writes with ``schema.validate``.
A load generator of its own (``--load``: asyncio, HTTP/1.1 keep-alive) times each request, first
byte sent to last byte read; 1 and 100 records per request, 1 and 8 connections; ~1 % of records
have a malformed amount. Method and results: docs/performance.md (``bench-serve``).
"""

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TESTS = ROOT / "plugins" / "sdk-serve" / "tests"
sys.path[:0] = [str(HERE), str(ROOT)]

from _report import cpu_model, write_section  # noqa: E402
from _report import versions as versions_of  # noqa: E402

SECTION = "bench-serve"
RESULT = "BENCH_RESULT "
BAD_EVERY = 100  # one malformed amount in 100 records
SCENARIOS = [(1, 1), (1, 8), (100, 1), (100, 8)]  # (records per request, connections)
COUNTRIES = ["FR", "DE", "US", "GB", "ES", "IT", "NL", "BE", "CH", "SE"]


def bare_app() -> Any:
    """``POST /score``: validate, quarantine the failing rows, score, validate, answer."""
    import numpy as np
    import pandas as pd
    import pandera.pandas as pa
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from examples.fraud.pipeline import Features, Scored

    features, scored = Features.to_schema(), Scored.to_schema()
    app = FastAPI()

    @app.post("/score")
    async def score(request: Request) -> JSONResponse:
        records = await request.json()
        df = pd.DataFrame(records)
        quarantine: list[dict[str, Any]] = []
        try:
            valid = features.validate(df, lazy=True)
        except pa.errors.SchemaErrors as err:
            cases = err.failure_cases[err.failure_cases["index"].notna()]
            cases = cases[["column", "check", "failure_case", "index"]].astype({"index": int})
            bad = cases["index"].unique()
            quarantine = [
                {**case, "failure_case": str(case["failure_case"]), "row": records[case["index"]]}
                for case in cases.to_dict("records")
            ]
            valid = features.validate(df.drop(index=bad))
        out = valid.assign(score=1 / (1 + np.exp(-(0.7 * np.log1p(valid["amount"])))))
        out = scored.validate(out)
        body = {"outputs": {"scored": out.to_dict("records")}, "quarantine": quarantine}
        return JSONResponse(body, status_code=200 if len(out) else 422)

    return app


def serve_bare() -> None:
    """Run the bare app on a free loopback port; its URL is the first line on stdout."""
    import uvicorn

    # IPPROTO_TCP, as uvicorn.run(host=..., port=...) binds: asyncio then sets TCP_NODELAY on
    # each connection (it skips sockets of proto 0, whose answers then wait ~40 ms for an ACK)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(bare_app(), access_log=False, log_level="warning", lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


def bodies(size: int, n: int, seed: int = 0) -> list[bytes]:
    """``n`` request bodies of ``size`` records; one record in ``BAD_EVERY`` is malformed."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        records = []
        for j in range(size):
            amount: Any = round(rng.lognormvariate(4, 1.2), 2)
            if (i * size + j) % BAD_EVERY == BAD_EVERY // 2:
                amount = "n/a"
            records.append(
                {"customer_id": rng.randrange(1_000_000), "amount": amount}
                | {"country": rng.choice(COUNTRIES), "mean_amount": round(rng.uniform(1, 500), 2)}
                | {"n_tx": rng.randrange(1, 50)}
            )
        out.append(json.dumps(records).encode())
    return out


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes
) -> tuple[int, bytes]:
    writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
    lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
    length = next(int(x.split(b":")[1]) for x in lines if x.lower().startswith(b"content-length"))
    return int(lines[0].split()[1]), await reader.readexactly(length)


async def load(url: str, path: str, size: int, conns: int, n: int, warm: int) -> dict[str, Any]:
    """Warm up, then ``n`` requests over ``conns`` connections: latencies, wall time, statuses."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"X-Request-ID: s{size}c{conns}-"
    ).encode()
    warm_bodies, work = bodies(size, warm, seed=1), bodies(size, n, seed=2)
    links = [await asyncio.open_connection(host, int(port)) for _ in range(conns)]
    for i, body in enumerate(warm_bodies):  # warm-up, answers checked
        status, answer = await _exchange(*links[i % conns], head + b"w\r\nContent-Length: ", body)
        got = json.loads(answer)
        if status not in (200, 422) or len(got["outputs"]["scored"]) > size:
            raise RuntimeError(f"{url}{path}: {status} {answer[:300]!r}")
    latencies = [0.0] * n
    statuses: dict[int, int] = {}
    queue = iter(range(n))

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for i in queue:
            start = time.perf_counter()
            tag = str(i).encode() + b"\r\nContent-Length: "
            status, _ = await _exchange(reader, writer, head + tag, work[i])
            latencies[i] = time.perf_counter() - start
            statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(*link) for link in links))
    wall = time.perf_counter() - start
    for _, writer in links:
        writer.close()
    return {"latencies": latencies, "wall": wall, "statuses": statuses}


class Server:
    """One server process: ``sdk`` or ``bare``; its URL, its log, its peak RSS."""

    def __init__(self, kind: str, folder: Path, tag: str) -> None:
        self.kind, self.log = kind, folder / f"{kind}-{tag}.log"
        paths = [str(ROOT), str(TESTS)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        if kind == "sdk":
            command = [sys.executable, "-m", "sdk", "run", f"{TESTS}/scoring.py:scoring"]
            command += ["--runner", "serve", "--runner-option", "port=0"]
            command += ["--run-dir", str(folder / "runs")]
            self.path = "/v1/run"
        else:
            command, self.path = [sys.executable, __file__, "--bare"], "/score"
        with self.log.open("w") as err:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=ROOT
            )
        self.url = ""

    def wait_ready(self, timeout: float = 120) -> None:
        """The URL (the ``serve_started`` event, or the bare app's first stdout line)."""
        deadline = time.monotonic() + timeout
        if self.kind == "bare":
            assert self.process.stdout is not None
            self.url = self.process.stdout.readline().strip()
        while not self.url and time.monotonic() < deadline and self.process.poll() is None:
            for line in self.log.read_text().splitlines():
                if '"serve_started"' in line:
                    self.url = json.loads(line)["url"]
            time.sleep(0.1)
        if not self.url:
            raise RuntimeError(f"{self.kind} did not start:\n{self.log.read_text()[-3000:]}")
        while time.monotonic() < deadline:
            try:  # the bare app has no /readyz: a 404 means it listens
                with urllib.request.urlopen(self.url + "/readyz") as answer:
                    if answer.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} never became ready")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
        return float("nan")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


def run_load(server: Server, size: int, conns: int, n: int, warm: int) -> dict[str, Any]:
    """One scenario against ``server`` from a fresh load-generator process."""
    job = json.dumps([server.url, server.path, size, conns, n, warm])
    done = subprocess.run(
        [sys.executable, __file__, "--load", job], capture_output=True, text=True, timeout=900
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith(RESULT)]
    if done.returncode or not lines:
        raise RuntimeError(f"load on {server.kind} failed:\n{done.stderr[-3000:]}")
    raw = json.loads(lines[-1][len(RESULT) :])
    odd = {k: v for k, v in raw["statuses"].items() if k not in ("200", "422")}
    if odd:
        raise RuntimeError(f"{server.kind} answered {odd}")
    lat = sorted(raw["latencies"])
    return {
        "p50": statistics.median(lat) * 1e3,
        "p99": statistics.quantiles(lat, n=100, method="inclusive")[98] * 1e3,
        "rps": n / raw["wall"],
        "recs": n * size / raw["wall"],
    }


def same_answers(sdk: Server, bare: Server) -> str:
    """Send one 100-record body to both: same scored rows, same quarantined positions?"""
    body = bodies(100, 1, seed=3)[0]

    def post(server: Server) -> Any:
        request = urllib.request.Request(server.url + server.path, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request) as answer:
            return json.loads(answer.read())

    a, b = post(sdk), post(bare)
    rows_a, rows_b = a["outputs"]["scored"], b["outputs"]["scored"]
    same_rows = len(rows_a) == len(rows_b) and all(
        x["customer_id"] == y["customer_id"] and abs(x["score"] - y["score"]) < 1e-12
        for x, y in zip(rows_a, rows_b, strict=True)
    )
    bad_a = sorted({int(q["source"].split("#")[1]) for q in a["quarantine"]})
    bad_b = sorted({int(q["index"]) for q in b["quarantine"]})
    if same_rows and bad_a == bad_b:
        return f"same {len(rows_a)} scored rows and quarantined positions {bad_a}"
    raise RuntimeError(f"the servers disagree: {len(rows_a)}/{len(rows_b)} rows, {bad_a}/{bad_b}")


def breakdown(log: Path) -> dict[str, tuple[float, float]]:
    """Per scenario, the sdk's median ``http_request`` and ``score`` unit durations (ms)."""
    inside: dict[str, list[float]] = {}
    unit: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        if '"request_id": "s' not in line:
            continue
        event = json.loads(line)
        key, number = event["request_id"].split("-")
        if number == "w":  # warm-up
            continue
        if event["event"] == "http_request":
            inside.setdefault(key, []).append(event["duration_ms"])
        elif event["event"] == "unit_committed":
            unit.setdefault(key, []).append(event["steps"]["score"]["duration_ms"])
    return {
        k: (statistics.median(v), statistics.median(unit.get(k, [0.0]))) for k, v in inside.items()
    }


def medians(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def render(cells: dict[str, dict[str, Any]], info: str) -> str:
    """The markdown section (without the markers)."""
    lines = [
        info,
        "",
        "| records x connections | sdk p50 / p99 ms | sdk req/s | sdk records/s "
        "| bare p50 / p99 ms | bare req/s | bare records/s | p50 x bare | p99 x bare "
        "| records/s x bare | sdk in-app / unit ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, conns in SCENARIOS:
        key = f"s{size}c{conns}"
        s, b = cells["sdk"][key], cells["bare"][key]
        inside, unit = cells["sdk"]["breakdown"].get(key, (float("nan"), float("nan")))
        lines.append(
            f"| {size} x {conns} | {s['p50']:.2f} / {s['p99']:.2f} | {s['rps']:,.0f} "
            f"| {s['recs']:,.0f} | {b['p50']:.2f} / {b['p99']:.2f} | {b['rps']:,.0f} "
            f"| {b['recs']:,.0f} | {s['p50'] / b['p50']:.2f} | {s['p99'] / b['p99']:.2f} "
            f"| {s['recs'] / b['recs']:.2f} | {inside:.2f} / {unit:.2f} |"
        )
    lines.append("")
    lines.append(
        f"Peak RSS (`VmHWM`, median over rounds): sdk {cells['sdk']['rss']:.0f} MB, "
        f"bare {cells['bare']['rss']:.0f} MB."
    )
    s1, b1 = cells["sdk"]["s1c1"], cells["bare"]["s1c1"]
    checks = [
        ("single-record p50 ≤ 0.8x bare", s1["p50"] / b1["p50"], 0.8, s1["p50"], b1["p50"], "ms"),
        ("single-record p99 ≤ 1.0x bare", s1["p99"] / b1["p99"], 1.0, s1["p99"], b1["p99"], "ms"),
    ]
    for conns in (1, 8):
        s, b = cells["sdk"][f"s100c{conns}"], cells["bare"][f"s100c{conns}"]
        label = f"100-record throughput ≥ 1.2x bare ({conns} conn.)"
        checks.append((label, s["recs"] / b["recs"], 1.2, s["recs"], b["recs"], "records/s"))
    lines.append("")
    lines.append("Targets (issue 14), in this run (single record: at 1 connection):")
    lines.append("")
    for label, ratio, limit, mine, theirs, unit_name in checks:
        met = ratio <= limit if "≤" in label else ratio >= limit
        lines.append(
            f"- {label}: {ratio:.2f}x ({mine:,.2f} against {theirs:,.2f} {unit_name}) — "
            + ("**met**" if met else "**not met**")
        )
    return "\n".join(lines) + "\n"


def revision() -> str:
    """The measured tree: its commit, and whether sdk/ or the plugin has uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True
        ).stdout

    dirty = git("status", "--porcelain", "sdk", "plugins/sdk-serve").strip()
    return f"commit {git('rev-parse', '--short', 'HEAD').strip()}" + (
        " with uncommitted changes to sdk/ or the plugin" if dirty else ""
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="single-record requests")
    parser.add_argument("--batches", type=int, default=200, help="100-record requests")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="300 / 40 requests, one round")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare:
        serve_bare()
        return 0
    if args.load:
        url, path, size, conns, n, warm = json.loads(args.load)
        outcome = asyncio.run(load(url, path, size, conns, n, warm))
        print(RESULT + json.dumps(outcome), flush=True)
        return 0
    if args.quick:
        args.requests, args.batches, args.repeat = 300, 40, 1
    runs: dict[str, dict[str, list[dict[str, float]]]] = {"sdk": {}, "bare": {}}
    rss: dict[str, list[float]] = {"sdk": [], "bare": []}
    seen: dict[str, list[tuple[float, float]]] = {}
    checked = ""
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            servers = {kind: Server(kind, Path(tmp), str(r)) for kind in ("sdk", "bare")}
            try:
                for server in servers.values():
                    server.wait_ready()
                checked = same_answers(servers["sdk"], servers["bare"])
                for i, (size, conns) in enumerate(SCENARIOS):
                    n = args.requests if size == 1 else args.batches
                    warm = max(8, n // 20)
                    order = ["sdk", "bare"] if (r + i) % 2 == 0 else ["bare", "sdk"]
                    for kind in order:
                        cell = run_load(servers[kind], size, conns, n, warm)
                        runs[kind].setdefault(f"s{size}c{conns}", []).append(cell)
                        print(f"round {r} {kind} {size}x{conns}: {cell}", flush=True)
                for kind, server in servers.items():
                    rss[kind].append(server.peak_rss_mb())
            finally:
                for server in servers.values():
                    server.stop()
            for key, pair in breakdown(servers["sdk"].log).items():
                seen.setdefault(key, []).append(pair)
    cells: dict[str, dict[str, Any]] = {
        kind: {key: medians(v) for key, v in runs[kind].items()} for kind in runs
    }
    for kind in cells:
        cells[kind]["rss"] = statistics.median(rss[kind])
    cells["sdk"]["breakdown"] = {
        k: (statistics.median(p[0] for p in v), statistics.median(p[1] for p in v))
        for k, v in seen.items()
    }
    versions = versions_of(("fastapi", "uvicorn", "starlette", "pandas", "pandera", "pipeline-sdk"))
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = (
        f"Measured {today} on {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, {', '.join(versions)}; the "
        f"sdk at {revision()}. Both servers: uvicorn, one worker, HTTP/1.1 (h11) on loopback. "
        f"Per round, each server is started fresh and every scenario is sent {args.requests:,} "
        f"single-record or {args.batches:,} 100-record requests (after "
        f"{max(8, args.requests // 20)} / {max(8, args.batches // 20)} warm-up requests) by a "
        f"load-generator process of its own (asyncio, keep-alive, one request in flight per "
        f"connection); ~1 % of records have a malformed amount. Median of {args.repeat} "
        f"round(s), the two servers alternating. Latency: first byte sent to last byte "
        f"received. *sdk in-app / unit*: medians of the server's own `http_request` "
        f"`duration_ms` and of the request unit's `Score` duration, from its log. Answers "
        f"checked: {checked}."
    )
    section = render(cells, info)
    print(section)
    if args.out:
        write_section(args.out, SECTION, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
