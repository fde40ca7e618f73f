"""Models as artifacts, in process: definition checks, training, metrics, broadcast, lineage.

The spaceflights example (examples/spaceflights) is the pipeline under test: it cleans raw
companies, shuttles and reviews, splits them with a seed, fits a LinearRegression, evaluates
it, and scores new shuttles with the fitted model in a second pipeline.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandera.typing import DataFrame
from sklearn.linear_model import LinearRegression
from sklearn.metrics import max_error, mean_absolute_error, r2_score

import sdk
from examples.spaceflights.pipeline import (
    FEATURES,
    EvaluateModel,
    SplitRows,
    scoring,
    training,
)
from sdk import Artifact, Metrics, Pipeline, Step
from sdk.testing import capture_logs

DATA = ROOT / "examples" / "spaceflights"


def raw(name: str) -> pd.DataFrame:
    """A raw input of the example, as text (as the CSV reader gives it)."""
    return pd.read_csv(DATA / f"{name}.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def trained() -> sdk.RunResult:
    """The training pipeline run in process on the example's raw data."""
    return training.run(
        companies=raw("companies"), shuttles=raw("shuttles"), reviews=raw("reviews")
    )


def lost(result: sdk.RunResult, *datasets: str) -> int:
    """Rows quarantined at the boundaries of ``datasets`` (from the validation report)."""
    report = result.report
    return int(report.loc[report["dataset"].isin(datasets), "quarantined"].sum())


# -- definition and wiring --------------------------------------------------------------------


class In(pa.DataFrameModel):
    """Two features and a target."""

    a: float
    b: float
    y: float


class Out(In):
    """With a prediction."""

    p: float


def test_a_rows_step_returning_an_artifact_is_refused_naming_it() -> None:
    """A model is computed from every row: a rows step cannot return one."""
    with pytest.raises(sdk.StepDefinitionError, match="step FitPerChunk") as err:

        class FitPerChunk(Step):
            """Fits on each chunk: wrong."""

            scope = "rows"

            def run(self, rows: DataFrame[In]) -> Artifact[LinearRegression]:
                return LinearRegression().fit(rows[["a", "b"]], rows["y"])

    assert "must be scope = 'global'" in str(err.value)
    assert "Artifact[LinearRegression]" in str(err.value)


def test_a_partitioned_step_returning_metrics_is_refused() -> None:
    """Metrics per partition would be wrong too."""
    with pytest.raises(sdk.StepDefinitionError, match="declares partition_by = 'a'"):

        class Per(Step):
            """Metrics per key: wrong."""

            partition_by = "a"

            def run(self, rows: DataFrame[In]) -> Metrics:
                return {"n": len(rows)}


def test_a_step_taking_only_artifacts_is_refused() -> None:
    """Units are cut from DataFrames: a step needs one."""
    with pytest.raises(sdk.StepDefinitionError, match="takes only artifacts"):

        class Coefficients(Step):
            """No data."""

            def run(self, model: Artifact[LinearRegression]) -> DataFrame[In]:
                raise NotImplementedError


def test_a_dataframe_parameter_fed_by_an_artifact_is_a_wiring_error() -> None:
    """A pipeline whose annotations disagree on what flows is refused when built."""

    class Fit(Step):
        """Fit."""

        output = "model"

        def run(self, rows: DataFrame[In]) -> Artifact[LinearRegression]:
            return LinearRegression().fit(rows[["a", "b"]], rows["y"])

    class Wrong(Step):
        """Takes the model as a frame."""

        def run(self, rows: DataFrame[In], model: DataFrame[In]) -> DataFrame[Out]:
            raise NotImplementedError

    with pytest.raises(sdk.PipelineError) as err:
        Pipeline([Fit(), Wrong()])
    assert "step 'wrong' takes 'model' as a DataFrame, but 'fit' returns " in str(err.value)
    assert "annotate parameter 'model' as Artifact[LinearRegression]" in str(err.value)


