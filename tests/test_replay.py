"""Replaying a quarantine through a fixed pipeline: `sdk quarantine replay` and
`sdk.replay.replay_quarantine`, on quarantines the fraud example really wrote."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from conftest import ROOT, cli
from pandera.typing import DataFrame

from examples.fraud.pipeline import pipeline as fraud
from sdk import IOSchemeError, Pipeline, PipelineError, Step
from sdk.deploy import load_pipeline
from sdk.replay import ReplayReport, replay_quarantine
from sdk.testing import capture_logs

# The fraud pipeline after two too-strict checks were fixed: country codes of 2 or 3 letters in
# any case (the example quarantines "USA", "de", ...) and amounts up to 2,000,000 (it quarantines
# 1,000,000.01 and 1,250,000; 2,500,000 still fails, now under the new bound). Also two variants
# built on it: `capped` quarantines high scores at its output, `labelled` joins a second input.
FIXED = '''
import numpy as np
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Pipeline, Step


class Transactions(pa.DataFrameModel):
    """A transaction, with the country and amount checks relaxed."""

    customer_id: int = pa.Field(ge=0)
    amount: float = pa.Field(ge=0, le=2_000_000)
    country: str = pa.Field(str_matches=r"^[A-Za-z]{2,3}$")

    class Config:
        coerce = True


class Features(Transactions):
    """With the customer's aggregates."""

    mean_amount: float
    n_tx: int = pa.Field(ge=1)


class Scored(Features):
    """With the fraud score."""

    score: float = pa.Field(ge=0, le=1)


class Capped(Features):
    """With a score that must stay at or below 0.99 (amounts up to about 708)."""

    score: float = pa.Field(ge=0, le=0.99)


class Countries(pa.DataFrameModel):
    """A country code and its region."""

    country: str
    region: str


class Labelled(Transactions):
    """A transaction with its country's region."""

    region: str


class AddFeatures(Step):
    """Per-customer aggregates."""

    output = "features"
    partition_by = "customer_id"

    def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Features]:
        g = transactions.groupby("customer_id")["amount"]
        return transactions.assign(mean_amount=g.transform("mean"), n_tx=g.transform("size"))


class Score(Step):
    """Logistic score of the amount."""

    output = "scored"
    scope = "rows"

    class Params(Params):
        """Coefficients."""

        weight: float = 0.5

    def run(self, features: DataFrame[Features]) -> DataFrame[Scored]:
        z = self.params.weight * np.log1p(features["amount"])
        return features.assign(score=1 / (1 + np.exp(-z)))


class CappedScore(Score):
    """The same score, capped at its output."""

    output = "scored"

    def run(self, features: DataFrame[Features]) -> DataFrame[Capped]:
        z = self.params.weight * np.log1p(features["amount"])
        return features.assign(score=1 / (1 + np.exp(-z)))


class Label(Step):
    """The region of each transaction's country."""

    output = "labelled"
    scope = "rows"

    def run(
        self, transactions: DataFrame[Transactions], countries: DataFrame[Countries]
    ) -> DataFrame[Labelled]:
        return transactions.join(countries.set_index("country"), on="country")


