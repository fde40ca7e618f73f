"""Plugins: runner registration (in-process and through a real entry point) and lifecycle hooks."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandera.typing import DataFrame

import sdk
import sdk.plugins
import sdk.runners.registry
from examples.fraud.pipeline import Features, Transactions, pipeline
from sdk.testing import assert_equivalent

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_SDK_MODULES = {"sdk", "sdk.testing"}


class ReverseRunner(sdk.Runner):
    """Runs steps in order, in memory, after reversing the row order of every input."""

    name = "reverse"

    def run_stage(self, session: sdk.RunSession, stage: sdk.Stage) -> None:
        for name in stage.inputs:
            if name not in session.datasets:
                d = session.load(name)
                backwards = np.arange(len(d.frame))[::-1]
                reversed_data = sdk.Data(d.frame.iloc[backwards], d.sources.take(backwards))
                session.datasets[name] = reversed_data
        frames = {name: session.datasets[name] for name in stage.inputs}
        result = sdk.run_unit(stage, frames, session.context)
        session.datasets.update(result.outputs)
        self.commit(session, stage, f"s{stage.number}", result)


class ReversePlugin:
    """Registers the reverse runner."""

    @sdk.hookimpl
    def sdk_register_runners(self) -> list[type[sdk.Runner]]:
        return [ReverseRunner]


class Observer:
    """Records every lifecycle hook call with its arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @sdk.hookimpl
    def sdk_before_run(self, run: sdk.RunInfo) -> None:
        self.calls.append(("before_run", {"run": run}))

    @sdk.hookimpl
    def sdk_after_run(self, run: sdk.RunInfo, result: sdk.RunResult) -> None:
        self.calls.append(("after_run", {"run": run, "result": result}))

    @sdk.hookimpl
    def sdk_on_run_error(self, run: sdk.RunInfo, error: Exception) -> None:
        self.calls.append(("on_run_error", {"run": run, "error": error}))

    @sdk.hookimpl
    def sdk_before_step(self, run: sdk.RunInfo, step: sdk.Step, rows_in: dict[str, int]) -> None:
        self.calls.append(("before_step", {"run": run, "step": step, "rows_in": rows_in}))

    @sdk.hookimpl
    def sdk_after_step(
        self, run: sdk.RunInfo, step: sdk.Step, rows_out: int, duration_ms: float
    ) -> None:
        self.calls.append(
            ("after_step", {"run": run, "step": step, "rows_out": rows_out,
                            "duration_ms": duration_ms})
        )

    @sdk.hookimpl
    def sdk_on_step_error(self, run: sdk.RunInfo, step: sdk.Step, error: Exception) -> None:
        self.calls.append(("on_step_error", {"run": run, "step": step, "error": error}))

    @sdk.hookimpl
    def sdk_on_quarantine(
        self, run: sdk.RunInfo, step: sdk.Step, boundary: str, dataset: str,
        records: pd.DataFrame,
    ) -> None:
        self.calls.append(
            ("on_quarantine", {"run": run, "step": step, "boundary": boundary,
                               "dataset": dataset, "records": records})
        )

    def names(self) -> list[str]:
        """The hooks called, in order, with the step where there is one."""
        return [
            f"{name}:{kwargs['step'].name}" if "step" in kwargs else name
            for name, kwargs in self.calls
        ]


class Explode(sdk.Step):
    """Fails on every input."""

    output = "features"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Features]:
        """Raise."""
        raise RuntimeError("boom")


@pytest.fixture
def reverse_runner() -> Iterator[str]:
    """The reverse runner, registered in-process for the test."""
    pm = sdk.plugins.get_plugin_manager()
    plugin = ReversePlugin()
    pm.register(plugin, name="test-reverse")
    yield "reverse"
    pm.unregister(plugin)


@pytest.fixture
def observer() -> Iterator[Observer]:
    """An observer plugin, registered in-process for the test."""
    pm = sdk.plugins.get_plugin_manager()
    plugin = Observer()
    pm.register(plugin, name="test-observer")
    yield plugin
    pm.unregister(plugin)


@pytest.fixture
def clean_raw() -> pd.DataFrame:
    """A few transactions without a single bad value."""
    return pd.DataFrame(
        {"customer_id": ["1", "2", "1", "3"], "amount": ["10.5", "20", "3.25", "99"],
         "country": ["US", "FR", "US", "DE"]}
    )