def test_an_artifact_of_another_type_is_a_wiring_error() -> None:
    """The consumer's Artifact[T] must accept what the producer declares."""

    class Fit(Step):
        """Fit."""

        output = "model"

        def run(self, rows: DataFrame[In]) -> Artifact[dict]:
            return {}

    class Use(Step):
        """Use."""

        scope = "rows"

        def run(self, rows: DataFrame[In], model: Artifact[LinearRegression]) -> DataFrame[Out]:
            raise NotImplementedError

    with pytest.raises(sdk.PipelineError, match=r"takes 'model' as Artifact\[LinearRegression\]"):
        Pipeline([Fit(), Use()])


def test_a_step_returning_the_wrong_type_fails_the_run_as_a_step_error() -> None:
    """What run() returns is checked against Artifact[T]."""

    class Fit(Step):
        """Returns the coefficients instead of the model."""

        output = "model"

        def run(self, rows: DataFrame[In]) -> Artifact[LinearRegression]:
            return LinearRegression().fit(rows[["a", "b"]], rows["y"]).coef_  # type: ignore[return-value]

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(sdk.StepError) as err:
        Pipeline([Fit()]).run(rows=frame)
    assert "step 'fit' returned ndarray, not Artifact[LinearRegression]" in str(err.value)
    assert err.value.step == "fit"


def test_metrics_must_be_numbers_with_names() -> None:
    """A metrics value that is not a number fails the step, naming the key."""

    class Evaluate(Step):
        """Returns a string metric."""

        def run(self, rows: DataFrame[In]) -> Metrics:
            return {"r2": 0.5, "note": "fine"}  # type: ignore[dict-item]

    frame = pd.DataFrame({"a": [1.0], "b": [0.0], "y": [1.0]})
    with pytest.raises(sdk.StepError, match="'note': str"):
        Pipeline([Evaluate()]).run(rows=frame)


# -- training, evaluation, scoring ------------------------------------------------------------


def test_r2_equals_plain_scikit_learn_on_the_same_rows(trained: sdk.RunResult) -> None:
    """The metrics are those plain scikit-learn computes on the rows the run kept."""
    rows = trained.outputs["split_rows"]
    train, test = rows[rows["split"] == "train"], rows[rows["split"] == "test"]
    model = LinearRegression().fit(train[FEATURES], train["price"])
    predicted = model.predict(test[FEATURES])
    metrics = trained.metrics["metrics"]
    assert metrics["r2"] == pytest.approx(r2_score(test["price"], predicted), rel=1e-12)
    assert metrics["mae"] == pytest.approx(mean_absolute_error(test["price"], predicted))
    assert metrics["max_error"] == pytest.approx(max_error(test["price"], predicted))
    assert trained.outputs["metrics"] == metrics
    assert 0.5 < metrics["r2"] < 1
    fitted = trained.outputs["regressor"]
    assert isinstance(fitted, LinearRegression)
    np.testing.assert_allclose(fitted.coef_, model.coef_)
    assert list(fitted.feature_names_in_) == FEATURES


def test_training_quarantines_the_bad_rows_and_accounts_for_every_row(
    trained: sdk.RunResult,
) -> None:
    """Malformed prices and missing values are quarantined, not fitted on or lost."""
    q = trained.quarantine
    assert set(q.loc[q["dataset"] == "shuttles", "check"]) == {
        "coerce_dtype('int64')",  # the empty engines value, read as text
        "str_matches('^\\$[\\d,]+(\\.\\d+)?$')",
    }
    assert sorted(q.loc[q["column"] == "price", "value"]) == ["call us", "call us"]
    assert len(trained.outputs["split_rows"]) + lost(trained, "shuttles", "model_input") == len(
        raw("shuttles")
    )


