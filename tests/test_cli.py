"""The `sdk` command line, run as a user runs it: in a subprocess, reading exit code and output."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, cli

import sdk

DEPLOY = "examples/fraud/deploy.toml"
TARGET = "examples.fraud.pipeline:pipeline"


def run_deploy(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`sdk run` the fraud deployment with its outputs redirected into `tmp_path`."""
    return cli(
        "run", DEPLOY,
        "--output", f"scored={tmp_path / 'scored.csv'}",
        "--quarantine", str(tmp_path / "quarantine.csv"),
        *args,
    )


def json_lines(stderr: str) -> list[dict]:
    """The JSON log lines of `stderr`, parsed."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def error_lines(stderr: str) -> list[str]:
    """The lines of `stderr` that are not JSON log records."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]


def test_version_from_console_script() -> None:
    """`sdk --version` prints the distribution and its version."""
    out = cli("--version", script=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"pipeline-sdk {sdk.__version__}"


def test_no_command_is_a_usage_error() -> None:
    """`sdk` without a command prints the usage and exits 2."""
    out = cli()
    assert out.returncode == 2
    assert "usage" in out.stderr.lower()
    assert "run" in out.stderr


def test_runners_lists_local() -> None:
    """`sdk runners` lists the local runner with its distribution and version."""
    out = cli("runners", script=True)
    assert out.returncode == 0, out.stderr
    (local,) = [line for line in out.stdout.splitlines() if line.split()[:1] == ["local"]]
    assert f"pipeline-sdk {sdk.__version__}" in local


@pytest.mark.parametrize("target", [TARGET, DEPLOY])
def test_describe_prints_steps_datasets_and_params(target: str) -> None:
    """`sdk describe` shows the pipeline's steps, datasets, scopes and params."""
    out = cli("describe", target)
    assert out.returncode == 0, out.stderr
    for expected in ("fraud", "add_features", "score", "transactions", "scored",
                     "customer_id", "weight=0.7"):
        assert expected in out.stdout, (expected, out.stdout)


def test_run_deployment_writes_outputs_and_json_logs(tmp_path: Path) -> None:
    """`sdk run deploy.toml` exits 0, conserves rows, and logs JSON lines when not on a terminal."""
    out = run_deploy(tmp_path)
    assert out.returncode == 0, out.stderr
    scored = pd.read_csv(tmp_path / "scored.csv")
    quarantine = pd.read_csv(tmp_path / "quarantine.csv")
    assert len(scored) + quarantine["source"].nunique() == 2000
    assert quarantine["source"].nunique() == 30
    assert scored["score"].between(0, 1).all()
    records = [json.loads(line) for line in out.stderr.splitlines() if line.strip()]
    events = [r["event"] for r in records]
    assert events[0] == "run_started"
    assert events[-1] == "run_finished"
    assert records[-1]["status"] == "succeeded"
    assert records[-1]["quarantined"] == 30
    assert {r["run_id"] for r in records} == {records[0]["run_id"]}
    assert records[0]["params"]["score"]["weight"] == 0.7


def test_run_module_target_with_inputs_and_params(tmp_path: Path) -> None:
    """`sdk run module:attr --input --output --param` runs with the overridden param."""
    out = cli(
        "run", TARGET,
        "--input", f"transactions={ROOT / 'examples/fraud/transactions.csv'}",
        "--output", f"scored={tmp_path / 'scored.csv'}",
        "--param", "score.weight=1.5", "--run-id", "cli-run",
    )
    assert out.returncode == 0, out.stderr
    records = json_lines(out.stderr)
    assert records[0]["params"]["score"] == {"weight": 1.5, "bias": 0.0}
    assert {r["run_id"] for r in records} == {"cli-run"}
    assert len(pd.read_csv(tmp_path / "scored.csv")) == 1970


def test_bad_param_value_is_one_line_usage_error(tmp_path: Path) -> None:
    """`--param score.weight=high` exits 2, one line naming step, param and type; no traceback."""
    out = run_deploy(tmp_path, "--param", "score.weight=high")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    (line,) = error_lines(out.stderr)
    assert "ParamsError" in line
    for expected in ("score", "weight", "float", "high"):
        assert expected in line, (expected, line)
    assert not (tmp_path / "scored.csv").exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    """With `--debug`, the same error also prints its traceback."""
    out = run_deploy(tmp_path, "--param", "score.weight=high", "--debug")
    assert out.returncode == 2
    assert "Traceback" in out.stderr
    assert "ParamsError" in out.stderr


def test_error_budget_exceeded_fails_after_writing_quarantine(tmp_path: Path) -> None:
    """`--max-invalid 0.001` exits 1 with DataQualityError, the quarantine written, no output."""
    out = run_deploy(tmp_path, "--max-invalid", "0.001")
    assert out.returncode == 1, out.stderr
    (line,) = error_lines(out.stderr)
    assert "DataQualityError" in line
    assert "30 of 2000" in line
    assert "max_invalid=0.001" in line
    quarantine = pd.read_csv(tmp_path / "quarantine.csv")
    assert quarantine["source"].nunique() == 30
    assert not (tmp_path / "scored.csv").exists()
    assert json_lines(out.stderr)[-1]["status"] == "failed"


def test_raising_step_exits_1_with_step_error(tmp_path: Path) -> None:
    """A step that raises makes `sdk run file.py:pipeline` exit 1, naming the step and the error."""
    module = tmp_path / "broken_pipeline.py"
    module.write_text(textwrap.dedent('''
        """A pipeline whose only step raises."""
        import pandera.pandas as pa
        from pandera.typing import DataFrame

        from sdk import Pipeline, Step


        class Numbers(pa.DataFrameModel):
            x: int

            class Config:
                coerce = True


        class Divide(Step):
            """Divides by the number of negative values."""

            def run(self, numbers: DataFrame[Numbers]) -> DataFrame[Numbers]:
                return numbers.assign(x=len(numbers) // int((numbers["x"] < 0).sum()))


        pipeline = Pipeline([Divide()], name="broken")
    '''), encoding="utf-8")
    data = tmp_path / "numbers.csv"
    data.write_text("x\n1\n2\n", encoding="utf-8")
    out = cli("run", f"{module}:pipeline", "--input", f"numbers={data}")
    assert out.returncode == 1, out.stderr
    message = "\n".join(error_lines(out.stderr))
    assert "StepError" in message
    assert "divide" in message
    assert "ZeroDivisionError" in message
    assert "Traceback" not in message  # the traceback is in the log record, not the message
    failed = [r for r in json_lines(out.stderr) if r["event"] == "step_failed"]
    assert [r["step"] for r in failed] == ["divide"]
    assert "ZeroDivisionError" in json.dumps(failed[0])


def test_missing_input_names_it() -> None:
    """Running without the pipeline's input exits 2 and names the missing input."""
    out = cli("run", TARGET)
    assert out.returncode == 2
    (line,) = error_lines(out.stderr)
    assert "transactions" in line
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("target", "named"),
    [("nope:pipeline", "nope"), (f"{TARGET.split(':')[0]}:nothing", "nothing")],
)
def test_bad_target_is_a_usage_error(target: str, named: str) -> None:
    """A target whose module or attribute does not exist exits 2 naming it."""
    out = cli("run", target)
    assert out.returncode == 2
    (line,) = error_lines(out.stderr)
    assert named in line
    assert "Traceback" not in out.stderr


