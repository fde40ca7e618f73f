"""The spaceflights example: train, evaluate and score a price model with the same contracts.

A rewrite with the SDK of the public Kedro "spaceflights" starter: raw companies, shuttles and
reviews are cleaned, joined into a model input table, split (seeded), a ``LinearRegression``
is fitted on the training rows and evaluated (R², MAE, max error) on the test rows. A second
pipeline scores new shuttles with the fitted model, in another run, from its ``.skops`` file.

In a notebook::

    from examples.spaceflights.pipeline import training, scoring
    trained = training.run(companies=..., shuttles=..., reviews=...)
    trained.metrics, trained.outputs["regressor"]
    scored = scoring.run(new_shuttles=..., companies=..., reviews=...,
                         regressor=trained.outputs["regressor"])

In production: ``sdk run examples/spaceflights/train.toml``, then
``sdk run examples/spaceflights/score.toml``.
"""

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame
from sklearn.linear_model import LinearRegression
from sklearn.metrics import max_error, mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split

from sdk import Artifact, Metrics, Params, Pipeline, Step

FEATURES = [
    "engines",
    "passenger_capacity",
    "crew",
    "d_check_complete",
    "moon_clearance_complete",
    "iata_approved",
    "company_rating",
    "review_scores_rating",
]
"""The columns the price model is fitted on (and must be given to score)."""


class CompaniesRaw(pa.DataFrameModel):
    """A shuttle company as listed: rating as a percentage, IATA approval as ``t``/``f``."""

    id: int = pa.Field(ge=1)
    company_rating: str = pa.Field(str_matches=r"^\d{1,3}%$")
    iata_approved: str = pa.Field(isin=["t", "f"])

    class Config:
        coerce = True


class Companies(pa.DataFrameModel):
    """A company, cleaned: rating as a fraction, approval as a boolean."""

    id: int = pa.Field(ge=1)
    company_rating: float = pa.Field(ge=0, le=1)
    iata_approved: bool


class NewShuttlesRaw(pa.DataFrameModel):
    """A shuttle as listed, without a price (to be priced by the model)."""

    id: int = pa.Field(ge=1)
    company_id: int = pa.Field(ge=1)
    engines: int = pa.Field(ge=0)
    passenger_capacity: int = pa.Field(ge=1)
    crew: int = pa.Field(ge=0)
    d_check_complete: str = pa.Field(isin=["t", "f"])
    moon_clearance_complete: str = pa.Field(isin=["t", "f"])

    class Config:
        coerce = True


class ShuttlesRaw(NewShuttlesRaw):
    """A shuttle as listed with its price, e.g. ``"$1,325.0"``."""

    price: str = pa.Field(str_matches=r"^\$[\d,]+(\.\d+)?$")


class NewShuttles(pa.DataFrameModel):
    """A shuttle, cleaned: flags as booleans."""

    id: int = pa.Field(ge=1)
    company_id: int = pa.Field(ge=1)
    engines: int = pa.Field(ge=0)
    passenger_capacity: int = pa.Field(ge=1)
    crew: int = pa.Field(ge=0)
    d_check_complete: bool
    moon_clearance_complete: bool


class Shuttles(NewShuttles):
    """A shuttle, cleaned, with its price as a number."""

    price: float = pa.Field(ge=0)


class Reviews(pa.DataFrameModel):
    """The review score of a shuttle (0-100)."""

    shuttle_id: int = pa.Field(ge=1)
    review_scores_rating: float = pa.Field(ge=0, le=100)

    class Config:
        coerce = True


class Features(pa.DataFrameModel):
    """A shuttle with every feature of the price model (none missing)."""

    id: int = pa.Field(ge=1)
    engines: int = pa.Field(ge=0)
    passenger_capacity: int = pa.Field(ge=1)
    crew: int = pa.Field(ge=0)
    d_check_complete: bool
    moon_clearance_complete: bool
    iata_approved: bool
    company_rating: float = pa.Field(ge=0, le=1)
    review_scores_rating: float = pa.Field(ge=0, le=100)


class ModelInput(Features):
    """A row of the model input table: the features and the price to learn."""

    price: float = pa.Field(ge=0)


class SplitRows(ModelInput):
    """The model input table with each row's side of the seeded train/test split."""

    split: str = pa.Field(isin=["train", "test"])


class Scored(Features):
    """A new shuttle with its predicted price."""

    predicted_price: float


def _flag(column: pd.Series) -> pd.Series:
    return column == "t"


class PreprocessCompanies(Step):
    """Turn ratings like ``"90%"`` into 0.9 and ``t``/``f`` approvals into booleans."""

    scope = "rows"
    output = "clean_companies"

    def run(self, companies: DataFrame[CompaniesRaw]) -> DataFrame[Companies]:
        rating = companies["company_rating"].str.rstrip("%").astype(float) / 100
        return companies.assign(
            company_rating=rating, iata_approved=_flag(companies["iata_approved"])
        )[["id", "company_rating", "iata_approved"]]


