"""An orders pipeline of the shape an analyst writes first, implemented four ways.

``UserTotals`` (``partition_by = "user_id"``) adds each user's spend and order count with a
groupby transform; ``Net`` (``scope = "rows"``) adds each order's net amount and its share of
the user's spend. The input model checks six columns: two integers with ranges (``quantity``
arrives as int32 and is coerced to int64), a float range, a string regex, a set (``isin``) and a
nullable float. Every variant takes the raw ``orders`` frame and returns the ``priced`` frame:

* ``plain``: the computation in plain pandas, no checks at all (the baseline).
* ``floor``: the computation plus exactly the models' coercion and checks, written by hand as
  vectorised pandas expressions once at each boundary that needs them, and the quarantine split:
  the failing rows are kept aside with the first check each failed (:func:`run_floor`).
* ``pandera``: the computation in ``pandera.check_types(lazy=True)`` functions; failing rows
  are dropped by ``err.failure_cases["index"]`` and the call retried, as a user would.
* ``sdk``: the pipeline below, run in-process with ``pipeline.run(orders=df, max_invalid=1.0)``.
"""

from typing import cast

import numpy as np
import pandas as pd
import pandera.pandas as pa
from fraud_bench import _call_dropping_failures
from pandera.typing import DataFrame

CHANNELS = ("web", "app", "store", "phone")
"""The valid sales channels."""

DEFECTS = (
    "user_id_negative",
    "quantity_zero",
    "price_missing",
    "sku_malformed",
    "channel_unknown",
    "discount_above_one",
)
"""The six kinds of bad row, in the order the generator assigns them."""

SUM_COLUMN = "net"
"""The output column whose sum tells whether two variants kept the same rows."""


class Orders(pa.DataFrameModel):
    """Raw orders."""

    user_id: int = pa.Field(ge=0)
    quantity: int = pa.Field(ge=1, le=1_000)
    price: float = pa.Field(ge=0, le=100_000)
    sku: str = pa.Field(str_matches=r"^[A-Z]{3}-[0-9]{4}$")
    channel: str = pa.Field(isin=list(CHANNELS))
    discount: float = pa.Field(ge=0, le=1, nullable=True)

    class Config:
        """Coerce columns to the declared types."""

        coerce = True


class Totals(Orders):
    """Orders with the user's spend and order count."""

    user_spend: float = pa.Field(ge=0)
    user_orders: int = pa.Field(ge=1)


class Priced(Totals):
    """Totals with each order's net amount and share of the user's spend."""

    net: float = pa.Field(ge=0)
    share: float = pa.Field(ge=0, le=1)