def test_deployment_with_unknown_key_names_it(tmp_path: Path) -> None:
    """A deployment file with a misspelt key exits 2 naming the key."""
    deploy = tmp_path / "deploy.toml"
    deploy.write_text(
        'pipeline = "examples.fraud.pipeline:pipeline"\nmax_invlaid = 0.1\n'
        '[inputs]\ntransactions = "x.csv"\n',
        encoding="utf-8",
    )
    out = cli("run", str(deploy))
    assert out.returncode == 2
    (line,) = error_lines(out.stderr)
    assert "max_invlaid" in line
    assert "Traceback" not in out.stderr


def test_input_without_equals_is_a_usage_error() -> None:
    """`--input x` (no NAME=URI) exits 2 and says how to write it."""
    out = cli("run", TARGET, "--input", "x")
    assert out.returncode == 2
    (line,) = error_lines(out.stderr)
    assert "--input" in line
    assert "NAME=" in line


def test_log_format_text(tmp_path: Path) -> None:
    """`--log-format text` renders the run's records as text lines with event names."""
    out = run_deploy(tmp_path, "--log-format", "text")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines
    assert not any(line.startswith("{") for line in lines), lines
    assert "run_started" in lines[0]
    assert "run_finished" in lines[-1]
    assert "status=succeeded" in lines[-1]
    assert any("fraud/score" in line and "step_finished" in line for line in lines)


