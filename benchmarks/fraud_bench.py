"""The fraud pipeline of DESIGN.md, implemented four ways for the benchmark.

Every variant takes the raw ``transactions`` frame and returns the ``scored`` frame:

* ``plain``: the computation in plain pandas, no checks at all (the baseline).
* ``floor``: the computation plus exactly the models' checks, written by hand as vectorised
  pandas expressions, once at each boundary that needs them; failing rows are removed with a
  boolean mask. This is the speed limit for honest validation (see :func:`run_floor`).
* ``pandera``: the computation in functions decorated with ``pandera.check_types(lazy=True)``;
  on ``SchemaErrors`` the failing rows are dropped using ``err.failure_cases["index"]`` and the
  pipeline continues, so that it does the same work as the other validating variants.
* ``sdk``: the pipeline below, built with ``sdk.Step``/``sdk.Pipeline``/``sdk.Params`` exactly as
  in DESIGN.md, run in-process with ``pipeline.run(transactions=df, max_invalid=1.0)``.

The module also generates the benchmark data (:func:`make_transactions`). It imports without the
``sdk`` package installed; only the ``sdk`` variant needs it.
"""

from collections.abc import Callable
from typing import cast

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pandera.typing import DataFrame

WEIGHT = 0.7
"""Weight of the ``Score`` step, as in ``Score(weight=0.7)``."""
BIAS = 0.0
"""Bias of the ``Score`` step (its default)."""

COUNTRIES = (
    "US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT",
    "SE", "NO", "DK", "FI", "PL", "PT", "IE", "CA", "AU", "JP",
)  # fmt: skip
"""Valid country codes used by the generator."""

DEFECTS = ("amount_negative", "amount_missing", "country_malformed", "customer_id_negative")
"""The four kinds of bad row, in the order the generator assigns them."""


# --------------------------------------------------------------------------------------------
# Models (DESIGN.md, verbatim)
# --------------------------------------------------------------------------------------------


class Transactions(pa.DataFrameModel):
    """Raw card transactions."""

    customer_id: int = pa.Field(ge=0)
    amount: float = pa.Field(ge=0, le=1_000_000)
    country: str = pa.Field(str_matches=r"^[A-Z]{2}$")

    class Config:
        """Coerce columns to the declared types."""

        coerce = True


class Features(Transactions):
    """Transactions with per-customer aggregates."""

    mean_amount: float
    n_tx: int = pa.Field(ge=1)


