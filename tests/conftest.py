"""Shared fixtures: the repository root, the bundled example's data, service lookup."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the examples package is imported by tests as `examples.fraud`
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def _run_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep run directories (manifests, checkpoints) out of the working tree."""
    path = tmp_path_factory.mktemp("runs")
    monkeypatch.setenv("SDK_RUN_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture
def fraud_raw() -> pd.DataFrame:
    """The bundled example's transactions, as raw text (as the CSV reader gives them)."""
    return pd.read_csv(ROOT / "examples" / "fraud" / "transactions.csv", dtype=str)


REDIS = os.environ.get("SDK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
"""The Redis server of the stream tests."""


def require_service(name: str, reason: str) -> None:
    """Skip the test for a missing service, or fail under ``SDK_REQUIRE_SERVICES=1`` (CI)."""
    if os.environ.get("SDK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"service {name} is required in CI but unavailable: {reason}")
    pytest.skip(f"service {name} unavailable: {reason}")


PG_URL = os.environ.get("SDK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
"""The PostgreSQL server of the SQL tests."""


@pytest.fixture(scope="module")
def pg_url() -> str:
    """The test server's URL; skips (or fails in CI) when it cannot be reached."""
    try:
        import psycopg
    except ImportError as exc:
        require_service("postgresql", f"psycopg is not installed ({exc})")
    try:
        with psycopg.connect(PG_URL, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        from sdk.io import redact

        require_service("postgresql", f"{redact(PG_URL)}: {exc}")
    return PG_URL


def sdk_script() -> str:
    """The `sdk` console script installed next to this interpreter."""
    beside = Path(sys.executable).parent / "sdk"
    found = str(beside) if beside.exists() else shutil.which("sdk")
    assert found, "the `sdk` console script is not installed"
    return found


def cli(
    *args: str, cwd: Path = ROOT, script: bool = False, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run `python -m sdk ARGS` (or the `sdk` script) as a user would: in a subprocess, stderr
    not a terminal, without the caller's SDK_LOG_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDK_LOG_")}
    command = [sdk_script()] if script else [sys.executable, "-m", "sdk"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


def redis_client() -> Any:
    """A client of :data:`REDIS` (text replies), or a skip (a failure in CI) when no server
    answers."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS, decode_responses=True)
    try:
        client.ping()
    except Exception as exc:
        client.close()
        require_service("redis", f"{REDIS}: {exc}")
    return client


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A Redis client for the module's tests (see :func:`redis_client`)."""
    client = redis_client()
    yield client
    client.close()
