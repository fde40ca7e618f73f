"""Edges where rows were lost or errors leaked (issue 10): outputs over inputs, deployment types,
passwords, SQL inputs under batch, streams under batch, one-line errors."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pandera.pandas as pa
import pytest
from conftest import ROOT, cli
from pandera.typing import DataFrame

import sdk
from examples.fraud.pipeline import Scored, Transactions
from examples.fraud.pipeline import pipeline as fraud
from sdk.testing import assert_equivalent, canonical

PIPELINE = str(ROOT / "examples" / "fraud" / "pipeline.py") + ":pipeline"
CSV = ROOT / "examples" / "fraud" / "transactions.csv"


def error_lines(stderr: str) -> list[str]:
    """The lines of `stderr` that are not JSON log records."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]


def assert_one_line_usage_error(out: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2, exactly one error line naming every fragment, no traceback."""
    lines = error_lines(out.stderr)
    assert out.returncode == 2, out.stderr[-2000:]
    assert len(lines) == 1, lines
    assert "Traceback" not in out.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# -- 7. outputs over inputs ----------------------------------------------------------------------


def test_output_over_the_input_is_refused_and_the_input_kept(tmp_path: Path) -> None:
    """`--output scored=in.csv --overwrite` would destroy the input: refused, input unchanged."""
    given = tmp_path / "in.csv"
    given.write_bytes(CSV.read_bytes())
    out = cli("run", PIPELINE, "--input", f"transactions={given}", "--output",
              f"scored={given}", "--overwrite", "--run-dir", str(tmp_path / "runs"))
    assert_one_line_usage_error(out, "output 'scored'", "is the input 'transactions'")
    assert given.read_bytes() == CSV.read_bytes()


def test_quarantine_through_a_symlink_to_the_input_is_refused(tmp_path: Path) -> None:
    """A quarantine path that is a symlink to the input names the same file: refused."""
    given = tmp_path / "in.csv"
    given.write_bytes(CSV.read_bytes())
    (tmp_path / "link.csv").symlink_to(given)
    with pytest.raises(sdk.PipelineError, match=r"the quarantine .* is the input 'transactions'"):
        fraud.run(transactions=str(given), quarantine=str(tmp_path / "link.csv"), overwrite=True)
    assert given.read_bytes() == CSV.read_bytes()


def test_sqlite_output_table_equal_to_the_input_table_is_refused(tmp_path: Path) -> None:
    """Same database file and table: refused; another table of the same file is fine."""
    db = tmp_path / "tx.db"
    raw = pd.read_csv(CSV, dtype=str, keep_default_na=False)
    with sqlite3.connect(db) as conn:
        raw.to_sql("tx", conn, index=False)
    uri = f"sqlite:///{db}?table=tx"
    with pytest.raises(sdk.PipelineError, match=r"output 'scored' .* is the input"):
        fraud.run(transactions=uri, outputs={"scored": uri}, overwrite=True)
    result = fraud.run(
        transactions=uri, outputs={"scored": f"sqlite:///{db}?table=scored"}, max_invalid=1.0
    )
    assert result.written["scored"].endswith("table=scored")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM tx").fetchone() == (len(raw),)


def test_two_destinations_on_one_file_are_refused(tmp_path: Path) -> None:
    """The quarantine and an output on the same file would overwrite each other."""
    target = str(tmp_path / "both.csv")
    with pytest.raises(sdk.PipelineError, match="the quarantine and output 'scored' are both"):
        fraud.run(transactions=str(CSV), outputs={"scored": target}, quarantine=target)


# -- 8. deployment files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('overwrite = "false"', "'overwrite' must be true or false (unquoted), got str"),
        ("max_invalid = true", "'max_invalid' must be a number between 0 and 1"),
        ('strict = "yes"', "'strict' must be true or false"),
        ("runner = 3", "'runner' must be a runner name"),
    ],
)
def test_deployment_keys_are_type_checked(tmp_path: Path, line: str, fragment: str) -> None:
    """A string where a boolean is expected (truthy!) or a bool where a number is: refused."""
    toml = tmp_path / "deploy.toml"
    toml.write_text(
        f'pipeline = "{PIPELINE}"\n{line}\n[inputs]\ntransactions = "{CSV}"\n', encoding="utf-8"
    )
    assert_one_line_usage_error(cli("run", str(toml)), fragment)


def test_existing_output_is_kept_when_overwrite_is_the_string_false(tmp_path: Path) -> None:
    """`overwrite = "false"` used to replace an existing output; now the file is untouched."""
    existing = tmp_path / "scored.csv"
    existing.write_text("keep me\n", encoding="utf-8")
    toml = tmp_path / "deploy.toml"
    toml.write_text(
        f'pipeline = "{PIPELINE}"\noverwrite = "false"\n[inputs]\ntransactions = "{CSV}"\n'
        f'[outputs]\nscored = "{existing}"\n',
        encoding="utf-8",
    )
    assert cli("run", str(toml)).returncode == 2
    assert existing.read_text(encoding="utf-8") == "keep me\n"


def test_chunk_rows_as_a_float_in_a_deployment_is_refused(tmp_path: Path) -> None:
    """`chunk_rows = 2.7` is not a number of rows."""
    toml = tmp_path / "deploy.toml"
    toml.write_text(
        f'pipeline = "{PIPELINE}"\nrunner = "batch"\n[inputs]\ntransactions = "{CSV}"\n'
        "[runner_options]\nchunk_rows = 2.7\n",
        encoding="utf-8",
    )
    assert_one_line_usage_error(cli("run", str(toml)), "option 'chunk_rows' expects int | None")


def test_deployment_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    """Invalid UTF-8 in a TOML file: one line naming the file, exit 2."""
    toml = tmp_path / "deploy.toml"
    toml.write_bytes(b'pipeline = "x:y"\n# caf\xe9\n')
    assert_one_line_usage_error(cli("run", str(toml)), "is not UTF-8 text", "deploy.toml")


def test_pipeline_target_with_a_path_but_no_py_file_is_one_line() -> None:
    """`pipeline = "../x/y:p"` is neither a module nor a .py file: one line, exit 2."""
    assert_one_line_usage_error(cli("run", "../x/y:p"), "must be module:attribute")


def test_environment_variables_are_expanded_in_deployment_uris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`${VAR}` in a deployment URI comes from the environment; a missing one is named."""
    toml = tmp_path / "deploy.toml"
    toml.write_text(
        f'pipeline = "{PIPELINE}"\nmax_invalid = 1\n[inputs]\ntransactions = "${{SDK_TEST_IN}}"\n'
        '[outputs]\nscored = "${SDK_TEST_OUT_DIR}/scored.csv"\n',
        encoding="utf-8",
    )
    missing = cli("run", str(toml))
    assert_one_line_usage_error(missing, "input 'transactions'", "SDK_TEST_IN", "not set")
    env = {**os.environ, "SDK_TEST_IN": str(CSV), "SDK_TEST_OUT_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "sdk", "run", str(toml)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(pd.read_csv(tmp_path / "scored.csv")) == 1970


# -- 9. passwords --------------------------------------------------------------------------------


def test_password_appears_nowhere(tmp_path: Path) -> None:
    """A PostgreSQL password given in input and output URIs is in no log line, no file of the
    run, no output folder file, and a warning says not to put it on the command line."""
    from test_sql import pg_uri, sql

    url = os.environ.get("SDK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        sql(url, "SELECT 1")
    except Exception as exc:
        from conftest import require_service

        require_service("postgresql", str(exc))
    password = "pw" + secrets.token_hex(6)
    user_part = url.split("://", 1)[1].split("@", 1)[0].split(":")[0]
    with_password = url.replace(f"{user_part}@", f"{user_part}:{password}@", 1)
    table = f"sdk_test_{secrets.token_hex(4)}"
    raw = pd.read_csv(CSV, dtype=str, keep_default_na=False)
    try:
        writer = sdk.io.open_writer(pg_uri(url, f"{table}_in"))
        writer.append(raw)
        writer.commit()
        out = cli(
            "run", PIPELINE,
            "--input", f"transactions={pg_uri(with_password, table + '_in')}",
            "--output", f"scored={pg_uri(with_password, table + '_out')}",
            "--quarantine", str(tmp_path / "q.csv"),
            "--run-dir", str(tmp_path / "runs"), "--max-invalid", "1",
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert password not in out.stdout + out.stderr
        events = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
        assert [e["flag"] for e in events if e["event"] == "password_on_command_line"] == [
            "--input transactions", "--output scored"
        ]
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert password.encode() not in path.read_bytes(), path
    finally:
        for suffix in ("_in", "_out"):
            sql(url, f'DROP TABLE IF EXISTS "{table}{suffix}"')


# -- 10. SQL inputs under batch --------------------------------------------------------------------


class FailOnce:
    """A switch the tests flip: the global step below raises while it is on."""

    on: ClassVar[bool] = False


class Flagged(pa.DataFrameModel):
    """Scored transactions with a flag."""

    customer_id: int
    amount: float
    score: float
    flagged: bool

    class Config:
        coerce = True


class Flag(sdk.Step):
    """Flag the top decile of scores (needs every row: global)."""

    output = "flagged"

    def run(self, scored: DataFrame[Scored]) -> DataFrame[Flagged]:
        """Flag scores above the 90th percentile."""
        if FailOnce.on:
            raise RuntimeError("interrupted on purpose")
        threshold = scored["score"].quantile(0.9) if len(scored) else 0.0
        return scored.assign(flagged=scored["score"] > threshold)[
            ["customer_id", "amount", "score", "flagged"]
        ]


def sqlite_input(tmp_path: Path) -> str:
    """The fraud transactions (with their 30 bad rows) as a SQLite table."""
    db = tmp_path / "tx.db"
    raw = pd.read_csv(CSV, dtype=str, keep_default_na=False)
    with sqlite3.connect(db) as conn:
        raw.to_sql("tx", conn, index=False)
    return f"sqlite:///{db}?table=tx"


@pytest.mark.parametrize("chunk_rows", [97, 5000])
def test_batch_reads_sqlite_partitioned_and_global(tmp_path: Path, chunk_rows: int) -> None:
    """A SQLite input through batch (rows, partition_by and global stages) equals local,
    quarantine sources `tx.rowid=N` included."""
    pipeline = sdk.Pipeline([*fraud.steps, Flag()], name="fraud_flag")
    uri = sqlite_input(tmp_path)
    local = pipeline.run(transactions=uri, max_invalid=1.0)
    batch = pipeline.run(
        "batch", transactions=uri, max_invalid=1.0,
        runner_options={"chunk_rows": chunk_rows, "progress": False},
    )
    assert_equivalent(local, batch)
    assert len(batch.quarantine) and batch.quarantine["source"].str.startswith("tx.rowid=").all()


def test_batch_over_sqlite_resumes_after_a_failure(tmp_path: Path) -> None:
    """The row sources of a SQL input survive the checkpoint: a run failed at its global stage
    and resumed gives the uninterrupted result."""
    pipeline = sdk.Pipeline([*fraud.steps, Flag()], name="fraud_flag")
    uri = sqlite_input(tmp_path)
    options = {"chunk_rows": 300, "progress": False, "run_dir": str(tmp_path / "runs")}
    reference = pipeline.run(transactions=uri, max_invalid=1.0)
    FailOnce.on = True
    try:
        with pytest.raises(sdk.StepError, match="interrupted on purpose"):
            pipeline.run("batch", transactions=uri, max_invalid=1.0, run_id="sql-run",
                          runner_options=options)
    finally:
        FailOnce.on = False
    resumed = pipeline.run("batch", transactions=uri, max_invalid=1.0, resume="sql-run",
                           runner_options=options)
    assert_equivalent(reference, resumed)
    pd.testing.assert_frame_equal(
        canonical(reference.report.drop(columns=["failures"])),
        canonical(resumed.report.drop(columns=["failures"])),
    )


def test_batch_reads_postgresql(tmp_path: Path) -> None:
    """A PostgreSQL input through batch equals local (sources from the table's rows)."""
    from test_sql import pg_uri, sql

    url = os.environ.get("SDK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        sql(url, "SELECT 1")
    except Exception as exc:
        from conftest import require_service

        require_service("postgresql", str(exc))
    table = f"sdk_test_{secrets.token_hex(4)}"
    raw = pd.read_csv(CSV, dtype=str, keep_default_na=False)
    try:
        writer = sdk.io.open_writer(pg_uri(url, table))
        writer.append(raw)
        writer.commit()
        pipeline = sdk.Pipeline([*fraud.steps, Flag()], name="fraud_flag")
        uri = pg_uri(url, table)
        local = pipeline.run(transactions=uri, max_invalid=1.0)
        batch = pipeline.run("batch", transactions=uri, max_invalid=1.0,
                             runner_options={"chunk_rows": 250, "progress": False})
        assert_equivalent(local, batch)
        assert len(batch.quarantine) == len(local.quarantine) > 0
    finally:
        sql(url, f'DROP TABLE IF EXISTS "{table}"')


# -- 11. streams under batch -----------------------------------------------------------------------


def test_batch_refuses_stdin_with_a_clear_message() -> None:
    """`--input transactions=-` under batch: one line, exit 2, nothing hangs."""
    out = subprocess.run(
        [sys.executable, "-m", "sdk", "run", PIPELINE, "--runner", "batch",
         "--input", "transactions=-"],
        input=CSV.read_text(encoding="utf-8"), capture_output=True, text=True, cwd=ROOT,
        timeout=60,
    )
    assert_one_line_usage_error(out, "'transactions'", "stdin or a pipe", "--runner local")


def test_batch_refuses_a_fifo_without_hanging(tmp_path: Path) -> None:
    """A named pipe as input under batch is refused at once (no reader is waiting on it)."""
    fifo = tmp_path / "tx.csv"
    os.mkfifo(fifo)
    with pytest.raises(sdk.PipelineError, match="stdin or a pipe"):
        fraud.run("batch", transactions=str(fifo))


# -- warnings --------------------------------------------------------------------------------------


def test_python_warnings_become_json_log_lines(tmp_path: Path) -> None:
    """A warning raised inside a step is a `warning` event, not text in the JSON stream."""
    module = tmp_path / "warns.py"
    module.write_text(textwrap.dedent('''
        import warnings
        import pandera.pandas as pa
        from pandera.typing import DataFrame
        from sdk import Pipeline, Step

        class Rows(pa.DataFrameModel):
            x: int
            class Config:
                coerce = True

        class Warn(Step):
            """Warn once."""
            scope = "rows"
            def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
                """Return the rows, warning."""
                warnings.warn("slow path taken", UserWarning, stacklevel=1)
                return rows

        pipeline = Pipeline([Warn()], name="warns")
    '''), encoding="utf-8")
    data = tmp_path / "rows.csv"
    data.write_text("x\n1\n2\n", encoding="utf-8")
    out = cli("run", f"{module}:pipeline", "--input", f"rows={data}",
              "--run-dir", str(tmp_path / "runs"), "--log-format", "json")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), lines
    warning = [json.loads(line) for line in lines if '"event": "warning"' in line]
    assert warning and warning[0]["category"] == "UserWarning"
    assert warning[0]["warning"] == "slow path taken" and warning[0]["level"] == "WARNING"


# -- 9b. sensitive columns -----------------------------------------------------------------------


class Customers(pa.DataFrameModel):
    """Customers with an e-mail address marked sensitive."""

    customer_id: int = pa.Field(ge=0)
    email: str = pa.Field(str_matches=r"^[^@]+@[^@]+$", metadata={"sdk": {"sensitive": True}})

    class Config:
        coerce = True


class Contact(sdk.Step):
    """Keep customers (rows)."""

    scope = "rows"

    def run(self, customers: DataFrame[Customers]) -> DataFrame[Customers]:
        """Return the rows unchanged."""
        return customers


CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["1", "2", "-3", "x4"],
        "email": ["ann@example.org", "bob-at-example.org", "cy@example.org", "dee@example.org"],
    }
)


def test_sensitive_column_is_hashed_in_the_quarantine() -> None:
    """A value of a sensitive column never appears in the quarantine: its `value` and its field
    in `row` are salted hashes, equal for equal values; other columns stay readable."""
    result = sdk.Pipeline([Contact()], name="contacts").run(customers=CUSTOMERS, max_invalid=1.0)
    quarantine = result.quarantine
    text = quarantine.to_json()
    for address in CUSTOMERS["email"]:
        assert address not in text
    bad_email = quarantine[quarantine["column"] == "email"].iloc[0]
    assert bad_email["value"].startswith("sha256:") and len(bad_email["value"]) == 23
    rows = [json.loads(r) for r in quarantine["row"]]
    assert all(r["email"].startswith("sha256:") for r in rows)
    assert sorted(r["customer_id"] for r in rows) == ["-3", "2", "x4"]
    assert json.loads(bad_email["row"])["email"] == bad_email["value"]
    assert result.outputs["contact"]["email"].tolist() == ["ann@example.org"]


def test_masked_values_are_the_same_under_batch_and_change_with_the_salt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batch masks exactly like local; SDK_MASK_SALT changes every hash."""
    pipeline = sdk.Pipeline([Contact()], name="contacts")
    local = pipeline.run(customers=CUSTOMERS, max_invalid=1.0)
    batch = pipeline.run("batch", customers=CUSTOMERS, max_invalid=1.0,
                         runner_options={"chunk_rows": 1, "progress": False})
    assert_equivalent(local, batch)
    monkeypatch.setenv("SDK_MASK_SALT", "another salt")
    salted = pipeline.run(customers=CUSTOMERS, max_invalid=1.0)
    assert set(salted.quarantine["value"]) & set(local.quarantine["value"]) <= {None, "-3", "x4"}


def test_zero_byte_csv_is_one_line_saying_the_file_is_empty(tmp_path: Path) -> None:
    """A 0-byte CSV input: "the file is empty", not "missing column(s) ... (have )"."""
    empty = tmp_path / "tx.csv"
    empty.write_bytes(b"")
    for runner in ("local", "batch"):
        out = cli("run", PIPELINE, "--runner", runner, "--input", f"transactions={empty}",
                  "--run-dir", str(tmp_path / "runs"))
        assert_one_line_usage_error(out, "tx.csv: the file is empty (no header line)")


# -- 5. input changed during a run -----------------------------------------------------------------


class Tamper:
    """The file a test step truncates the first time it runs (test code only)."""

    path: ClassVar[Path | None] = None


class Truncate(sdk.Step):
    """Pass rows through, cutting the input file short on the first call (a writer racing us)."""

    scope = "rows"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Transactions]:
        """Return the rows; truncate the input file once."""
        if Tamper.path is not None:
            with Tamper.path.open("r+b") as fh:
                fh.truncate(Tamper.path.stat().st_size // 3)
            Tamper.path = None
        return transactions


@pytest.mark.parametrize("runner", ["local", "batch"])
def test_input_truncated_during_the_run_fails_and_publishes_nothing(
    tmp_path: Path, runner: str
) -> None:
    """A CSV cut short while the run reads it (batch read 1/3 of it) used to succeed on part
    of the rows with the original hash in the manifest; now the run fails naming the input and
    writes no output."""
    given = tmp_path / "tx.csv"
    given.write_bytes(CSV.read_bytes())
    output = tmp_path / "out.csv"
    Tamper.path = given
    try:
        with pytest.raises(sdk.IOSchemeError, match="'transactions' changed while the run"):
            sdk.Pipeline([Truncate()], name="tamper").run(
                runner, transactions=str(given), outputs={"truncate": str(output)},
                max_invalid=1.0, runner_options={"chunk_rows": 100, "progress": False}
                if runner == "batch" else {},
            )
    finally:
        Tamper.path = None
    assert not output.exists()


@pytest.mark.parametrize("flag", ["--output", "--quarantine", "--run-dir"])
def test_unwritable_destination_is_one_line_and_the_input_is_kept(tmp_path: Path, flag: str):
    """A destination that cannot be written (here: under a regular file; as root, permissions
    cannot be taken away) is one line, exit 2, and the input is untouched."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    value = {
        "--output": f"scored={blocker / 'scored.csv'}",
        "--quarantine": str(blocker / "q.csv"),
        "--run-dir": str(blocker / "runs"),
    }[flag]
    args = ["run", PIPELINE, "--input", f"transactions={CSV}", flag, value, "--max-invalid", "1"]
    if flag != "--run-dir":
        args += ["--run-dir", str(tmp_path / "runs")]
    out = cli(*args)
    assert_one_line_usage_error(out, "cannot write", "not-a-folder")
    assert CSV.stat().st_size > 0