pipeline = Pipeline([AddFeatures(), Score(weight=0.7)], name="fraud")
capped = Pipeline([AddFeatures(), CappedScore(weight=0.7)], name="capped")
labelled = Pipeline([Label()], name="labelled")
'''

COUNTRY = "str_matches('^[A-Z]{2}$')"
AMOUNT_MAX = "less_than_or_equal_to(1000000)"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fraud example run as a user runs it: its quarantine by the local runner as CSV and
    by the batch runner as Parquet, and the fixed pipeline's module."""
    path = tmp_path_factory.mktemp("fraud")
    for runner, quarantine in (("local", "quarantine.csv"), ("batch", "quarantine.parquet")):
        out = cli(
            "run", "examples/fraud/deploy.toml", "--runner", runner,
            "--quarantine", str(path / quarantine),
            "--output", f"scored={path / f'scored-{runner}.csv'}",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
    (path / "fixed.py").write_text(textwrap.dedent(FIXED))
    return path


def fixed(written: Path, name: str = "pipeline") -> Pipeline:
    """A pipeline of the fixed module."""
    return load_pipeline(f"{written / 'fixed.py'}:{name}")


def expected_to_pass(quarantine: pd.DataFrame) -> set[str]:
    """The sources of the rows the fixes let through, read off the quarantine itself."""
    amount = pd.to_numeric(quarantine["value"], errors="coerce")
    fixed_rows = (quarantine["check"] == COUNTRY) | (
        (quarantine["check"] == AMOUNT_MAX) & (amount <= 2_000_000)
    )
    return set(quarantine.loc[fixed_rows, "source"])


def outcomes(report: ReplayReport) -> dict[str, set[str]]:
    """The sources of the rows of each outcome."""
    return {k: set(v["source"]) for k, v in report.rows.groupby("outcome")}


def test_fixed_checks_let_their_rows_pass(written: Path, tmp_path: Path) -> None:
    """After relaxing the country and amount checks, exactly the rows those checks quarantined
    pass and are written; the others fail as before, one under the new amount bound."""
    original = pd.read_csv(written / "quarantine.csv", dtype=str)
    assert len(original) == 30 and original["source"].is_unique
    report = replay_quarantine(
        fixed(written),
        str(written / "quarantine.csv"),
        outputs={"scored": str(tmp_path / "scored.csv")},
        quarantine=str(tmp_path / "again.csv"),
    )
    assert (report.replayed, report.passed, report.same_check, report.new_check) == (30, 8, 21, 1)
    assert report.not_replayable == 0 and report.other_records == 0
    assert outcomes(report)["passed"] == expected_to_pass(original)
    (changed,) = report.rows[report.rows["outcome"] == "new_check"].itertuples()
    assert changed.source.endswith("transactions.csv:1767")
    assert (changed.check, changed.new_check) == (AMOUNT_MAX, "less_than_or_equal_to(2000000)")
    by_check = report.by_check.set_index("check")
    assert by_check.loc[COUNTRY, ["rows", "passed"]].tolist() == [6, 6]
    assert by_check.loc[AMOUNT_MAX, ["passed", "new_check"]].tolist() == [2, 1]
    scored = pd.read_csv(tmp_path / "scored.csv", dtype=str)
    assert len(scored) == 8
    assert set(scored["country"]) == {"USA", "de", "gb", "usa", "fr", "GBR", "CA", "US"}
    again = pd.read_csv(tmp_path / "again.csv", dtype=str)
    still = outcomes(report)["same_check"] | outcomes(report)["new_check"]
    assert set(again["source"]) == still  # the original lines, not the replay's positions
    assert set(again["source"]) <= set(original["source"])


def test_replay_is_logged(written: Path) -> None:
    """One `replay_finished` event carries the counts and the quarantine's URI."""
    uri = str(written / "quarantine.csv")
    with capture_logs() as logs:
        report = replay_quarantine(fixed(written), uri)
    (event,) = [r for r in logs if r["event"] == "replay_finished"]
    assert event["logger"] == "sdk.run" and event["quarantine"] == uri
    assert report.result is not None and event["run_id"] == report.result.run_id
    counts = {k: event[k] for k in ("replayed", "passed", "same_check", "new_check")}
    assert counts == {"replayed": 30, "passed": 8, "same_check": 21, "new_check": 1}
    assert event["not_replayable"] == 0


def test_cli_prints_the_report_and_writes_passing_rows(written: Path, tmp_path: Path) -> None:
    """`sdk quarantine replay` exits 0, prints the counts and writes the passing rows."""
    out = cli(
        "quarantine", "replay", str(written / "quarantine.csv"), f"{written / 'fixed.py'}:pipeline",
        "--output", f"scored={tmp_path / 'scored.csv'}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    words = [line.split("(")[0].split() for line in out.stdout.splitlines()[1:6]]
    counts = {" ".join(w[:-1]): int(w[-1]) for w in words}
    assert counts == {
        "replayed": 30, "passed": 8, "same check": 21, "new check": 1, "not replayable": 0
    }  # fmt: skip
    assert "less_than_or_equal_to(1000000) -> less_than_or_equal_to(2000000) (amount)" in out.stdout
    assert f"scored -> {tmp_path / 'scored.csv'}" in out.stdout
    assert len(pd.read_csv(tmp_path / "scored.csv")) == 8
    events = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    (event,) = [e for e in events if e["event"] == "replay_finished"]
    assert (event["passed"], event["quarantine"]) == (8, str(written / "quarantine.csv"))


def test_cli_takes_a_deployment_but_not_its_outputs(written: Path, tmp_path: Path) -> None:
    """With a deployment as target, its pipeline is replayed on the quarantined rows only (not
    on its whole input file), and its production outputs are left alone."""
    deploy = tmp_path / "deploy.toml"
    deploy.write_text(
        f'pipeline = "{written / "fixed.py"}:pipeline"\n'
        f'[inputs]\ntransactions = "{ROOT / "examples" / "fraud" / "transactions.csv"}"\n'
        f'[outputs]\nscored = "{tmp_path / "production.csv"}"\n'
        '[params]\n"score.weight" = 0.7\n'
    )
    out = cli("quarantine", "replay", str(written / "quarantine.csv"), str(deploy))
    assert out.returncode == 0, out.stderr
    assert "passed                8" in out.stdout
    assert not (tmp_path / "production.csv").exists()


def test_batch_parquet_quarantine_replays_on_both_runners(written: Path) -> None:
    """A quarantine the batch runner wrote as Parquet replays alike on `local` and on `batch`
    in small chunks, and the new records keep the original sources."""
    uri = str(written / "quarantine.parquet")
    local = replay_quarantine(fixed(written), uri)
    batch = replay_quarantine(
        fixed(written), uri, "batch", runner_options={"chunk_rows": 4, "progress": False}
    )
    assert batch.result is not None and batch.result.runner == "batch"
    for report in (local, batch):
        assert report.summary()["quarantine"] == uri
        assert (report.passed, report.same_check, report.new_check) == (8, 21, 1)
    assert outcomes(local) == outcomes(batch)
    assert outcomes(local)["passed"] == expected_to_pass(pd.read_parquet(uri))
    assert set(batch.result.quarantine["source"]) == (
        outcomes(batch)["same_check"] | outcomes(batch)["new_check"]
    )


def test_a_row_failing_two_checks_counts_once(written: Path) -> None:
    """Two records of one row make one replayed row, judged by its first failing check."""
    frame = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3", "4"],
            "amount": ["-5", "10", "-5", "10"],
            "country": ["usa", "usa", "US", "US"],
        },
        index=["both", "country", "amount", "fine"],
    )
    quarantine = fraud.run(transactions=frame, max_invalid=1.0).quarantine
    assert quarantine["source"].tolist() == ["both", "both", "country", "amount"]
    assert quarantine["check"].tolist()[:2] == ["greater_than_or_equal_to(0)", COUNTRY]
    report = replay_quarantine(fixed(written), quarantine)
    assert report.replayed == 3 and len(report.rows) == 3
    assert outcomes(report) == {"same_check": {"both", "amount"}, "passed": {"country"}}
    assert report.summary()["quarantine"] == "<DataFrame>"
    # the first record in the file decides: with the country record first, the unchanged
    # pipeline's first failure (the amount) is another check
    report = replay_quarantine(fraud, quarantine.iloc[[1, 0, 2, 3]])
    assert (report.replayed, report.same_check, report.new_check) == (3, 2, 1)
    assert outcomes(report)["new_check"] == {"both"}


def test_rows_from_an_output_boundary_are_not_replayable(
    written: Path, fraud_raw: pd.DataFrame
) -> None:
    """Rows quarantined at a step's output are counted as not replayable, with the reason;
    the input rows beside them replay."""
    run = fixed(written, "capped").run(transactions=fraud_raw, max_invalid=1.0)
    at_input = run.quarantine[run.quarantine["boundary"] == "input"]
    at_output = run.quarantine[run.quarantine["boundary"] == "output"]
    valid = fraud_raw.drop(index=at_input["source"].astype(int))["amount"].astype(float)
    too_high = int((1 / (1 + np.exp(-0.7 * np.log1p(valid))) > 0.99).sum())
    assert len(at_output) == too_high == 19 and set(at_output["dataset"]) == {"scored"}
    report = replay_quarantine(fixed(written), run.quarantine)
    assert (report.not_replayable, report.replayed) == (19, 22)
    assert (report.same_check, report.passed) == (22, 0)
    assert outcomes(report)["not_replayable"] == set(at_output["source"])
    (reason,) = set(report.rows["reason"].dropna())
    assert "output of step 'capped_score' (scored)" in reason
    assert "not replayable:\n       19  quarantined at the output" in str(report)


def test_malformed_records_are_not_replayable(written: Path, tmp_path: Path) -> None:
    """A CSV record with too many fields has no columns to replay; the other rows replay."""
    data = tmp_path / "tx.csv"
    data.write_text("customer_id,amount,country\n1,10,usa\n2,20,US,extra\n3,-1,US\n")
    run = fraud.run(transactions=str(data), max_invalid=1.0)
    assert sorted(run.quarantine["check"]) == sorted(
        [COUNTRY, "field_count", "greater_than_or_equal_to(0)"]
    )
    report = replay_quarantine(fixed(written), run.quarantine)
    assert (report.passed, report.same_check, report.not_replayable) == (1, 1, 1)
    assert outcomes(report)["not_replayable"] == {f"{data}:3"}
    assert report.result is not None
    assert report.result.outputs["scored"].index.tolist() == [f"{data}:2"]


class Card(pa.DataFrameModel):
    """A payment: a card number, shown only hashed in the quarantine, and an amount."""

    card: str = pa.Field(str_matches=r"^[0-9]{4}$", metadata={"sdk": {"sensitive": True}})
    amount: float = pa.Field(ge=0)

    class Config:
        coerce = True


class Charge(Step):
    """Passes payments through."""

    scope = "rows"

    def run(self, payments: DataFrame[Card]) -> DataFrame[Card]:
        return payments


def test_rows_with_hashed_values_are_not_replayable(written: Path) -> None:
    """A row whose sensitive value the quarantine holds only as a hash is never replayed: the
    hash would be validated, or written to an output, in place of the value."""
    frame = pd.DataFrame({"card": ["12x4", "1234", "5678"], "amount": ["1", "-1", "2"]})
    charges = Pipeline([Charge()], name="charges")
    quarantine = charges.run(payments=frame, max_invalid=1.0).quarantine
    assert quarantine["row"].str.contains('"card":"sha256:').all()
    report = replay_quarantine(charges, quarantine)
    assert (report.replayed, report.not_replayable, report.result) == (0, 2, None)
    (reason,) = set(report.rows["reason"])
    assert reason == "column 'card' is sensitive: the quarantine holds only its hash"


def test_other_inputs_must_be_given(written: Path, tmp_path: Path) -> None:
    """A pipeline input with no rows in the quarantine is refused by name; given, it joins the
    replayed rows (a row it has no region for now fails at the step's output)."""
    uri = str(written / "quarantine.csv")
    labelled = fixed(written, "labelled")
    with pytest.raises(PipelineError, match="input\\(s\\) 'countries' of pipeline 'labelled'"):
        replay_quarantine(labelled, uri)
    countries = tmp_path / "countries.csv"
    countries.write_text("country,region\nUS,NA\nCA,NA\nUSA,NA\nde,EU\ngb,EU\n")
    report = replay_quarantine(labelled, uri, inputs={"countries": str(countries)})
    assert (report.passed, report.same_check, report.new_check) == (5, 21, 4)
    now = report.rows[report.rows["outcome"] == "new_check"]
    assert sorted(now["new_check"]) == ["less_than_or_equal_to(2000000)", *["not_nullable"] * 3]
    assert report.other_records == 0
    out = cli(
        "quarantine", "replay", uri, f"{written / 'fixed.py'}:labelled",
    )  # fmt: skip
    assert out.returncode == 2
    assert "'countries'" in out.stderr and "--input NAME=URI" in out.stderr


def test_what_is_not_a_quarantine_is_refused(written: Path, tmp_path: Path) -> None:
    """A file without the quarantine's columns is refused naming them; so is an error budget;
    `sdk quarantine` without an action is a usage error."""
    scored = str(written / "scored-local.csv")
    with pytest.raises(IOSchemeError, match="is not a quarantine: column\\(s\\) run_id, step"):
        replay_quarantine(fixed(written), scored)
    with pytest.raises(PipelineError, match="never fails for the error budget"):
        replay_quarantine(fixed(written), str(written / "quarantine.csv"), max_invalid=0.5)
    assert cli("quarantine").returncode == 2
    out = cli("quarantine", "replay", scored, f"{written / 'fixed.py'}:pipeline")
    assert out.returncode == 2 and "is not a quarantine" in out.stderr
