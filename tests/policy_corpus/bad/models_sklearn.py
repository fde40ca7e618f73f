"""Data-science steps that load pickled models, draw unseeded, or fit estimators that outlive a run."""

from __future__ import annotations

import pickle  # expect: SDK107
from typing import ClassVar

import joblib  # expect: SDK107
import numpy as np
import pandas as pd
import pandera.pandas as pa
import statsmodels.api as sm
from pandera.typing import DataFrame
from sklearn import datasets
from sklearn.cluster import KMeans
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, SGDRegressor
from sklearn.model_selection import KFold, ShuffleSplit, train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.utils import resample

import sklearn
from sdk import Artifact, Params, Step
from skops import io as skio  # expect: SDK107

MODEL = LinearRegression()
SCALER = StandardScaler()
MODELS = {"a": LinearRegression()}


class Houses(pa.DataFrameModel):
    """A house."""

    area: float
    price: float


class Priced(Houses):
    """A priced house."""

    predicted: float


class LoadsItsOwnModel(Step):
    """Scores with a model it unpickles itself."""

    output = "priced"

    class Params(Params):
        """Where the model is, as a blob or a path."""

        blob: bytes = b""
        path: str = "model.pkl"

    def run(self, houses: DataFrame[Houses]) -> DataFrame[Priced]:
        """Load, then predict."""
        m1 = pickle.loads(self.params.blob)  # expect: SDK103
        m2 = joblib.load(self.params.path)  # expect: SDK103
        m3 = pd.read_pickle(self.params.path)  # expect: SDK103|SDK101
        m4 = np.load(self.params.path, allow_pickle=True)  # expect: SDK103|SDK101
        m5 = np.load(self.params.path, None, True)  # expect: SDK103|SDK101
        m6 = skio.load(self.params.path, trusted=["sklearn.linear_model.LinearRegression"])  # expect: SDK103|SDK101
        m7 = sm.load(self.params.path)  # expect: SDK103
        import cloudpickle  # expect: SDK103
        m8 = cloudpickle.loads(self.params.blob)  # expect: SDK103
        joblib.dump(m1, "copy.joblib")  # expect: SDK103|SDK101
        models = [m1, m2, m3, m4, m5, m6, m7, m8]
        return houses.assign(predicted=models[0].predict(houses[["area"]]))


class UnseededTraining(Step):
    """Splits and fits without a seed."""

    output = "model"

    def run(self, houses: DataFrame[Houses]) -> Artifact[RandomForestRegressor]:
        """Split, search folds, fit."""
        train, test = train_test_split(houses, test_size=0.2)  # expect: SDK104
        folds = KFold(n_splits=5, shuffle=True)  # expect: SDK104
        splits = ShuffleSplit(n_splits=3)  # expect: SDK104
        boot = resample(houses)  # expect: SDK104
        forest = RandomForestRegressor(n_estimators=10)  # expect: SDK104
        boosted = GradientBoostingRegressor(random_state=None)  # expect: SDK104
        clusters = KMeans(n_clusters=3)  # expect: SDK104
        sgd = SGDRegressor()  # expect: SDK104
        mlp = MLPRegressor(hidden_layer_sizes=(4,))  # expect: SDK104
        logit = LogisticRegression(solver="saga")  # expect: SDK104
        synthetic = datasets.make_regression(n_samples=10)  # expect: SDK104
        iris = datasets.load_iris()  # expect: SDK101
        remote = datasets.fetch_openml("house_prices")  # expect: SDK101
        rdata = sm.datasets.get_rdataset("Guerry", "HistData")  # expect: SDK101
        sklearn.set_config(assume_finite=True)  # expect: SDK106
        self.log.info("split", extra={"n": [len(train), len(test), len(boot)],
                                      "objs": [folds, splits, boosted, clusters, sgd, mlp, logit,
                                               synthetic, iris, remote, rdata]})
        return forest.fit(train[["area"]], train["price"])


class FitsSharedEstimators(Step):
    """Fits estimators kept at module level, on the class, or handed in as an artifact."""

    output = "fitted"
    model = LinearRegression()
    scaler: ClassVar[StandardScaler] = StandardScaler()

    def run(
        self, houses: DataFrame[Houses], regressor: Artifact[LinearRegression]
    ) -> Artifact[LinearRegression]:
        """Fit what should have been created here."""
        x, y = houses[["area"]], houses["price"]
        MODEL.fit(x, y)  # expect: SDK106
        SCALER.fit_transform(x)  # expect: SDK106
        MODELS["a"].fit(x, y)  # expect: SDK106
        self.model.fit(x, y)  # expect: SDK106
        self.scaler.partial_fit(x)  # expect: SDK106
        type(self).model.fit(x, y)  # expect: SDK106
        self.__class__.model.fit(x, y)  # expect: SDK106
        FitsSharedEstimators.model.fit(x, y)  # expect: SDK106
        regressor.fit(x, y)  # expect: SDK106
        regressor.coef_ = np.zeros(1)  # expect: SDK106
        MODEL.fit(x, y).predict(x)  # expect: SDK106
        return refit_default(x, y)


def refit_default(x: pd.DataFrame, y: pd.Series, model=LinearRegression()) -> LinearRegression:
    """A helper whose default estimator is built once and shared by every call."""
    return model.fit(x, y)  # expect: SDK106


class Clusters(Step):
    """Partial fits a shared clusterer in a helper method."""

    output = "clusters"
    clusterer = KMeans(n_clusters=2, random_state=0)

    def run(self, houses: DataFrame[Houses]) -> Artifact[KMeans]:
        """Fit the class-level clusterer."""
        return self.update(houses)

    def update(self, houses: pd.DataFrame) -> KMeans:
        """Update in place."""
        return self.clusterer.fit(houses[["area"]])  # expect: SDK106