def test_metrics_are_logged_in_the_step_and_kept_in_the_result() -> None:
    """A `metrics` event with step, output and values; `result.metrics` by output."""
    with capture_logs() as sdk_logs:
        result = training.run(
            companies=raw("companies"), shuttles=raw("shuttles"), reviews=raw("reviews")
        )
    (record,) = sdk_logs.events("metrics")
    assert record["step"] == "evaluate_model"
    assert record["output"] == "metrics"
    assert record["values"] == pytest.approx(result.metrics["metrics"])
    (produced,) = sdk_logs.events("artifact_produced")
    assert produced["step"] == "train_model"
    assert produced["features"] == len(FEATURES)
    names = [r["event"] for r in sdk_logs if r.get("step") == "evaluate_model"]
    assert names.index("metrics") < names.index("step_finished")


def test_scoring_with_the_fitted_object_in_the_notebook(trained: sdk.RunResult) -> None:
    """An artifact input can be the object itself; predictions are the model's."""
    new = raw("new_shuttles")
    result = scoring.run(
        new_shuttles=new,
        companies=raw("companies"),
        reviews=raw("reviews"),
        regressor=trained.outputs["regressor"],
    )
    scored = result.outputs["scored"]
    expected = trained.outputs["regressor"].predict(scored[FEATURES])
    np.testing.assert_allclose(scored["predicted_price"], expected)
    assert len(scored) + lost(result, "new_shuttles", "features") == len(new)


def test_a_saved_model_scores_in_batch_loaded_once(tmp_path: Path, trained: sdk.RunResult) -> None:
    """In batch the model is loaded once per run, not per chunk, and scores like local."""
    model = tmp_path / "regressor.skops"
    training.run(
        companies=raw("companies"),
        shuttles=raw("shuttles"),
        reviews=raw("reviews"),
        outputs={"regressor": str(model)},
    )
    inputs = {
        "new_shuttles": str(DATA / "new_shuttles.csv"),
        "companies": str(DATA / "companies.csv"),
        "reviews": str(DATA / "reviews.csv"),
        "regressor": str(model),
    }
    with capture_logs() as logs:
        batch = scoring.run("batch", runner_options={"chunk_rows": 25}, **inputs)
    (loaded,) = logs.events("artifact_loaded")
    assert loaded["uri"] == str(model)
    assert loaded["produced_by_run"] is not None
    scoring_units = [u for u in logs.events("unit_committed") if "score_shuttles" in u["steps"]]
    assert len(scoring_units) >= 8  # 200 new shuttles in chunks of 25: one load, many units
    local = scoring.run(**inputs)
    pd.testing.assert_frame_equal(
        batch.outputs["scored"].reset_index(drop=True),
        local.outputs["scored"].reset_index(drop=True),
        rtol=1e-12,
    )


# -- manifests and lineage --------------------------------------------------------------------


def test_artifact_manifest_carries_lineage(tmp_path: Path) -> None:
    """Beside the model: its hash, the run, fingerprint, params, the data hashes, versions."""
    model, metrics = tmp_path / "regressor.skops", tmp_path / "metrics.json"
    shuttles = raw("shuttles")
    result = training.run(
        companies=raw("companies"),
        shuttles=shuttles,
        reviews=raw("reviews"),
        outputs={"regressor": str(model), "metrics": str(metrics)},
    )
    manifest = json.loads((tmp_path / "regressor.skops.manifest.json").read_text())
    assert manifest["run_id"] == result.run_id
    assert manifest["pipeline"] == "spaceflights-training"
    assert manifest["fingerprint"] == training.fingerprint()
    assert manifest["params"]["split_data"] == {"test_size": 0.2, "seed": 3}
    assert manifest["step"] == "train_model"
    assert manifest["features"] == FEATURES
    assert manifest["feature_dtypes"]["company_rating"] == "float64"
    assert {i["name"] for i in manifest["trained_on"]} == {"companies", "shuttles", "reviews"}
    by_name = {i["name"]: i for i in manifest["trained_on"]}
    assert by_name["shuttles"]["content_hash"] == sdk.manifest.content_hash(shuttles)
    digest = "sha256:" + hashlib.sha256(model.read_bytes()).hexdigest()
    assert manifest["content_hash"] == digest
    assert manifest["bytes"] == model.stat().st_size
    assert set(manifest["versions"]) >= {"python", "sdk", "scikit-learn", "skops"}
    assert manifest["metrics"] == result.metrics
    assert json.loads(metrics.read_text()) == result.metrics["metrics"]
    assert result.artifacts["regressor"]["content_hash"] == digest