class Scored(Features):
    """Features with a fraud score in [0, 1]."""

    score: float = pa.Field(ge=0, le=1)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def make_transactions(n: int, bad_fraction: float = 0.0, seed: int = 20240601) -> pd.DataFrame:
    """Generate ``n`` transactions deterministically, optionally with bad rows.

    The clean rows are the same for every ``bad_fraction`` (same seed); bad rows are then chosen
    at random and each gets exactly one defect, the four kinds of :data:`DEFECTS` in equal shares:
    a negative amount (out of range), a missing amount, a malformed country (``"usa"``: fails the
    regex) and a negative customer id.

    Args:
        n: Number of rows.
        bad_fraction: Fraction of rows to corrupt, e.g. ``0.01``.
        seed: Seed of the numpy generator.

    Returns:
        A frame with columns ``customer_id`` (int64), ``amount`` (float64) and ``country``
        (pandas' default ``str`` dtype), indexed 0..n-1.
    """
    rng = np.random.default_rng(seed)
    customer_id = rng.integers(0, max(n // 20, 1), size=n, dtype=np.int64)
    amount = np.minimum(rng.lognormal(mean=3.5, sigma=1.2, size=n), 1_000_000.0)
    country_code = rng.integers(0, len(COUNTRIES), size=n)
    vocabulary = np.array([*COUNTRIES, "usa"], dtype=object)

    n_bad = round(n * bad_fraction)
    if n_bad:
        bad_rng = np.random.default_rng(seed + 1)
        rows = bad_rng.choice(n, size=n_bad, replace=False)
        kind = np.arange(n_bad) % len(DEFECTS)
        amount[rows[kind == 0]] = -bad_rng.uniform(1.0, 1_000.0, size=int((kind == 0).sum()))
        amount[rows[kind == 1]] = np.nan
        country_code[rows[kind == 2]] = len(COUNTRIES)  # "usa"
        customer_id[rows[kind == 3]] = -1 - customer_id[rows[kind == 3]]

    return pd.DataFrame(
        {
            "customer_id": customer_id,
            "amount": amount,
            "country": pd.Series(vocabulary[country_code], dtype="str"),
        }
    )


# --------------------------------------------------------------------------------------------
# The computation, shared by every variant
# --------------------------------------------------------------------------------------------


def add_features(transactions: pd.DataFrame) -> pd.DataFrame:
    """Add per-customer mean amount and transaction count (the body of ``AddFeatures.run``)."""
    g = transactions.groupby("customer_id")["amount"]
    return transactions.assign(mean_amount=g.transform("mean"), n_tx=g.transform("size"))


def score(features: pd.DataFrame, weight: float = WEIGHT, bias: float = BIAS) -> pd.DataFrame:
    """Add the logistic score of ``log1p(amount)`` (the body of ``Score.run``, minus logging)."""
    z = weight * np.log1p(features["amount"]) + bias
    return features.assign(score=1 / (1 + np.exp(-z)))


# --------------------------------------------------------------------------------------------
# (a) plain pandas
# --------------------------------------------------------------------------------------------


def run_plain(transactions: pd.DataFrame) -> pd.DataFrame:
    """Run the computation with no checks; bad rows flow through (and score NaN)."""
    with np.errstate(invalid="ignore"):  # log1p of a negative amount: NaN, expected here
        return score(add_features(transactions))


# --------------------------------------------------------------------------------------------
# (b) the floor: the models' checks by hand
# --------------------------------------------------------------------------------------------
#
# The floor is the cheapest *honest* validation of this pipeline: every check the models declare,
# evaluated once per boundary where the data could violate it, as one vectorised boolean mask,
# with failing rows removed by that mask (no copy when every row passes). Concretely:
#
# * input of AddFeatures (Transactions): dtypes (coerce=True, so a wrong dtype would be cast; the
#   generated data already has the declared dtypes, so this is a dtype comparison), and
#   customer_id >= 0, 0 <= amount <= 1e6, country matching ^[A-Z]{2}$. int64 cannot hold a
#   missing value; a NaN amount fails both comparisons and a missing country fails the match
#   (na=False, as pandera's str_matches), so the not-null checks come for free.
# * output of AddFeatures (Features): the Transactions columns are passed through unchanged by
#   ``assign`` and were checked on the way in, so only the new columns are checked:
#   mean_amount not null, n_tx >= 1 (plus their dtypes).
# * input of Score: the same model as AddFeatures' output, already checked: no re-check.
# * output of Score (Scored): only the new column can be wrong: 0 <= score <= 1 (NaN fails).


def _keep(frame: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    """Return the rows of ``frame`` where ``mask`` holds, without copying when all do."""
    return frame if bool(mask.all()) else frame[mask]


def _coerce(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    """Cast the columns whose dtype differs from the declared one (``coerce=True``)."""
    wrong = {col: dtype for col, dtype in dtypes.items() if frame[col].dtype != dtype}
    return frame.astype(wrong) if wrong else frame


def check_transactions(frame: pd.DataFrame) -> pd.DataFrame:
    """Apply the Transactions checks by hand; return the passing rows."""
    frame = _coerce(frame, {"customer_id": "int64", "amount": "float64", "country": "str"})
    amount = frame["amount"]
    mask = (
        (frame["customer_id"] >= 0)
        & (amount >= 0)
        & (amount <= 1_000_000)
        & frame["country"].str.match(r"^[A-Z]{2}$", na=False)
    )
    return _keep(frame, mask)


def check_features_added(frame: pd.DataFrame) -> pd.DataFrame:
    """Apply the checks of the columns Features adds to Transactions; return the passing rows."""
    frame = _coerce(frame, {"mean_amount": "float64", "n_tx": "int64"})
    mask = frame["mean_amount"].notna() & (frame["n_tx"] >= 1)
    return _keep(frame, mask)


def check_scored_added(frame: pd.DataFrame) -> pd.DataFrame:
    """Apply the checks of the column Scored adds to Features; return the passing rows."""
    frame = _coerce(frame, {"score": "float64"})
    s = frame["score"]
    return _keep(frame, (s >= 0) & (s <= 1))


def run_floor(transactions: pd.DataFrame) -> pd.DataFrame:
    """Run the computation with the models' checks written by hand (the floor)."""
    features = check_features_added(add_features(check_transactions(transactions)))
    return check_scored_added(score(features))


# --------------------------------------------------------------------------------------------
# (c) pandera check_types
# --------------------------------------------------------------------------------------------


@pa.check_types(lazy=True)
def pandera_add_features(transactions: DataFrame[Transactions]) -> DataFrame[Features]:
    """``AddFeatures`` as a pandera-checked function."""
    return add_features(transactions)  # type: ignore[return-value]


@pa.check_types(lazy=True)
def pandera_score(features: DataFrame[Features]) -> DataFrame[Scored]:
    """``Score`` as a pandera-checked function."""
    return score(features)  # type: ignore[return-value]


def _failing_index(err: SchemaErrors) -> pd.Index:
    """Return the index labels of the rows that failed, or re-raise a frame-level failure."""
    labels = err.failure_cases["index"]
    if labels.isna().any():  # a failure no row can be blamed for (missing column, dtype…)
        raise err
    return pd.Index(labels.unique())


def _call_dropping_failures(
    func: Callable[[pd.DataFrame], pd.DataFrame], frame: pd.DataFrame, input_model: str
) -> pd.DataFrame:
    """Call a ``check_types`` function, dropping the rows that fail, as a user would.

    If the input fails, the failing rows are dropped and the function is called again (which
    validates the remaining rows again: that is the price of this pattern). If the output fails,
    the failing rows are dropped from the validated output carried by the error.
    """
    for attempt in range(2):
        try:
            return func(frame)
        except SchemaErrors as err:
            if err.schema is None or err.schema.name != input_model:
                return err.data.drop(index=_failing_index(err))
            if attempt:
                raise
            frame = frame.drop(index=_failing_index(err))
    raise AssertionError("unreachable")


def run_pandera(transactions: pd.DataFrame) -> pd.DataFrame:
    """Run the computation through pandera ``check_types(lazy=True)`` functions."""
    features = _call_dropping_failures(pandera_add_features, transactions, "Transactions")
    return _call_dropping_failures(pandera_score, features, "Features")


# --------------------------------------------------------------------------------------------
# (d) the sdk pipeline (DESIGN.md, verbatim)
# --------------------------------------------------------------------------------------------

# Without an importable sdk the other variants still run; the sdk variant then reports why.
SDK_IMPORT_ERROR: ImportError | None = None
try:
    from sdk import Params, Pipeline, Step
except ImportError as exc:
    SDK_IMPORT_ERROR = exc
    pipeline = None
else:

    class AddFeatures(Step):
        """Per-customer aggregates."""

        output = "features"
        partition_by = "customer_id"  # correct on any partitioning by this key

        def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Features]:
            g = transactions.groupby("customer_id")["amount"]
            return transactions.assign(mean_amount=g.transform("mean"), n_tx=g.transform("size"))

    class Score(Step):
        """Logistic score of the amount."""

        output = "scored"
        scope = "rows"  # each row independent: any chunking is correct

        class Params(Params):
            weight: float = 0.5
            bias: float = 0.0

        def run(self, features: DataFrame[Features]) -> DataFrame[Scored]:
            z = self.params.weight * np.log1p(features["amount"]) + self.params.bias
            self.log.info("scored", extra={"mean_z": float(z.mean())})
            return features.assign(score=1 / (1 + np.exp(-z)))

    pipeline = Pipeline([AddFeatures(), Score(weight=WEIGHT)], name="fraud")


def run_sdk(transactions: pd.DataFrame) -> pd.DataFrame:
    """Run the sdk pipeline with the local runner, quarantining bad rows instead of failing.

    Raises:
        RuntimeError: If the ``sdk`` package is not installed.
    """
    if pipeline is None:
        raise RuntimeError(
            f"the sdk variant needs the 'sdk' package ({SDK_IMPORT_ERROR}): pip install -e ."
        ) from SDK_IMPORT_ERROR
    result = pipeline.run(transactions=transactions, max_invalid=1.0)
    return cast(pd.DataFrame, result.outputs["scored"])


VARIANTS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "plain": run_plain,
    "floor": run_floor,
    "pandera": run_pandera,
    "sdk": run_sdk,
}
"""The benchmarked variants by name, in report order."""
