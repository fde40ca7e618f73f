"""Fitted models in steps: loading and saving them, seeding their randomness, fitting shared ones.

A training step returns ``sdk.Artifact[T]`` and a scoring step takes one as a parameter; the
runner saves and loads it (``--output name=path.skops``, ``--input name=path.skops``). So a step
that unpickles a model itself (SDK103), draws from an estimator's unseeded random state (SDK104),
or fits an estimator that outlives the run (SDK106) breaks the same promises as other code does.
:mod:`sdk.policy.calls` classifies calls with :func:`model_finding`; :mod:`sdk.policy.checker`
uses :func:`fit_message` and :func:`artifact_inputs`.
"""

from __future__ import annotations

import ast
from typing import NamedTuple

__all__ = [
    "FIT_METHODS",
    "SKLEARN_RANDOM",
    "When",
    "artifact_inputs",
    "built_class",
    "fit_message",
    "model_finding",
]

LOAD_FIX = (
    "declare the model as an input annotated sdk.Artifact[T] and let the runner load it "
    "(--input name=path.skops)"
)
SAVE_FIX = (
    "return the model as sdk.Artifact[T] and let the runner save it (--output name=path.skops)"
)
PICKLERS = frozenset({"pickle", "_pickle", "dill", "cloudpickle", "joblib"})
_LOADS = frozenset({"load", "loads", "Unpickler"})
_DUMPS = frozenset({"dump", "dumps", "Pickler"})
_NUMPY_ALLOW_PICKLE_POSITION = 2  # numpy.load(file, mmap_mode, allow_pickle, ...)

FIT_METHODS = frozenset({"fit", "partial_fit", "fit_transform", "fit_predict", "fit_resample"})
"""Methods that change an estimator in place: its fitted state is what they leave behind."""


class When(NamedTuple):
    """When a scikit-learn callable draws random numbers although it is not always random:
    ``keyword`` given one of the literal ``values`` (or left out, when ``by_default``)."""

    keyword: str
    values: tuple[object, ...]
    by_default: bool = False


