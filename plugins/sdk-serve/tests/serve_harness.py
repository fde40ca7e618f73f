"""A real server for the tests: ``sdk run TARGET --runner serve`` in a subprocess on a free
loopback port, its JSON log lines collected, stopped with SIGTERM.

Test modules import the ``serve`` fixture from here (``from serve_harness import serve``): the
plugin's tests have no ``conftest.py``, whose module name would shadow the core tests' own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
if str(ROOT) not in sys.path:  # the examples, imported as `examples.fraud`
    sys.path.append(str(ROOT))


class Server:
    """One serving process: its URL, its log events, and how it ended."""

    def __init__(
        self,
        target: str,
        options: Sequence[str],
        run_dir: Path,
        env: dict[str, str] | None,
        extra: Sequence[str] = (),
    ) -> None:
        command = [sys.executable, "-m", "sdk", "run", target, "--runner", "serve"]
        command += ["--run-dir", str(run_dir), "--runner-option", "port=0"]
        for option in options:
            command += ["--runner-option", option]
        command += list(extra)
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
            "SDK_LOG_FORMAT": "json",
            **(env or {}),
        }
        self.process = subprocess.Popen(
            command,
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=environment,
            cwd=ROOT,
        )
        self.lines: list[str] = []
        self.started = threading.Event()
        self.url: str | None = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if '"serve_started"' in line:
                self.url = json.loads(line)["url"]
                self.started.set()
        self.started.set()

    def wait_ready(self, timeout: float = 60) -> Server:
        """Wait for ``serve_started`` and a ready ``/readyz``."""
        if not self.started.wait(timeout) or self.url is None:
            self.process.kill()
            raise AssertionError("the server did not start:\n" + "".join(self.lines[-30:]))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("the server never became ready:\n" + "".join(self.lines[-30:]))

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines so far (of event ``name``)."""
        parsed = [json.loads(line) for line in list(self.lines) if line.startswith("{")]
        return [e for e in parsed if name is None or e["event"] == name]

    def wait_for(self, name: str, timeout: float = 10) -> list[dict[str, Any]]:
        """The events ``name``, once there is one (a log line may follow the answer)."""
        deadline = time.monotonic() + timeout
        while not (found := self.events(name)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then wait for the exit code (and the last log lines)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.reader.join(timeout)
        return code

    def post(self, body: Any, **kwargs: Any) -> httpx.Response:
        """POST ``body`` as JSON to /v1/run."""
        assert self.url is not None
        return httpx.post(self.url + "/v1/run", json=body, timeout=60, **kwargs)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start servers: ``serve("scoring.py:scoring", "max_records=3")``; stopped at the end."""
    started: list[Server] = []

    def start(
        target: str,
        *options: str,
        env: dict[str, str] | None = None,
        extra: Sequence[str] = (),
        ready: bool = True,
    ) -> Server:
        server = Server(target, options, tmp_path / "runs", env, extra)
        started.append(server)
        return server.wait_ready() if ready else server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.stop()