def make_orders(n: int, bad_fraction: float = 0.0, seed: int = 20261130) -> pd.DataFrame:
    """Generate ``n`` orders deterministically, optionally with bad rows.

    The clean rows are the same for every ``bad_fraction``; bad rows are chosen at random and
    each gets one defect of :data:`DEFECTS`, in equal shares. About 80 % of the discounts are
    missing (allowed: the column is nullable).

    Returns:
        Columns ``user_id`` (int64), ``quantity`` (int32, coerced by the model), ``price``
        (float64), ``sku`` and ``channel`` (pandas' ``str``), ``discount`` (float64).
    """
    rng = np.random.default_rng(seed)
    user_id = rng.integers(0, max(n // 20, 1), size=n, dtype=np.int64)
    quantity = rng.integers(1, 20, size=n).astype(np.int32)
    price = np.round(np.minimum(rng.lognormal(3.0, 1.0, size=n), 100_000.0) + 0.01, 2)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    skus = np.array(
        ["".join(rng.choice(letters, 3)) + f"-{i:04d}" for i in range(2_000)] + ["abc-12"],
        dtype=object,
    )
    sku_code = rng.integers(0, len(skus) - 1, size=n)
    channels = np.array([*CHANNELS, "fax"], dtype=object)
    channel_code = rng.integers(0, len(CHANNELS), size=n)
    discount = np.where(rng.random(n) < 0.8, np.nan, np.round(rng.uniform(0, 0.5, n), 2))

    n_bad = round(n * bad_fraction)
    if n_bad:
        bad_rng = np.random.default_rng(seed + 1)
        rows = bad_rng.choice(n, size=n_bad, replace=False)
        kind = np.arange(n_bad) % len(DEFECTS)
        user_id[rows[kind == 0]] = -1 - user_id[rows[kind == 0]]
        quantity[rows[kind == 1]] = 0
        price[rows[kind == 2]] = np.nan
        sku_code[rows[kind == 3]] = len(skus) - 1
        channel_code[rows[kind == 4]] = len(CHANNELS)
        discount[rows[kind == 5]] = 1.5

    return pd.DataFrame(
        {
            "user_id": user_id,
            "quantity": quantity,
            "price": price,
            "sku": pd.Series(skus[sku_code], dtype="str"),
            "channel": pd.Series(channels[channel_code], dtype="str"),
            "discount": discount,
        }
    )


# --------------------------------------------------------------------------------------------
# The computation, shared by every variant
# --------------------------------------------------------------------------------------------


def add_totals(orders: pd.DataFrame) -> pd.DataFrame:
    """Add each user's spend and order count (the body of ``UserTotals.run``)."""
    g = (orders["quantity"] * orders["price"]).groupby(orders["user_id"])
    return orders.assign(user_spend=g.transform("sum"), user_orders=g.transform("size"))


def add_net(totals: pd.DataFrame) -> pd.DataFrame:
    """Add the net amount and the share of the user's spend (the body of ``Net.run``)."""
    net = totals["quantity"] * totals["price"] * (1 - totals["discount"].fillna(0.0))
    return totals.assign(net=net, share=net / totals["user_spend"])


def run_plain(orders: pd.DataFrame) -> pd.DataFrame:
    """Run the computation with no checks; bad rows flow through."""
    return add_net(add_totals(orders))


# --------------------------------------------------------------------------------------------
# The floor: coercion, checks and the quarantine split by hand
# --------------------------------------------------------------------------------------------
#
# At the input: int32 quantity cast to int64 (coerce=True), then one mask per check; a NaN
# fails every comparison, so a missing price fails its range (not-null for free), while the
# nullable discount passes when missing. At the output of UserTotals only the two new columns
# can be wrong; the input of Net is Totals again (already checked); at the output of Net only
# the two new columns. Failing rows are split off with the name of the first check they failed.


def _split(
    frame: pd.DataFrame, checks: dict[str, pd.Series], quarantine: list[pd.DataFrame]
) -> pd.DataFrame:
    """Return the rows passing every check; append the others, labelled, to ``quarantine``."""
    names = list(checks)
    masks = [m.to_numpy(dtype=bool) for m in checks.values()]
    ok = np.logical_and.reduce(masks)
    if ok.all():
        return frame
    bad = ~ok
    first = np.select([~m[bad] for m in masks], names, default="")
    quarantine.append(frame[bad].assign(check=first))
    return frame[ok]


def check_orders(frame: pd.DataFrame, quarantine: list[pd.DataFrame]) -> pd.DataFrame:
    """Coerce and check the Orders columns; return the passing rows."""
    if frame["quantity"].dtype != "int64":
        frame = frame.assign(quantity=frame["quantity"].astype("int64"))
    quantity, price, discount = frame["quantity"], frame["price"], frame["discount"]
    checks = {
        "user_id ge": frame["user_id"] >= 0,
        "quantity in_range": (quantity >= 1) & (quantity <= 1_000),
        "price in_range": (price >= 0) & (price <= 100_000),
        "sku str_matches": frame["sku"].str.match(r"^[A-Z]{3}-[0-9]{4}$", na=False),
        "channel isin": frame["channel"].isin(CHANNELS),
        "discount in_range": discount.isna() | ((discount >= 0) & (discount <= 1)),
    }
    return _split(frame, checks, quarantine)


def check_totals_added(frame: pd.DataFrame, quarantine: list[pd.DataFrame]) -> pd.DataFrame:
    """Check the two columns Totals adds; return the passing rows."""
    spend = frame["user_spend"]
    checks = {"user_spend ge": spend >= 0, "user_orders ge": frame["user_orders"] >= 1}
    return _split(frame, checks, quarantine)


def check_priced_added(frame: pd.DataFrame, quarantine: list[pd.DataFrame]) -> pd.DataFrame:
    """Check the two columns Priced adds; return the passing rows."""
    share = frame["share"]
    checks = {"net ge": frame["net"] >= 0, "share in_range": (share >= 0) & (share <= 1)}
    return _split(frame, checks, quarantine)


def run_floor(orders: pd.DataFrame) -> pd.DataFrame:
    """Run the computation with the models' coercion, checks and quarantine split by hand."""
    quarantine: list[pd.DataFrame] = []
    totals = check_totals_added(add_totals(check_orders(orders, quarantine)), quarantine)
    priced = check_priced_added(add_net(totals), quarantine)
    priced.attrs["quarantined"] = sum(map(len, quarantine))
    return priced


# --------------------------------------------------------------------------------------------
# pandera check_types
# --------------------------------------------------------------------------------------------


@pa.check_types(lazy=True)
def pandera_add_totals(orders: DataFrame[Orders]) -> DataFrame[Totals]:
    """``UserTotals`` as a pandera-checked function."""
    return add_totals(orders)  # type: ignore[return-value]


@pa.check_types(lazy=True)
def pandera_add_net(totals: DataFrame[Totals]) -> DataFrame[Priced]:
    """``Net`` as a pandera-checked function."""
    return add_net(totals)  # type: ignore[return-value]


def run_pandera(orders: pd.DataFrame) -> pd.DataFrame:
    """Run the computation through pandera ``check_types(lazy=True)`` functions."""
    totals = _call_dropping_failures(pandera_add_totals, orders, "Orders")
    return _call_dropping_failures(pandera_add_net, totals, "Totals")


# --------------------------------------------------------------------------------------------
# The sdk pipeline
# --------------------------------------------------------------------------------------------

try:
    from sdk import Pipeline, Step
except ImportError:  # the other variants still run
    pipeline = None
else:

    class UserTotals(Step):
        """Each user's spend and order count."""

        output = "totals"
        partition_by = "user_id"

        def run(self, orders: DataFrame[Orders]) -> DataFrame[Totals]:
            g = (orders["quantity"] * orders["price"]).groupby(orders["user_id"])
            return orders.assign(user_spend=g.transform("sum"), user_orders=g.transform("size"))

    class Net(Step):
        """Each order's net amount and its share of the user's spend."""

        output = "priced"
        scope = "rows"

        def run(self, totals: DataFrame[Totals]) -> DataFrame[Priced]:
            net = totals["quantity"] * totals["price"] * (1 - totals["discount"].fillna(0.0))
            return totals.assign(net=net, share=net / totals["user_spend"])

    pipeline = Pipeline([UserTotals(), Net()], name="orders")


def run_sdk(orders: pd.DataFrame) -> pd.DataFrame:
    """Run the sdk pipeline with the local runner, quarantining bad rows instead of failing."""
    if pipeline is None:
        raise RuntimeError("the sdk variant needs the 'sdk' package: pip install -e .")
    result = pipeline.run(orders=orders, max_invalid=1.0)
    out = cast(pd.DataFrame, result.outputs["priced"])
    out.attrs["quarantined"] = result.quarantined
    return out


VARIANTS = {"plain": run_plain, "floor": run_floor, "pandera": run_pandera, "sdk": run_sdk}
"""The benchmarked variants by name, in report order."""