def test_error_with_newlines_in_its_message_stays_one_line(tmp_path: Path) -> None:
    """A step error whose message has newlines (as pandas and pyarrow messages do) prints one
    error line; the log record of the failed step keeps the text as it was."""
    module = tmp_path / "multiline_pipeline.py"
    module.write_text(textwrap.dedent('''
        """A pipeline whose step raises with a message over several lines."""
        import pandera.pandas as pa
        from pandera.typing import DataFrame

        from sdk import Pipeline, Step


        class Numbers(pa.DataFrameModel):
            x: int


        class Explode(Step):
            """Raises as pandas does when shapes do not match."""

            def run(self, numbers: DataFrame[Numbers]) -> DataFrame[Numbers]:
                raise ValueError("Length mismatch:\\n  Expected axis has 2 elements,\\n"
                                 "  new values have 3 elements")


        pipeline = Pipeline([Explode()], name="multiline")
    '''), encoding="utf-8")
    data = tmp_path / "numbers.csv"
    data.write_text("x\n1\n2\n", encoding="utf-8")
    out = cli("run", f"{module}:pipeline", "--input", f"numbers={data}")
    assert out.returncode == 1, out.stderr
    first, *more = error_lines(out.stderr)
    assert first.startswith("sdk: error (StepError): ")
    assert "Length mismatch: Expected axis has 2 elements, new values have 3 elements" in first
    assert more == ["  (run again with --debug for the step's traceback)"]
    (failed,) = [r for r in json_lines(out.stderr) if r["event"] == "step_failed"]
    assert "Length mismatch:\n  Expected axis" in json.dumps(failed, ensure_ascii=False).replace(
        "\\n", "\n"
    )


def test_error_listing_problems_has_one_line_each() -> None:
    """An error that lists several problems prints its first line, then one line per problem."""
    out = cli(
        "run", TARGET, "--input", f"transactions={ROOT / 'examples/fraud/transactions.csv'}",
        "--input", "extra_one=a.csv", "--input", "extra_two=b.csv",
    )
    assert out.returncode == 2, out.stderr
    first, *more = error_lines(out.stderr)
    assert first.startswith("sdk: error (PipelineError): ")
    assert len(more) >= 2
    assert all(line.startswith("  - ") for line in more)
    assert any("extra_one" in line for line in more) and any("extra_two" in line for line in more)


HINTED = '''
"""A pipeline whose second step misspells the dataset the first produces."""
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Pipeline, Step


class Flights(pa.DataFrameModel):
    delay: float


class CleanFlights(Step):
    """Keeps the rows."""

    scope = "rows"

    def run(self, flights: DataFrame[Flights]) -> DataFrame[Flights]:
        return flights


class Late(Step):
    """Reads `clean_flight`, which nothing produces: meant `clean_flights`."""

    scope = "rows"

    def run(self, clean_flight: DataFrame[Flights]) -> DataFrame[Flights]:
        return clean_flight


pipeline = Pipeline([CleanFlights(), Late()], name="hinted")
'''


def test_strict_refuses_a_pipeline_with_did_you_mean_hints(tmp_path: Path) -> None:
    """`--strict` refuses (exit 3) a pipeline whose input name is close to a produced dataset,
    saying "did you mean"; without --strict the run goes on (and fails on the missing input
    only if it is not given)."""
    module = tmp_path / "hinted_pipeline.py"
    module.write_text(HINTED, encoding="utf-8")
    data = tmp_path / "flights.csv"
    data.write_text("delay\n1.5\n", encoding="utf-8")
    import importlib.util

    spec = importlib.util.spec_from_file_location("hinted_pipeline", module)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    with pytest.warns(UserWarning):
        spec.loader.exec_module(loaded)
    if not hasattr(loaded.pipeline, "hints"):
        pytest.skip("Pipeline.hints is not there yet (issue 13, item 3)")
    args = ("run", f"{module}:pipeline", "--input", f"flights={data}",
            "--input", f"clean_flight={data}")
    out = cli(*args, "--strict")
    assert out.returncode == 3, out.stderr
    first, *more = error_lines(out.stderr)
    assert "PolicyError" in first and "strict mode refuses" in first
    assert any("did you mean 'clean_flights'" in line for line in more), more
    assert cli(*args).returncode == 0


def test_help_and_version_load_no_pandas() -> None:
    """`sdk --version` and `sdk --help` import neither pandas nor pandera (start-up time)."""
    code = (
        "import sys, contextlib, io\n"
        "from sdk.cli import main\n"
        "for argv in (['--version'], ['--help'], ['run', '--help'], ['runs', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "print(sorted(m for m in ('pandas', 'pandera', 'pyarrow', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_run_help_documents_resume_latest_and_prune() -> None:
    """`sdk run --help` offers `--resume latest`; `sdk runs --help` offers prune."""
    run = cli("run", "--help")
    assert "RUN_ID|latest" in run.stdout and "latest interrupted run" in run.stdout
    runs = cli("runs", "--help")
    assert "prune" in runs.stdout and "--keep N" in runs.stdout and "--older-than" in runs.stdout


def test_docs_index_lists_every_guide() -> None:
    """docs/index.md links every page of docs/ (and the tutorial)."""
    index = (ROOT / "docs/index.md").read_text(encoding="utf-8")
    pages = sorted(p.name for p in (ROOT / "docs").iterdir() if p.suffix in (".md", ".ipynb"))
    missing = [name for name in pages if name != "index.md" and f"]({name}" not in index]
    assert not missing, f"docs/index.md does not link {missing}"