def test_run_manifest_lists_artifacts_produced_and_consumed(
    tmp_path: Path, trained: sdk.RunResult, _run_dir: Path
) -> None:
    """Every scored row traces to the model file, and the model to its training run."""
    model = tmp_path / "regressor.skops"
    first = training.run(
        companies=raw("companies"),
        shuttles=raw("shuttles"),
        reviews=raw("reviews"),
        outputs={"regressor": str(model)},
    )
    produced = json.loads((_run_dir / first.run_id / "manifest.json").read_text())
    (entry,) = produced["artifacts"]["produced"]
    assert entry["name"] == "regressor" and entry["uri"] == str(model)
    assert produced["metrics"] == first.metrics
    second = scoring.run(
        new_shuttles=raw("new_shuttles"),
        companies=raw("companies"),
        reviews=raw("reviews"),
        regressor=str(model),
    )
    consumed = json.loads((_run_dir / second.run_id / "manifest.json").read_text())
    (used,) = consumed["artifacts"]["consumed"]
    assert used["produced_by_run"] == first.run_id
    assert used["content_hash"] == entry["content_hash"]


def test_html_repr_shows_artifacts_and_metrics(trained: sdk.RunResult) -> None:
    """The notebook view lists each artifact with type, size and hash, and the metrics."""
    page = trained._repr_html_()
    assert "regressor" in page and "LinearRegression" in page and "sha256:" in page
    assert "Metrics metrics: r2 = " in page


# -- the model contract -----------------------------------------------------------------------


class Narrow(pa.DataFrameModel):
    """Only one of the model's features."""

    a: float


class Predicted(Narrow):
    """With a prediction."""

    p: float


class FitAB(Step):
    """Fit on a and b."""

    output = "model"

    def run(self, rows: DataFrame[In]) -> Artifact[LinearRegression]:
        return LinearRegression().fit(rows[["a", "b"]], rows["y"])


class ScoreNarrow(Step):
    """Scores rows that lack b."""

    scope = "rows"

    def run(
        self, narrow: DataFrame[Narrow], model: Artifact[LinearRegression]
    ) -> DataFrame[Predicted]:
        raise AssertionError("never called: the contract check stops the run first")


def test_a_model_fitted_on_features_the_scorer_lacks_stops_before_scoring() -> None:
    """Checked as soon as the model exists, in the same pipeline: no row is scored."""
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0], "y": [1.0, 2.0, 3.0]})
    pipeline = Pipeline([FitAB(), ScoreNarrow()])
    with pytest.raises(sdk.PipelineError) as err:
        pipeline.run(rows=frame, narrow=frame[["a"]])
    message = str(err.value)
    assert "artifact 'model' (LinearRegression) was fitted on 2 feature(s) a, b" in message
    assert "step 'score_narrow' input narrow (Narrow) lacks b" in message


def test_a_loaded_model_whose_features_do_not_match_is_refused(tmp_path: Path) -> None:
    """A model trained by another run is checked when it is loaded."""
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0], "y": [1.0, 2.0, 3.0]})
    model = tmp_path / "m.skops"
    Pipeline([FitAB()]).run(rows=frame, outputs={"model": str(model)})
    with pytest.raises(sdk.PipelineError, match="lacks b"):
        Pipeline([ScoreNarrow()]).run(narrow=frame[["a"]], model=str(model))


class Texty(pa.DataFrameModel):
    """b as text."""

    a: float
    b: str


class ScoreTexty(Step):
    """Scores rows whose b is text."""

    scope = "rows"

    def run(self, rows: DataFrame[Texty], model: Artifact[LinearRegression]) -> DataFrame[Texty]:
        raise AssertionError("never called")