class PreprocessNewShuttles(Step):
    """Turn the ``t``/``f`` flags of unpriced shuttles into booleans."""

    scope = "rows"
    output = "clean_new_shuttles"

    def run(self, new_shuttles: DataFrame[NewShuttlesRaw]) -> DataFrame[NewShuttles]:
        return new_shuttles.assign(
            d_check_complete=_flag(new_shuttles["d_check_complete"]),
            moon_clearance_complete=_flag(new_shuttles["moon_clearance_complete"]),
        )


class PreprocessShuttles(Step):
    """Turn the flags into booleans and prices like ``"$1,325.0"`` into numbers."""

    scope = "rows"
    output = "clean_shuttles"

    def run(self, shuttles: DataFrame[ShuttlesRaw]) -> DataFrame[Shuttles]:
        price = shuttles["price"].str.replace(r"[$,]", "", regex=True).astype(float)
        return shuttles.assign(
            d_check_complete=_flag(shuttles["d_check_complete"]),
            moon_clearance_complete=_flag(shuttles["moon_clearance_complete"]),
            price=price,
        )


def _join(shuttles: pd.DataFrame, companies: pd.DataFrame, reviews: pd.DataFrame) -> pd.DataFrame:
    """Each shuttle with its company's and its reviews' columns (left joins: a shuttle without
    a company or a review keeps its row, with missing values the output model quarantines)."""
    table = shuttles.merge(
        companies.rename(columns={"id": "company_id"}), on="company_id", how="left"
    )
    table = table.merge(reviews.rename(columns={"shuttle_id": "id"}), on="id", how="left")
    return table.drop(columns="company_id")


class FeaturesTable(Step):
    """Join new shuttles with their companies and reviews: the features to score."""

    output = "features"

    def run(
        self,
        clean_new_shuttles: DataFrame[NewShuttles],
        clean_companies: DataFrame[Companies],
        reviews: DataFrame[Reviews],
    ) -> DataFrame[Features]:
        return _join(clean_new_shuttles, clean_companies, reviews)


class ModelInputTable(Step):
    """Join shuttles with their companies and reviews: the table the model learns from."""

    output = "model_input"

    def run(
        self,
        clean_shuttles: DataFrame[Shuttles],
        clean_companies: DataFrame[Companies],
        reviews: DataFrame[Reviews],
    ) -> DataFrame[ModelInput]:
        return _join(clean_shuttles, clean_companies, reviews)


class SplitData(Step):
    """Mark each row ``train`` or ``test`` with a seeded split of the table."""

    output = "split_rows"

    class Params(Params):
        test_size: float = 0.2
        seed: int = 3

    def run(self, model_input: DataFrame[ModelInput]) -> DataFrame[SplitRows]:
        positions = np.arange(len(model_input))
        _, test = train_test_split(
            positions, test_size=self.params.test_size, random_state=self.params.seed
        )
        split = np.full(len(model_input), "train", dtype=object)
        split[test] = "test"
        return model_input.assign(split=split)


class TrainModel(Step):
    """Fit a linear regression of the price on the features, on the training rows."""

    output = "regressor"

    def run(self, split_rows: DataFrame[SplitRows]) -> Artifact[LinearRegression]:
        train = split_rows[split_rows["split"] == "train"]
        return LinearRegression().fit(train[FEATURES], train["price"])


class EvaluateModel(Step):
    """R², mean absolute error and max error of the regressor on the test rows."""

    output = "metrics"

    def run(
        self, split_rows: DataFrame[SplitRows], regressor: Artifact[LinearRegression]
    ) -> Metrics:
        test = split_rows[split_rows["split"] == "test"]
        predicted = regressor.predict(test[FEATURES])
        return {
            "r2": r2_score(test["price"], predicted),
            "mae": mean_absolute_error(test["price"], predicted),
            "max_error": max_error(test["price"], predicted),
        }


class ScoreShuttles(Step):
    """Predict each new shuttle's price with the fitted regressor."""

    scope = "rows"
    output = "scored"

    def run(
        self, features: DataFrame[Features], regressor: Artifact[LinearRegression]
    ) -> DataFrame[Scored]:
        return features.assign(predicted_price=regressor.predict(features[FEATURES]))


training = Pipeline(
    [
        PreprocessCompanies(),
        PreprocessShuttles(),
        ModelInputTable(),
        SplitData(),
        TrainModel(),
        EvaluateModel(),
    ],
    name="spaceflights-training",
)
"""Raw companies, shuttles and reviews -> ``regressor`` (the model) and ``metrics``."""

scoring = Pipeline(
    [PreprocessCompanies(), PreprocessNewShuttles(), FeaturesTable(), ScoreShuttles()],
    name="spaceflights-scoring",
)
"""New shuttles (with companies and reviews) and a fitted ``regressor`` -> ``scored``."""

serving = Pipeline([ScoreShuttles()], name="spaceflights-serving")
"""Shuttles with their features and a fitted ``regressor`` -> ``scored``: one row at a time,
behind HTTP (``sdk run examples/spaceflights/serve.toml``, the sdk-serve plugin)."""
