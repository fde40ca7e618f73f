"""Steps that run code built at run time or unpickle objects."""

from __future__ import annotations

import builtins  # expect: SDK107
import importlib  # expect: SDK107
import importlib.util  # expect: SDK107
import marshal  # expect: SDK107
import pickle  # expect: SDK107
import pickle as pkl  # expect: SDK107
import shelve  # expect: SDK107
from importlib import import_module  # expect: SDK107
from pickle import loads as unpickle  # expect: SDK107

import dill  # expect: SDK107
import joblib  # expect: SDK107

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step


class Loans(pa.DataFrameModel):
    """A loan."""

    principal: float
    rate: float


class FormulaScore(Step):
    """Scores with a formula given as text in the params."""

    class Params(Params):
        """A formula and a pickled model."""

        formula: str = "principal * rate"
        model_blob: bytes = b""
        plugin: str = "json"

    def run(self, loans: DataFrame[Loans]) -> DataFrame[Loans]:
        """Evaluate and unpickle."""
        score = eval(self.params.formula, {}, {"principal": loans["principal"]})  # expect: SDK103
        exec("bonus = 1.0")  # expect: SDK103
        code = compile(self.params.formula, "<formula>", "eval")  # expect: SDK103
        mod = __import__(self.params.plugin)  # expect: SDK103
        mod2 = importlib.import_module(self.params.plugin)  # expect: SDK103
        mod3 = import_module("json")  # expect: SDK103
        spec = importlib.util.spec_from_file_location("m", "m.py")  # expect: SDK103
        model = pickle.loads(self.params.model_blob)  # expect: SDK103
        with open("model.pkl", "rb") as fh:  # expect: SDK101
            model2 = pickle.load(fh)  # expect: SDK103
        model3 = pkl.loads(self.params.model_blob)  # expect: SDK103
        model4 = unpickle(self.params.model_blob)  # expect: SDK103
        fn = marshal.loads(self.params.model_blob)  # expect: SDK103
        db = shelve.open("cache")  # expect: SDK103|SDK101
        model5 = dill.loads(self.params.model_blob)  # expect: SDK103
        model6 = joblib.load("model.joblib")  # expect: SDK103|SDK101 beyond-docs
        ev = builtins.eval("1 + 1")  # expect: SDK103
        self.log.info("loaded", extra={"objs": [code, mod, mod2, mod3, spec, model, model2, model3,
                                                model4, fn, db, model5, model6, ev]})
        return loans.assign(rate=score)


class LambdaExec(Step):
    """Dynamic code hidden in a lambda and an f-string."""

    def run(self, loans: DataFrame[Loans]) -> DataFrame[Loans]:
        """Apply per-row expressions."""
        out = loans.apply(lambda r: eval(f"{r['principal']} * 2"), axis=1)  # expect: SDK103
        return pd.DataFrame(loans).assign(principal=out)