def test_a_feature_declared_with_another_dtype_is_refused(tmp_path: Path) -> None:
    """Fitted on a float column, scored where the model declares it a string: refused."""

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0], "y": [1.0, 2.0, 3.0]})
    model = tmp_path / "m.skops"
    Pipeline([FitAB()]).run(rows=frame, outputs={"model": str(model)})
    with pytest.raises(sdk.PipelineError, match=r"b \(fitted on float64, declared str\)"):
        Pipeline([ScoreTexty()]).run(rows=frame[["a", "b"]].astype(str), model=str(model))


def test_an_in_memory_artifact_of_the_wrong_type_is_refused_before_the_run() -> None:
    """Passing the coefficients instead of the model names the input and the type."""
    frame = pd.DataFrame({"a": [1.0]})
    with pytest.raises(sdk.PipelineError, match=r"input 'model' is a dict; the pipeline takes"):
        Pipeline([ScoreNarrow()]).run(narrow=frame, model={"coef": [1.0]})


# -- batch: checkpoints and resume keep the model ---------------------------------------------


def test_batch_training_equals_local(trained: sdk.RunResult) -> None:
    """The same metrics and coefficients when trained by the batch runner."""
    batch = training.run(
        "batch",
        runner_options={"chunk_rows": 100},
        companies=raw("companies"),
        shuttles=raw("shuttles"),
        reviews=raw("reviews"),
    )
    assert batch.metrics["metrics"] == pytest.approx(trained.metrics["metrics"], rel=1e-9)
    np.testing.assert_allclose(
        batch.outputs["regressor"].coef_, trained.outputs["regressor"].coef_, rtol=1e-9
    )


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    chunk_rows=st.integers(min_value=1, max_value=60),
    values=st.lists(
        st.tuples(
            st.floats(-1e3, 1e3, allow_nan=False) | st.none(),
            st.floats(-1e3, 1e3, allow_nan=False),
        ),
        min_size=1,
        max_size=80,
    ),
)
def test_batch_scoring_equals_local_and_accounts_for_every_row(
    chunk_rows: int, values: list[tuple[float | None, float]]
) -> None:
    """Whatever the chunking, batch scores as local does, and rows in = scored + quarantined."""
    model = LinearRegression().fit(pd.DataFrame({"a": [0.0, 1.0, 2.0]}), [1.0, 3.0, 5.0])
    frame = pd.DataFrame({"a": [a for a, _ in values], "p": [p for _, p in values]})

    class ScoreA(Step):
        """Scores a."""

        scope = "rows"

        def run(
            self, narrow: DataFrame[Narrow], model: Artifact[LinearRegression]
        ) -> DataFrame[Predicted]:
            return narrow.assign(p=model.predict(narrow[["a"]]))

    pipeline = Pipeline([ScoreA()], max_invalid=1.0)
    local = pipeline.run(narrow=frame[["a"]], model=model)
    batch = pipeline.run(
        "batch", runner_options={"chunk_rows": chunk_rows}, narrow=frame[["a"]], model=model
    )
    for result in (local, batch):
        assert len(result.outputs["score_a"]) + result.quarantined == len(frame)
    pd.testing.assert_frame_equal(
        batch.outputs["score_a"].sort_index(), local.outputs["score_a"].sort_index(), rtol=1e-12
    )


INTERRUPT: list[bool] = []
"""Set to make :class:`EvaluateOnce` interrupt the run (as Ctrl-C would), once."""


class EvaluateOnce(EvaluateModel):
    """Evaluate, but interrupted the first time (a test of resume)."""

    def run(
        self, split_rows: DataFrame[SplitRows], regressor: Artifact[LinearRegression]
    ) -> Metrics:
        if INTERRUPT:
            INTERRUPT.pop()
            raise KeyboardInterrupt
        return super().run(split_rows, regressor)