def subprocess_env(plugin_dir: Path) -> dict[str, str]:
    """The environment for `python -m sdk` with `plugin_dir` on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(plugin_dir), str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


def write_plugin(folder: Path, module: str, dist: str, version: str, body: str) -> None:
    """Write `module.py` and an installed-looking `<module>-<version>.dist-info` into `folder`."""
    (folder / f"{module}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    info = folder / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(f"[sdk]\ndemo = {module}\n", encoding="utf-8")


def sdk_imports(source: str) -> list[str]:
    """The modules under `sdk` that `source` imports from, other than `sdk` and `sdk.testing`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [
            n for n in names
            if (n == "sdk" or n.startswith("sdk.")) and n not in ALLOWED_SDK_MODULES
        ]
    return found


def test_builtin_local_runner_is_listed_with_its_distribution() -> None:
    """`list_runners()` has "local", from "pipeline-sdk <version>"."""
    runners = sdk.runners.registry.list_runners()
    cls, origin = runners["local"]
    assert issubclass(cls, sdk.Runner)
    assert origin == f"pipeline-sdk {sdk.__version__}"


def test_in_process_runner_plugin_runs_and_matches_local(
    reverse_runner: str, fraud_raw: pd.DataFrame
) -> None:
    """A runner registered through `sdk_register_runners` runs the pipeline like `local`."""
    assert reverse_runner in sdk.runners.registry.list_runners()
    local = pipeline.run(transactions=fraud_raw)
    reverse = pipeline.run(reverse_runner, transactions=fraud_raw)
    assert reverse.runner == "reverse"
    assert not reverse.outputs["scored"].index.equals(local.outputs["scored"].index)
    assert_equivalent(local, reverse)


def test_unregistered_runner_is_gone(reverse_runner: str) -> None:
    """Unregistering the plugin removes its runner from the list."""
    pm = sdk.plugins.get_plugin_manager()
    plugin = pm.get_plugin("test-reverse")
    pm.unregister(plugin)
    try:
        assert reverse_runner not in sdk.runners.registry.list_runners()
    finally:
        pm.register(plugin, name="test-reverse")


def test_unknown_runner_lists_available_ones(fraud_raw: pd.DataFrame) -> None:
    """Asking for a runner nobody registered raises PluginError naming the available runners."""
    with pytest.raises(sdk.PluginError) as info:
        pipeline.run("warp-drive", transactions=fraud_raw)
    message = str(info.value)
    assert "warp-drive" in message
    assert "local" in message


def test_hooks_of_a_clean_run(observer: Observer, clean_raw: pd.DataFrame) -> None:
    """A clean run calls before_run, before/after each step in order, then after_run."""
    result = pipeline.run(transactions=clean_raw, run_id="hooks-ok")
    assert observer.names() == [
        "before_run",
        "before_step:add_features", "after_step:add_features",
        "before_step:score", "after_step:score",
        "after_run",
    ]
    runs = {id(kwargs["run"]) for _, kwargs in observer.calls}
    assert len(runs) == 1
    run = observer.calls[0][1]["run"]
    assert isinstance(run, sdk.RunInfo)
    assert (run.run_id, run.pipeline, run.runner) == ("hooks-ok", "fraud", "local")
    assert run.params["score"] == {"weight": 0.7, "bias": 0.0}
    before = observer.calls[1][1]
    assert before["rows_in"] == {"transactions": 4}
    after = observer.calls[4][1]
    assert after["rows_out"] == 4
    assert isinstance(after["duration_ms"], float) and after["duration_ms"] >= 0
    assert observer.calls[-1][1]["result"] is result


def test_hooks_of_a_run_with_quarantine(observer: Observer, fraud_raw: pd.DataFrame) -> None:
    """Quarantined rows are reported to on_quarantine inside the step, with their records."""
    result = pipeline.run(transactions=fraud_raw, run_id="hooks-q")
    assert observer.names() == [
        "before_run",
        "before_step:add_features", "on_quarantine:add_features", "after_step:add_features",
        "before_step:score", "after_step:score",
        "after_run",
    ]
    quarantine = observer.calls[2][1]
    assert (quarantine["boundary"], quarantine["dataset"]) == ("input", "transactions")
    records = quarantine["records"]
    assert records["source"].nunique() == 30
    assert set(records["run_id"]) == {"hooks-q"}
    assert len(records) == len(result.quarantine)
    assert observer.calls[3][1]["rows_out"] == 1970