SKLEARN_RANDOM: dict[str, When | None] = {
    **dict.fromkeys(
        (
            # model_selection: splitters and searches that always draw
            "ShuffleSplit",
            "StratifiedShuffleSplit",
            "GroupShuffleSplit",
            "RepeatedKFold",
            "RepeatedStratifiedKFold",
            "RandomizedSearchCV",
            "ParameterSampler",
            "permutation_test_score",
            # ensembles and trees (features are permuted at every split)
            "RandomForestClassifier",
            "RandomForestRegressor",
            "ExtraTreesClassifier",
            "ExtraTreesRegressor",
            "GradientBoostingClassifier",
            "GradientBoostingRegressor",
            "HistGradientBoostingClassifier",
            "HistGradientBoostingRegressor",
            "BaggingClassifier",
            "BaggingRegressor",
            "AdaBoostClassifier",
            "AdaBoostRegressor",
            "IsolationForest",
            "RandomTreesEmbedding",
            "DecisionTreeClassifier",
            "DecisionTreeRegressor",
            "ExtraTreeClassifier",
            "ExtraTreeRegressor",
            # clustering and mixtures: random initialisation
            "KMeans",
            "MiniBatchKMeans",
            "BisectingKMeans",
            "SpectralClustering",
            "GaussianMixture",
            "BayesianGaussianMixture",
            # stochastic solvers
            "SGDClassifier",
            "SGDRegressor",
            "Perceptron",
            "PassiveAggressiveClassifier",
            "PassiveAggressiveRegressor",
            "RANSACRegressor",
            "MLPClassifier",
            "MLPRegressor",
            "BernoulliRBM",
            # randomised decompositions, embeddings and projections
            "TruncatedSVD",
            "FastICA",
            "LatentDirichletAllocation",
            "MiniBatchDictionaryLearning",
            "TSNE",
            "GaussianRandomProjection",
            "SparseRandomProjection",
            "RBFSampler",
            "Nystroem",
            # functions
            "permutation_importance",
            "mutual_info_classif",
            "mutual_info_regression",
            "resample",
            "shuffle",
        ),
        None,
    ),
    "train_test_split": When("shuffle", (True,), by_default=True),
    **dict.fromkeys(
        ("KFold", "StratifiedKFold", "GroupKFold", "learning_curve"), When("shuffle", (True,))
    ),
    **dict.fromkeys(
        ("LogisticRegression", "LogisticRegressionCV"),
        When("solver", ("sag", "saga", "liblinear")),
    ),
    **dict.fromkeys(("Ridge", "RidgeClassifier"), When("solver", ("sag", "saga"))),
    **dict.fromkeys(
        (
            "Lasso",
            "ElasticNet",
            "LassoCV",
            "ElasticNetCV",
            "MultiTaskLasso",
            "MultiTaskElasticNet",
            "MultiTaskLassoCV",
            "MultiTaskElasticNetCV",
        ),
        When("selection", ("random",)),
    ),
    "PCA": When("svd_solver", ("randomized", "arpack")),
    "KernelPCA": When("eigen_solver", ("randomized", "arpack")),
    "DummyClassifier": When("strategy", ("stratified", "uniform")),
}
"""scikit-learn callables (by name, in any ``sklearn`` module) whose result depends on
``random_state``: ``None`` when they always draw, else :class:`When` they do. Every
``sklearn.datasets.make_*`` draws too. A conservative list: estimators that are deterministic by
default (``LinearRegression``, ``LogisticRegression()`` with its default solver, ``KFold()``
without shuffling) are not in it, and neither are those whose randomness depends on the data
(``PCA(svd_solver="auto")``). ``random_state`` is keyword-only in each (a test checks it)."""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_none(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _unseeded(q: str, call: ast.Call) -> str | None:
    """How ``call`` of a scikit-learn callable ``q`` shows without a seed, if it draws one."""
    parts = q.split(".")
    name = parts[-1]
    if name.startswith("make_") and "datasets" in parts:
        when: When | None = None
    elif name in SKLEARN_RANDOM:
        when = SKLEARN_RANDOM[name]
    else:
        return None
    seed = _keyword(call, "random_state")
    if (seed is not None and not _is_none(seed)) or any(k.arg is None for k in call.keywords):
        return None  # seeded, or **options that may hold the seed
    if any(isinstance(a, ast.Starred) for a in call.args):
        return None
    if when is None:
        return f"{q}()"
    given = _keyword(call, when.keyword)
    if given is None:
        return f"{q}()" if when.by_default else None
    if not isinstance(given, ast.Constant) or given.value not in when.values:
        return None  # another literal, or chosen at run time
    return f"{q}({when.keyword}={given.value!r})"


def _allows_pickle(call: ast.Call) -> bool:
    value = _keyword(call, "allow_pickle")
    if value is None and len(call.args) > _NUMPY_ALLOW_PICKLE_POSITION:
        value = call.args[_NUMPY_ALLOW_PICKLE_POSITION]
    return value is not None and not (isinstance(value, ast.Constant) and value.value is False)


def model_finding(q: str, call: ast.Call) -> tuple[str, str] | None:
    """The rule a call of the dotted path ``q`` breaks as a model load or save, a dataset read
    by a modelling library, or an unseeded draw of a scikit-learn estimator or splitter."""
    parts = q.split(".")
    top, last = parts[0], parts[-1]
    if top in PICKLERS and last in _LOADS:
        return "SDK103", f"{q}() unpickles an object, which can run any code; {LOAD_FIX}"
    if top in PICKLERS and last in _DUMPS:
        return "SDK103", f"{q}() pickles an object inside the step; {SAVE_FIX}"
    if q == "pandas.read_pickle":
        return "SDK103", (
            f"{q}() unpickles a file, which can run any code; declare what it holds as an input "
            "(a table: DataFrame[Model]; a model: sdk.Artifact[T]) and let the runner load it "
            "(--input name=path.parquet, --input name=path.skops)"
        )
    if q == "numpy.load" and _allows_pickle(call):
        return "SDK103", f"{q}(allow_pickle=...) can unpickle objects from the file; {LOAD_FIX}"
    if top == "skops" and last in ("load", "loads"):
        return "SDK103", f"{q}() loads a model inside the step; {LOAD_FIX}"
    if top == "skops" and last == "dump":
        return "SDK101", f"{q}() writes a model file; {SAVE_FIX}"
    if top == "statsmodels" and "datasets" in parts:
        if last in ("load", "load_pandas", "get_rdataset", "webuse"):
            return "SDK101", f"{q}() reads a dataset from a file or the network"
    elif top == "statsmodels" and last in ("load", "load_pickle"):
        return "SDK103", f"{q}() unpickles a model, which can run any code; {LOAD_FIX}"
    if top == "sklearn" and (
        last.startswith(("load_", "fetch_", "dump_")) or last.endswith("_data_home")
    ):
        return "SDK101", f"{q}() reads or writes dataset files (or downloads them)"
    if top == "sklearn" and (shown := _unseeded(q, call)):
        return "SDK104", (
            f"{shown} without random_state gives a different result on every run; pass "
            f"random_state=self.params.seed (a param of the step)"
        )
    return None


def built_class(value: ast.expr | None) -> str | None:
    """The class a module- or class-level value is built from: ``LinearRegression`` for
    ``lm.LinearRegression(...)``; ``None`` when it is not a call of a capitalised name."""
    if not isinstance(value, ast.Call):
        return None
    func = value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name if name[:1].isupper() else None


def _artifact_type(annotation: ast.expr | None) -> str | None:
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return None
    if not isinstance(annotation, ast.Subscript):
        return None
    base = annotation.value
    name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
    return ast.unparse(annotation.slice) if name == "Artifact" else None


def artifact_inputs(func: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, str]:
    """The parameters of ``func`` annotated ``Artifact[T]`` (name -> ``T``) that its body never
    rebinds: the runner hands the same object to every unit, so changing one changes it for all.
    """
    args = func.args
    found = {
        a.arg: kind
        for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)
        if (kind := _artifact_type(a.annotation)) is not None
    }
    rebound = {
        n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    return {name: kind for name, kind in found.items() if name not in rebound}


def fit_message(expr: str, attr: str, where: str, kind: str | None) -> str:
    """What ``expr.attr(...)`` (``attr`` in :data:`FIT_METHODS`) does to an estimator kept
    ``where`` (``module``, ``class``, ``default`` or ``input``), and the fix."""
    artifact = f"sdk.Artifact[{kind or 'T'}]"
    if where == "input":
        return (
            f"{expr}.{attr}() changes the input artifact {expr}, the same object in every unit; "
            f"fit a copy (model = sklearn.base.clone({expr})) and return it as {artifact}"
        )
    kept = {"module": "at module level", "default": "in a default argument"}.get(
        where, "as a class attribute"
    )
    create = f" (model = {kind}())" if kind else ""
    return (
        f"{expr}.{attr}() fits {expr}, an estimator kept {kept}, so its fitted state leaks into "
        f"later runs; create the estimator inside run(){create} and return it as {artifact}"
    )
