"""The dask runner's own behaviour on a real cluster: failures, the memory limit, artifacts
broadcast once, code the workers cannot import, steps defined in ``__main__``, worker logs in
the client's stream, and the plugin as installed (``sdk runners``, nothing imported early).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sdk_dask
from dask_harness import HERE, ROOT, dask_address, run, sdk_command
from dask_pipelines import exploding, rows_only, three_scopes, transactions, whole

import sdk
from examples.spaceflights.pipeline import Features, serving, training
from sdk.testing import assert_equivalent, capture_logs

__all__ = ["dask_address"]

SPACEFLIGHTS = ROOT / "examples" / "spaceflights"
FRAUD_CSV = ROOT / "examples" / "fraud" / "transactions.csv"


def test_a_raising_step_fails_the_run_with_step_error(dask_address: str) -> None:
    """A step raising on a worker under on_step_error="fail": the client gets sdk.StepError
    naming the step and the run, and step_failed is logged with the run id."""
    with capture_logs() as logs, pytest.raises(sdk.StepError) as caught:
        run(exploding, "dask", {"address": dask_address}, transactions=transactions())
    error = caught.value
    assert error.step == "explode"
    assert "RuntimeError: boom" in str(error)
    (failed,) = logs.events("step_failed")
    (started,) = logs.events("run_started")
    assert failed["step"] == "explode"
    assert failed["run_id"] == started["run_id"] == error.run_id
    assert failed["runner"] == "dask"


def test_a_global_step_over_the_memory_limit_is_refused(dask_address: str) -> None:
    """A global step whose estimated input exceeds memory_limit: materialized is logged with
    the estimate, and the run fails with ResourceLimitError naming the step."""
    options = {"address": dask_address, "memory_limit": 100}
    with capture_logs() as logs, pytest.raises(sdk.ResourceLimitError, match="rank_priced"):
        run(whole, "dask", options, transactions=transactions())
    (materialized,) = logs.events("materialized")
    assert materialized["step"] == "rank_priced"
    assert materialized["memory_limit"] == 100
    assert materialized["estimated_bytes"] > 100
    with capture_logs() as logs:
        run(
            whole,
            "dask",
            {"address": dask_address, "memory_limit": "1GB"},
            transactions=transactions(),
        )
    assert logs.events("materialized")[0]["memory_limit"] == 2**30


def test_a_model_is_loaded_once_and_scattered_once(dask_address: str, tmp_path: Path) -> None:
    """Scoring with a model trained in the test: the model is loaded once by the run and
    broadcast to the workers once, whatever the number of parts; scores equal local's."""
    model = tmp_path / "regressor.skops"
    training.run(
        companies=str(SPACEFLIGHTS / "companies.csv"),
        shuttles=str(SPACEFLIGHTS / "shuttles.csv"),
        reviews=str(SPACEFLIGHTS / "reviews.csv"),
        outputs={"regressor": str(model), "metrics": str(tmp_path / "metrics.json")},
        runner_options={"run_dir": str(tmp_path / "runs"), "progress": False},
    )
    features = sdk.synthesize(Features, 40, seed=3)
    features.loc[5, "crew"] = -3
    options = {"address": dask_address, "partition_rows": 7, "run_dir": str(tmp_path / "runs")}
    with capture_logs() as logs:
        dasked = run(serving, "dask", options, features=features, regressor=str(model))
    local = run(
        serving,
        "local",
        {"run_dir": str(tmp_path / "runs")},
        features=features,
        regressor=str(model),
    )
    assert_equivalent(local, dasked)
    assert len(logs.events("artifact_loaded")) == 1
    assert [r["artifact"] for r in logs.events("artifact_scattered")] == ["regressor"]
    units = [r for r in logs.events("unit_committed") if r["stage"] == 0]
    assert len(units) == 6  # 40 rows in parts of 7, all given the one scattered model


def test_a_model_trained_in_the_run_is_evaluated_on_the_cluster(
    dask_address: str, tmp_path: Path
) -> None:
    """The spaceflights training pipeline (rows, global steps, a model returned by one step and
    taken by the next): the same metrics and quarantine as local."""
    inputs = {
        name: str(SPACEFLIGHTS / f"{name}.csv") for name in ("companies", "shuttles", "reviews")
    }
    runs = {"run_dir": str(tmp_path / "runs")}
    dasked = run(training, "dask", {"address": dask_address, "partition_rows": 50, **runs},
                 **inputs)  # fmt: skip
    local = run(training, "local", runs, **inputs)
    assert dasked.metrics.keys() == local.metrics.keys() and dasked.metrics
    for name, values in local.metrics.items():
        assert dasked.metrics[name] == pytest.approx(values, rel=1e-9), name
    columns = [c for c in local.quarantine.columns if c != "run_id"]
    assert sorted(map(tuple, dasked.quarantine[columns].astype(str).values)) == sorted(
        map(tuple, local.quarantine[columns].astype(str).values)
    )