def test_a_resumed_batch_run_keeps_the_model_its_first_attempt_fitted(
    trained: sdk.RunResult, _run_dir: Path
) -> None:
    """The fitted model is checkpointed: resuming replays the training unit, not refits."""
    steps = [s for s in training.steps if s.name != "evaluate_model"]
    pipeline = Pipeline(
        [*steps, EvaluateOnce(name="evaluate_model", output="metrics")], name="resumable"
    )
    inputs = {name: str(DATA / f"{name}.csv") for name in ("companies", "shuttles", "reviews")}
    INTERRUPT.append(True)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run("batch", run_id="fit-once", **inputs)
    assert json.loads((_run_dir / "fit-once" / "run.json").read_text())["status"] == "interrupted"
    with capture_logs() as logs:
        resumed = pipeline.run("batch", resume="fit-once", **inputs)
    units = [u["unit"] for u in logs.events("unit_committed")]
    assert units and not any("s04" in u for u in units)  # stage 4 (train_model) replayed
    assert any("s05" in u for u in units)  # stage 5 (evaluate_model) run
    assert resumed.metrics["metrics"] == pytest.approx(trained.metrics["metrics"], rel=1e-9)
    np.testing.assert_allclose(
        resumed.outputs["regressor"].coef_, trained.outputs["regressor"].coef_, rtol=1e-9
    )


def test_check_says_when_the_model_contract_is_checked() -> None:
    """pipeline.check() cannot know a model's features before fit, and says so."""
    (finding,) = [f for f in training.check().findings if f.kind == "model_contract"]
    assert finding.severity == "undecidable"
    assert (finding.producer, finding.consumer, finding.dataset) == (
        "train_model",
        "evaluate_model",
        "regressor",
    )
    assert "checked against them right after 'train_model' returns it" in finding.message


def test_a_model_cannot_be_written_as_json_and_is_refused_before_the_run(tmp_path: Path) -> None:
    """The format is checked against the declared type before any step runs."""
    with pytest.raises(sdk.PipelineError, match=r"is JSON, which holds metrics, dicts and lists"):
        training.run(
            companies=raw("companies"),
            shuttles=raw("shuttles"),
            reviews=raw("reviews"),
            outputs={"regressor": str(tmp_path / "regressor.json")},
        )
    assert not list(tmp_path.iterdir())


def test_rows_quarantined_after_a_join_name_the_joined_row_not_an_unrelated_input_line() -> None:
    """A merge numbers its rows anew; their source is the output's row, never a wrong line."""
    result = training.run(
        companies=str(DATA / "companies.csv"),
        shuttles=str(DATA / "shuttles.csv"),
        reviews=str(DATA / "reviews.csv"),
    )
    q = result.quarantine
    joined = q[q["dataset"] == "model_input"]
    assert len(joined) == 40  # 20 shuttles of the two companies without a rating, 2 columns
    assert joined["source"].str.fullmatch(r"model_input#\d+").all()
    read = q[q["dataset"] == "shuttles"]
    assert read["source"].str.fullmatch(r".*shuttles\.csv:\d+").all()


def test_an_equal_model_has_an_equal_object_hash(tmp_path: Path) -> None:
    """The .skops file differs at every save; object_hash says whether the model changed."""
    hashes = []
    for attempt in ("first", "second"):
        model = tmp_path / f"{attempt}.skops"
        training.run(
            companies=raw("companies"),
            shuttles=raw("shuttles"),
            reviews=raw("reviews"),
            outputs={"regressor": str(model)},
        )
        hashes.append(json.loads((tmp_path / f"{attempt}.skops.manifest.json").read_text()))
    assert hashes[0]["object_hash"] == hashes[1]["object_hash"]
    changed = training.with_params({"split_data.seed": 4})
    model = tmp_path / "other.skops"
    changed.run(
        companies=raw("companies"),
        shuttles=raw("shuttles"),
        reviews=raw("reviews"),
        outputs={"regressor": str(model)},
    )
    other = json.loads((tmp_path / "other.skops.manifest.json").read_text())
    assert other["object_hash"] != hashes[0]["object_hash"]


