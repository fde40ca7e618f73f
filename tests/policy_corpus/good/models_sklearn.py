"""Data-science steps that train, evaluate and score the way the policy allows: estimators created
inside run(), seeds from params, models in and out as sdk.Artifact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import scipy.stats
import sklearn.linear_model as lm
import statsmodels.api as sm
import statsmodels.formula.api as smf
from pandera.typing import DataFrame
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sdk
from sdk import Artifact, Metrics, Params, Step

BASELINE = LinearRegression()
"""A module-level template: cloned, never fitted in place."""


class Houses(pa.DataFrameModel):
    """A house."""

    area: float
    price: float


class Priced(Houses):
    """A priced house."""

    predicted: float


class Train(Step):
    """Fits a model on the whole training set."""

    output = "regressor"

    class Params(Params):
        """Seed and split."""

        seed: int = 7
        test_size: float = 0.2
        shuffle: bool = True

    def run(self, houses: DataFrame[Houses]) -> Artifact[LinearRegression]:
        """Split with a seed, fit a local estimator, return it."""
        train, _ = train_test_split(
            houses, test_size=self.params.test_size, random_state=self.params.seed
        )
        ordered, _ = train_test_split(houses, shuffle=False)
        chosen, _ = train_test_split(houses, shuffle=self.params.shuffle)
        model = LinearRegression()
        model.fit(train[["area"]], train["price"])
        forest = RandomForestRegressor(n_estimators=10, random_state=self.params.seed)
        forest.fit(train[["area"]], train["price"])
        pipe = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        pipe.fit(train[["area"]], train["price"])
        scaled = StandardScaler().fit_transform(train[["area"]])
        folds = KFold(n_splits=5)
        seeded_folds = KFold(n_splits=5, shuffle=True, random_state=self.params.seed)
        scores = cross_val_score(model, houses[["area"]], houses["price"], cv=folds)
        search = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=seeded_folds)
        search.fit(houses[["area"]], houses["price"])
        logit = LogisticRegression(max_iter=200)
        logit_seeded = LogisticRegression(solver="saga", random_state=self.params.seed)
        pca = PCA(n_components=1)
        kmeans = KMeans(n_clusters=2, random_state=self.params.seed, n_init=10)
        forest_opts = RandomForestRegressor(**{"random_state": self.params.seed})
        template = clone(BASELINE)
        template.fit(houses[["area"]], houses["price"])
        rng = np.random.default_rng(self.params.seed)
        draws = scipy.stats.norm.rvs(size=3, random_state=rng)
        ols = sm.OLS(houses["price"], sm.add_constant(houses["area"])).fit()
        formula = smf.ols("price ~ area", data=houses).fit()
        self.log.info("trained", extra={"n": [len(ordered), len(chosen), float(scaled.sum()),
                                                float(scores.mean()), float(draws.sum())],
                                        "objs": [logit, logit_seeded, pca, kmeans, forest_opts,
                                                 ols.params.tolist(), formula.rsquared]})
        return model


class Score(Step):
    """Scores rows with a model trained by another step or run."""

    output = "priced"
    scope = "rows"

    def run(
        self, houses: DataFrame[Houses], regressor: Artifact[LinearRegression]
    ) -> DataFrame[Priced]:
        """Predict with the model the runner loaded."""
        predicted = regressor.predict(houses[["area"]])
        return houses.assign(predicted=predicted)


class Refit(Step):
    """Refits a copy of an input model: the input itself is left untouched."""

    output = "refitted"

    def run(
        self, houses: DataFrame[Houses], regressor: sdk.Artifact[lm.LinearRegression]
    ) -> "Artifact[lm.LinearRegression]":
        """Clone, then fit the copy."""
        regressor = clone(regressor)
        regressor.fit(houses[["area"]], houses["price"])
        return regressor


class Evaluate(Step):
    """Computes metrics of an input model."""

    output = "metrics"

    def run(self, houses: DataFrame[Houses], regressor: Artifact[LinearRegression]) -> Metrics:
        """Mean absolute error and R²."""
        predicted = regressor.predict(houses[["area"]])
        return {
            "mae": float(mean_absolute_error(houses["price"], predicted)),
            "r2": float(r2_score(houses["price"], predicted)),
        }


class InstanceModel(Step):
    """Keeps its estimator on the instance, built in __init__ (instance state is allowed)."""

    output = "instance_model"
    model = None

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.model = LinearRegression()

    def run(self, houses: DataFrame[Houses]) -> Artifact[LinearRegression]:
        """Fit the instance's estimator."""
        self.model.fit(houses[["area"]], houses["price"])
        return pd.Series([self.model]).iloc[0]