def test_a_worker_that_cannot_import_a_step_fails_the_run_clearly(
    dask_address: str, tmp_path: Path
) -> None:
    """A step from a module only the client can import: PipelineError naming the module and
    how to ship code to the workers."""
    (tmp_path / "only_here_steps.py").write_text(
        textwrap.dedent(
            '''
            from pandera.typing import DataFrame
            from dask_pipelines import Priced
            from examples.fraud.pipeline import Transactions
            import sdk

            class Cents(sdk.Step):
                """Cents."""
                output = "priced"
                scope = "rows"

                def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Priced]:
                    """Add cents."""
                    return transactions.assign(cents=(transactions["amount"] * 100).astype(int))
            '''
        ),
        encoding="utf-8",
    )
    sys.path.insert(0, str(tmp_path))
    try:
        from only_here_steps import Cents  # type: ignore[import-not-found]

        pipeline = sdk.Pipeline([Cents()], name="unshipped")
        with pytest.raises(sdk.PipelineError) as caught:
            run(pipeline, "dask", {"address": dask_address}, transactions=transactions())
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("only_here_steps", None)
    message = str(caught.value)
    assert "'only_here_steps'" in message
    assert "upload_file" in message and "same environment" in message


MAIN_SCRIPT = """
from pandera.typing import DataFrame
import sdk
from dask_pipelines import Priced, transactions
from examples.fraud.pipeline import Transactions

class Cents(sdk.Step):
    \"\"\"Cents, defined in __main__.\"\"\"
    output = "priced"
    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Priced]:
        \"\"\"Add cents.\"\"\"
        cents = (transactions["amount"] * 100).round().astype("int64")
        return transactions.assign(cents=cents)

if __name__ == "__main__":
    import sys
    pipeline = sdk.Pipeline([Cents()], name="from_main")
    options = {"address": sys.argv[1], "partition_rows": 5, "progress": False}
    frame = transactions()
    result = pipeline.run("dask", runner_options=options, max_invalid=1.0, transactions=frame)
    local = pipeline.run(max_invalid=1.0, transactions=frame)
    sdk.testing.assert_equivalent(local, result)
    print("rows", len(result.outputs["priced"]), len(result.quarantine))
"""