def test_verify_runs_training_and_scoring_steps(tmp_path: Path) -> None:
    """`pipeline.verify` hands the fitted model (or its file) to the steps that take it."""
    frames = {"companies": raw("companies"), "shuttles": raw("shuttles"), "reviews": raw("reviews")}
    report = training.verify(sample_rows=500, **frames)
    assert report.ok, str(report)
    assert report.checked["train_model"] == ["runs", "no_input_mutation"]
    assert report.checked["evaluate_model"] == ["runs", "no_input_mutation", "deterministic"]
    model = tmp_path / "regressor.skops"
    training.run(outputs={"regressor": str(model)}, **frames)
    scored = scoring.verify(
        new_shuttles=raw("new_shuttles"),
        companies=raw("companies"),
        reviews=raw("reviews"),
        regressor=str(model),
    )
    assert scored.ok, str(scored)
    assert "rows" in scored.checked["score_shuttles"]


class Lookup(Step):
    """A lookup table of the a values (a set is not JSON)."""

    output = "lookup"

    def run(self, rows: DataFrame[In]) -> Artifact[dict]:
        return {"values": set(rows["a"])}


class Summary(Step):
    """The number of rows."""

    output = "summary"

    def run(self, rows: DataFrame[In]) -> Metrics:
        return {"rows": len(rows)}


def test_an_artifact_that_cannot_be_saved_fails_the_run_before_anything_is_published(
    tmp_path: Path, _run_dir: Path
) -> None:
    """Serialized before any output is written: no metrics file beside a failed run."""
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0], "y": [1.0, 2.0]})
    outputs = {"summary": str(tmp_path / "summary.json"), "lookup": str(tmp_path / "lookup.json")}
    with pytest.raises(sdk.ArtifactError, match=r"lookup\.json"):
        Pipeline([Summary(), Lookup()]).run(rows=frame, outputs=outputs, run_id="unsaved")
    assert not list(tmp_path.iterdir())
    manifest = json.loads((_run_dir / "unsaved" / "manifest.json").read_text())
    assert manifest["status"] == "failed"


def test_a_refused_artifact_input_ends_the_run_failed_with_its_events(tmp_path: Path) -> None:
    """A tampered file fails the run as any failure does: run_finished, manifest."""
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0], "y": [1.0, 2.0, 3.0]})
    model = tmp_path / "m.skops"
    Pipeline([FitAB()]).run(rows=frame, outputs={"model": str(model)})
    model.write_bytes(model.read_bytes()[:-1])
    with capture_logs() as logs, pytest.raises(sdk.ArtifactError, match=r"m\.skops"):
        Pipeline([ScoreNarrow()]).run(narrow=frame[["a"]], model=str(model))
    (finished,) = logs.events("run_finished")
    assert finished["status"] == "failed"
    assert finished["error"] == "ArtifactError"


def test_a_relative_trust_pattern_trusts_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--trust-artifact models/*.joblib` trusts the same file named by its absolute path."""
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0], "y": [1.0, 2.0, 3.0]})
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    Pipeline([FitAB()]).run(rows=frame, outputs={"model": "models/m.joblib"})
    absolute = str(tmp_path / "models" / "m.joblib")

    class ScoreAB(Step):
        """Scores a and b."""

        scope = "rows"

        def run(self, rows: DataFrame[In], model: Artifact[LinearRegression]) -> DataFrame[Out]:
            return rows.assign(p=model.predict(rows[["a", "b"]]))

    with pytest.raises(sdk.ArtifactError, match="can run arbitrary code"):
        Pipeline([ScoreAB()]).run(rows=frame, model=absolute)
    scored = Pipeline([ScoreAB()]).run(
        rows=frame, model=absolute, trusted_artifacts=["models/*.joblib"]
    )
    np.testing.assert_allclose(scored.outputs["score_ab"]["p"], frame["y"], atol=1e-9)
