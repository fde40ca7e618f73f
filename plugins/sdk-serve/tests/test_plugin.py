"""The plugin as users install it: through the ``sdk`` entry point, loaded only when needed."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points, version
from pathlib import Path

ROOT = Path(__file__).parents[3]

HEAVY = ("fastapi", "starlette", "uvicorn", "prometheus_client", "httpx")
SERVER_MODULES = ("sdk_serve.app", "sdk_serve.service", "sdk_serve.contract", "sdk_serve.metrics")


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return done.stdout


def test_registered_through_the_sdk_entry_point_group() -> None:
    (point,) = [p for p in entry_points(group="sdk") if p.name == "serve"]
    assert point.value == "sdk_serve"
    assert point.dist is not None and point.dist.name == "sdk-serve"
    listed = subprocess.run(
        [sys.executable, "-m", "sdk", "runners"], capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in listed.splitlines() if line.startswith("serve "))
    assert f"sdk-serve {version('sdk-serve')}" in line
    assert "--runner-option allow_params: list[str] = []" in listed
    assert "--runner-option max_records: int = 10000" in listed


def test_import_sdk_and_a_local_run_load_no_server_code() -> None:
    code = f"""
import json, sys
import sdk
after_import = sorted(m for m in sys.modules if m.split(".")[0] in {(*HEAVY, "sdk_serve")!r})
import pandas as pd
from examples.fraud.pipeline import Score
result = sdk.Pipeline([Score()], name="p").run(
    features=pd.DataFrame([{{"customer_id": 1, "amount": 2.0, "country": "FR",
                            "mean_amount": 2.0, "n_tx": 1}}]))
assert result.status == "succeeded"
after_run = sorted(m for m in sys.modules
                   if m.split(".")[0] in {HEAVY!r} or m in {SERVER_MODULES!r})
print(json.dumps({{"import": after_import, "run": after_run,
                   "plugin": "sdk_serve" in sys.modules}}))
"""
    found = json.loads(_python(code).splitlines()[-1])
    assert found["import"] == []  # `import sdk` loads no plugin at all
    assert found["run"] == []  # a local run: no web framework, no server module
    # the hook module itself is loaded with the other plugins of the entry-point group, so
    # that its hooks could observe the run; it imports nothing heavy (see docs/serve.md)
    assert found["plugin"] is True