@pytest.fixture(scope="module")
def from_main(dask_address: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A script whose step class lives in __main__ (as in a notebook), run on the cluster."""
    script = tmp_path_factory.mktemp("main") / "notebook_like.py"
    script.write_text(MAIN_SCRIPT, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script), dask_address],
        capture_output=True,
        text=True,
        cwd=script.parent,
        env={"PYTHONPATH": f"{ROOT}:{HERE}", "PATH": "/usr/bin:/bin", "SDK_LOG_FORMAT": "json"},
        timeout=90,
        check=False,
    )


def test_steps_defined_in_main_travel_by_value(from_main: Any) -> None:
    """A step class defined in __main__ runs on the cluster, as local."""
    assert from_main.returncode == 0, from_main.stderr[-3000:]
    assert from_main.stdout.split() == ["rows", "18", "6"], from_main.stdout


def test_worker_records_reach_the_client_with_the_run_context(dask_address: str) -> None:
    """A step's own self.log records, logged on the workers, are handled by the client's
    sdk logger with the run id, the runner, the unit as partition and the worker."""
    with capture_logs() as logs:
        result = run(
            three_scopes,
            "dask",
            {"address": dask_address, "partition_rows": 5},
            transactions=transactions(),
        )
    priced = logs.events("priced")
    assert len(priced) == 5  # one per part of 24 rows in parts of 5
    assert {r["run_id"] for r in priced} == {result.run_id}
    assert {r["runner"] for r in priced} == {"dask"}
    assert {r["step"] for r in priced} == {"price"}
    assert sorted(r["partition"] for r in priced) == [f"s00-rows-{i:06d}" for i in range(5)]
    assert all(r["worker"].startswith("tcp://") for r in priced)
    (validated,) = [
        r for r in logs.events("validated") if r["step"] == "price" and r["boundary"] == "input"
    ]
    assert sum(r["rows"] for r in priced) == validated["passed"] == 20
    events = [r["event"] for r in logs]
    last_priced = max(i for i, e in enumerate(events) if e == "priced")
    assert last_priced < events.index("step_started")  # a stage's worker records come first


def test_two_runs_at_once_on_one_cluster_each_get_their_own_records(dask_address: str) -> None:
    """Every client forwarding `sdk` from a cluster receives every worker's records; each run
    handles only its own, so no record is shown twice."""
    options = {"address": dask_address, "partition_rows": 5}
    with capture_logs() as logs, ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(run, rows_only, "dask", options, transactions=transactions())
            for _ in range(2)
        ]
        results = [f.result() for f in futures]
    for result in results:
        mine = [r for r in logs.events("priced") if r["run_id"] == result.run_id]
        assert sorted(r["partition"] for r in mine) == [f"s00-rows-{i:06d}" for i in range(5)]


def test_sdk_run_prints_one_stream_of_json_lines(dask_address: str, tmp_path: Path) -> None:
    """`sdk run --runner dask --runner-option address=...`: stderr is JSON lines only, the
    workers' records among the run's events, all with the run id; the outputs are written."""
    out = tmp_path / "scored.csv"
    done = sdk_command(
        "run", "examples.fraud.pipeline:pipeline", "--runner", "dask",
        "--runner-option", f"address={dask_address}",
        "--runner-option", "partition_rows=500",
        "--run-dir", str(tmp_path / "runs"),
        "--input", f"transactions={FRAUD_CSV}",
        "--output", f"scored={out}",
        "--quarantine", str(tmp_path / "quarantine.csv"),
        "--max-invalid", "0.5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    (finished,) = [r for r in records if r["event"] == "run_finished"]
    run_id = finished["run_id"]
    assert {r["run_id"] for r in records if r["event"] != "plugin_loaded"} == {run_id}
    scored = [r for r in records if r["event"] == "scored"]  # Score's self.log, on workers
    assert len(scored) >= 4 and all(r["partition"].startswith("s01-part-") for r in scored)
    events = [r["event"] for r in records]
    for event in ("run_started", "step_started", "validated", "step_finished"):
        assert event in events
    assert len(pd.read_csv(out)) == finished["rows_out"]["scored"] == 1970


def test_sdk_runners_lists_dask_with_the_plugin_version() -> None:
    """Installed through its entry point, the plugin's runner is listed with its version."""
    done = sdk_command("runners")
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("dask ")]
    assert f"sdk-dask {sdk_dask.__version__}" in line
    assert "address" in done.stdout and "partition_rows" in done.stdout


def test_neither_sdk_nor_the_loaded_plugin_imports_dask() -> None:
    """Importing sdk, and loading the runners (this plugin's included), imports no dask."""
    code = (
        "import sys, sdk, sdk.plugins\n"
        "assert 'dask' not in sys.modules and 'distributed' not in sys.modules\n"
        "from sdk_dask import sdk_register_runners\n"
        "(runner,) = sdk_register_runners()\n"
        "assert runner.name == 'dask'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_unreachable_scheduler_fails_the_run_clearly() -> None:
    """An address where no scheduler listens: PipelineError naming the address and the fix."""
    import dask

    expected = "cannot connect to the Dask scheduler at 'tcp://127.0.0.1:9'"
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(sdk.PipelineError, match=expected),
    ):
        run(rows_only, "dask", {"address": "tcp://127.0.0.1:9"}, transactions=transactions())


def test_bad_options_are_refused_before_anything_runs() -> None:
    """A non-positive n_workers or partition_rows, or a memory limit that is not a size."""
    for options in ({"n_workers": 0}, {"partition_rows": 0}, {"memory_limit": "lots"}):
        with pytest.raises(sdk.SdkError):
            run(three_scopes, "dask", options, transactions=transactions())


def test_an_output_part_not_of_its_committed_size_is_refused(dask_address: str) -> None:
    """A part recomputed after a lost worker that comes out with other rows than its unit
    committed (a step that is not deterministic) fails the publication, never writes it."""
    from distributed import Client
    from sdk_dask.data import DaskDataset

    frame = pd.DataFrame({"a": [1, 2, 3]})
    with Client(dask_address) as client:
        part = client.scatter(sdk.Data(frame, sdk.Sources.from_index(frame.index)))
        assert len(next(DaskDataset(client, [part], [3]).frames())) == 3
        with pytest.raises(sdk.PipelineError, match="not the 4 its unit committed"):
            list(DaskDataset(client, [part], [4]).frames())
