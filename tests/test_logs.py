"""Structured logging: the run's events, their fields and context, and the two renderings."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from pandera.typing import DataFrame

import sdk
from examples.fraud.pipeline import Features, Transactions, pipeline
from sdk.testing import capture_logs

CONTEXT = ("run_id", "pipeline", "step", "runner")
RUN_EVENTS = ("run_started", "run_finished")
STEP_EVENTS = ("step_started", "validated", "step_finished", "step_failed", "scored")


class Explode(sdk.Step):
    """Fails on every input."""

    output = "features"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Features]:
        """Raise."""
        raise RuntimeError("boom")


@pytest.fixture(autouse=True)
def sdk_logger_state() -> Iterator[logging.Logger]:
    """Leave the `sdk` logger's handlers and level as the test found them."""
    logger = logging.getLogger("sdk")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(level)


def run_json(raw: pd.DataFrame, **kwargs: Any) -> list[dict[str, Any]]:
    """Run the fraud pipeline with a JSON handler on a string; return every line parsed."""
    stream = io.StringIO()
    sdk.configure_logging("json", stream=stream)
    pipeline.run(transactions=raw, **kwargs)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def run_records(records: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """The records of one run."""
    return [r for r in records if r.get("run_id") == run_id]


def test_run_emits_documented_events_in_order(fraud_raw: pd.DataFrame) -> None:
    """A run logs run_started, per step started/validated/finished, then run_finished."""
    with capture_logs() as records:
        result = pipeline.run(transactions=fraud_raw)
    events = [r["event"] for r in run_records(records, result.run_id)]
    wanted = (*RUN_EVENTS, "step_started", "validated", "step_finished")
    lifecycle = [e for e in events if e in wanted]
    assert lifecycle == [
        "run_started",
        "step_started", "validated", "validated", "step_finished",  # add_features
        "step_started", "validated", "validated", "step_finished",  # score
        "run_finished",
    ]


def test_validated_carries_counts_and_failures_by_column_then_check(
    fraud_raw: pd.DataFrame,
) -> None:
    """`validated` names boundary and dataset, counts rows, and nests failures column -> check."""
    with capture_logs() as records:
        result = pipeline.run(transactions=fraud_raw)
    first = records.events("validated")[0]
    assert first["step"] == "add_features"
    assert (first["boundary"], first["dataset"]) == ("input", "transactions")
    assert (first["rows"], first["passed"], first["quarantined"]) == (2000, 1970, 30)
    assert first["rows"] == first["passed"] + first["quarantined"]
    failures = first["failures"]
    assert set(failures) == {"customer_id", "amount", "country"}
    assert failures["amount"]["not_nullable"] == 5
    assert failures["amount"]["coerce_dtype('float64')"] == 5
    assert failures["customer_id"] == {"coerce_dtype('int64')": 4}
    assert failures["country"]["str_matches('^[A-Z]{2}$')"] == 6
    assert sum(n for checks in failures.values() for n in checks.values()) == 30
    boundaries = {(r["step"], r["boundary"], r["dataset"]) for r in records.events("validated")}
    assert boundaries == {
        ("add_features", "input", "transactions"),
        ("add_features", "output", "features"),
        ("score", "input", "features"),
        ("score", "output", "scored"),
    }
    for record in records.events("validated"):
        assert record["run_id"] == result.run_id
        assert record["rows"] == record["passed"] + record["quarantined"]


def test_step_finished_and_run_finished_carry_totals(fraud_raw: pd.DataFrame) -> None:
    """step_finished has rows_out and duration_ms; run_finished has status, totals and duration."""
    with capture_logs() as records:
        pipeline.run(transactions=fraud_raw)
    finished = {r["step"]: r for r in records.events("step_finished")}
    assert finished["add_features"]["rows_out"] == 1970
    assert finished["score"]["rows_out"] == 1970
    assert all(isinstance(r["duration_ms"], int | float) and r["duration_ms"] >= 0
               for r in finished.values())
    (done,) = records.events("run_finished")
    assert done["status"] == "succeeded"
    assert done["rows_in"] == 2000
    assert done["quarantined"] == 30
    assert done["duration_ms"] >= max(r["duration_ms"] for r in finished.values())


def test_every_record_carries_the_run_context(fraud_raw: pd.DataFrame) -> None:
    """run_id, pipeline, runner on every run record; step set inside steps and null at run level."""
    records = run_json(fraud_raw, run_id="ctx-run")
    mine = run_records(records, "ctx-run")
    assert mine, records
    for record in mine:
        assert set(CONTEXT) <= set(record), record
        assert (record["pipeline"], record["runner"]) == ("fraud", "local"), record
    for record in mine:
        if record["event"] in RUN_EVENTS:
            assert record["step"] is None, record
        if record["event"] in STEP_EVENTS:
            assert record["step"] in ("add_features", "score"), record
    started = [r for r in mine if r["event"] == "step_started"]
    assert [r["step"] for r in started] == ["add_features", "score"]


def test_step_own_log_record_carries_context_and_extra(fraud_raw: pd.DataFrame) -> None:
    """A step's own `self.log.info("scored", extra=...)` record carries the run context."""
    records = run_json(fraud_raw, run_id="own-log")
    (scored,) = [r for r in records if r["event"] == "scored"]
    assert scored["run_id"] == "own-log"
    assert (scored["pipeline"], scored["step"], scored["runner"]) == ("fraud", "score", "local")
    assert isinstance(scored["mean_z"], float)
    assert scored["level"] == "INFO"


def test_step_error_logs_step_failed_and_failed_run(fraud_raw: pd.DataFrame) -> None:
    """A raising step logs step_failed (with the step) and run_finished with status=failed."""
    broken = sdk.Pipeline([Explode()], name="broken")
    with capture_logs() as records, pytest.raises(sdk.StepError) as info:
        broken.run(transactions=fraud_raw.head(20), run_id="bad-run", max_invalid=1.0)
    mine = run_records(records, "bad-run")
    events = [r["event"] for r in mine]
    assert events.index("step_started") < events.index("step_failed") < events.index("run_finished")
    assert "step_finished" not in events
    (failed,) = [r for r in mine if r["event"] == "step_failed"]
    assert (failed["step"], failed["pipeline"], failed["runner"]) == ("explode", "broken", "local")
    assert failed["level"] == "ERROR"
    assert "boom" in json.dumps(failed)
    (done,) = [r for r in mine if r["event"] == "run_finished"]
    assert done["status"] == "failed"
    assert done["step"] is None
    assert done["rows_in"] == 20
    assert "duration_ms" in done
    assert info.value.run_id == "bad-run"


def test_nothing_is_logged_per_row(fraud_raw: pd.DataFrame) -> None:
    """The number of records of a run does not depend on its number of rows (10 vs 1,000)."""
    sdk.plugins.get_plugin_manager()  # plugin loading is logged once per process, not per run
    counts = {}
    for n in (10, 1000):
        with capture_logs() as records:
            result = pipeline.run(transactions=fraud_raw.head(n), max_invalid=1.0)
        assert len(run_records(records, result.run_id)) == len(records)
        counts[n] = [r["event"] for r in records]
    assert len(counts[10]) == len(counts[1000])
    assert counts[10] == counts[1000]


def test_importing_sdk_installs_no_handler() -> None:
    """`import sdk` leaves the `sdk` logger without handlers (nothing happens on import)."""
    out = subprocess.run(
        [sys.executable, "-c", "import sdk, logging; print(logging.getLogger('sdk').handlers)"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    assert out.stdout.strip() == "[]"


def test_run_without_handler_installs_exactly_one(
    fraud_raw: pd.DataFrame, sdk_logger_state: logging.Logger
) -> None:
    """A run with no handler configured installs one handler, and a second run adds none."""
    for handler in list(sdk_logger_state.handlers):
        sdk_logger_state.removeHandler(handler)
    pipeline.run(transactions=fraud_raw.head(50), max_invalid=1.0)
    assert len(sdk_logger_state.handlers) == 1
    pipeline.run(transactions=fraud_raw.head(50), max_invalid=1.0)
    assert len(sdk_logger_state.handlers) == 1


def test_configure_logging_twice_keeps_one_handler(sdk_logger_state: logging.Logger) -> None:
    """Configuring logging again replaces the SDK's handler instead of adding a second."""
    for handler in list(sdk_logger_state.handlers):
        sdk_logger_state.removeHandler(handler)
    first, second = io.StringIO(), io.StringIO()
    sdk.configure_logging("json", stream=first)
    sdk.configure_logging("text", stream=second)
    assert len(sdk_logger_state.handlers) == 1
    logging.getLogger("sdk.test").info("probe")
    assert first.getvalue() == ""
    assert "probe" in second.getvalue()


def test_text_renderer_shows_same_events_one_line_each(fraud_raw: pd.DataFrame) -> None:
    """The text rendering has one line per record, with the event name and key=value data."""
    json_records = [r for r in run_json(fraud_raw, run_id="same") if r["run_id"] == "same"]
    stream = io.StringIO()
    sdk.configure_logging("text", stream=stream)
    pipeline.run(transactions=fraud_raw, run_id="same")
    lines = stream.getvalue().splitlines()
    assert len(lines) == len(json_records)
    for line, record in zip(lines, json_records, strict=True):
        assert not line.lstrip().startswith("{"), line
        assert record["event"] in line.split(), (line, record["event"])
    by_event = {record["event"]: line for line, record in zip(lines, json_records, strict=True)}
    assert "rows_out=1970" in by_event["step_finished"]
    assert "status=succeeded" in by_event["run_finished"]
    assert "quarantined=30" in by_event["run_finished"]
    assert "fraud/score" in by_event["scored"]
    assert "mean_z=" in by_event["scored"]


@pytest.mark.parametrize("chosen", ["json", "text"])
def test_sdk_log_format_env_chooses_rendering(
    chosen: str,
    fraud_raw: pd.DataFrame,
    sdk_logger_state: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SDK_LOG_FORMAT picks JSON lines or text for the handler a run installs on stderr."""
    monkeypatch.setenv("SDK_LOG_FORMAT", chosen)
    for handler in list(sdk_logger_state.handlers):
        sdk_logger_state.removeHandler(handler)
    pipeline.run(transactions=fraud_raw.head(50), max_invalid=1.0, run_id="env-run")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert any("run_finished" in line for line in lines), lines
    if chosen == "json":
        parsed = [json.loads(line) for line in lines]
        assert {r["run_id"] for r in parsed} == {"env-run"}
    else:
        assert not any(line.startswith("{") for line in lines), lines
        assert any("status=succeeded" in line for line in lines), lines