def test_hooks_of_a_failing_step(observer: Observer, clean_raw: pd.DataFrame) -> None:
    """A raising step calls on_step_error then on_run_error with the StepError, no after hooks."""
    broken = sdk.Pipeline([Explode()], name="broken")
    with pytest.raises(sdk.StepError) as info:
        broken.run(transactions=clean_raw, run_id="hooks-bad")
    assert observer.names() == [
        "before_run", "before_step:explode", "on_step_error:explode", "on_run_error",
    ]
    step_error = observer.calls[2][1]["error"]
    run_error = observer.calls[3][1]["error"]
    assert step_error is info.value
    assert run_error is info.value
    assert isinstance(step_error.__cause__, RuntimeError)
    assert observer.calls[3][1]["run"].run_id == "hooks-bad"


def test_entry_point_plugin_is_listed_by_cli(tmp_path: Path) -> None:
    """A runner installed through the `sdk` entry-point group is listed with its distribution."""
    write_plugin(tmp_path, "demo_sdk_plugin", "demo-sdk-plugin", "0.1", '''
        """A demo runner plugin."""
        import sdk


        class DemoRunner(sdk.Runner):
            """The demo runner, in memory, step by step."""

            name = "demo"

            options = (
                *sdk.BASE_OPTIONS,
                sdk.RunnerOption("shout", bool, False, "log louder"),
            )

            def run_stage(self, session, stage):
                frames = {name: session.whole(name) for name in stage.inputs}
                result = sdk.run_unit(stage, frames, session.context)
                session.datasets.update(result.outputs)
                self.commit(session, stage, f"s{stage.number}", result)


        @sdk.hookimpl
        def sdk_register_runners():
            return [DemoRunner]
    ''')
    out = subprocess.run(
        [sys.executable, "-m", "sdk", "runners"], capture_output=True, text=True,
        env=subprocess_env(tmp_path), cwd=tmp_path, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    rows = {
        line.split()[0]: line
        for line in out.stdout.splitlines()
        if line.strip() and not line.startswith(" ")
    }
    assert "demo-sdk-plugin 0.1" in rows["demo"]
    assert "--runner-option shout: bool = False — log louder" in out.stdout
    assert "The demo runner" in rows["demo"]
    assert f"pipeline-sdk {sdk.__version__}" in rows["local"]


def test_entry_point_plugin_with_unknown_hook_is_refused(tmp_path: Path) -> None:
    """A plugin implementing a hook the SDK does not define: `sdk runners` exits 2, naming it."""
    write_plugin(tmp_path, "bogus_sdk_plugin", "bogus-sdk-plugin", "0.1", '''
        """A plugin with a typo in its hook name."""
        import sdk


        @sdk.hookimpl
        def sdk_bogus_hook():
            return None
    ''')
    out = subprocess.run(
        [sys.executable, "-m", "sdk", "runners"], capture_output=True, text=True,
        env=subprocess_env(tmp_path), cwd=tmp_path, timeout=120,
    )
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "bogus_sdk_plugin" in out.stderr
    assert "sdk_bogus_hook" in out.stderr
    assert "Traceback" not in out.stderr


def test_private_import_check_catches_private_imports() -> None:
    """The import check flags imports from SDK internals and accepts `sdk` and `sdk.testing`."""
    source = textwrap.dedent("""
        import sdk
        import sdk.testing
        from sdk import Runner, hookimpl
        from sdk.testing import assert_equivalent
        from sdk.runners.base import RunState
        from sdk._internal import thing
        import sdk.logs
        from . import sibling
    """)
    assert sdk_imports(source) == ["sdk.runners.base", "sdk._internal", "sdk.logs"]


def test_plugins_import_only_public_sdk() -> None:
    """Code under plugins/*/ imports only from `sdk` and `sdk.testing` (STYLE.md)."""
    offenders = {
        str(path.relative_to(ROOT)): bad
        for path in sorted((ROOT / "plugins").glob("*/**/*.py"))
        if (bad := sdk_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
