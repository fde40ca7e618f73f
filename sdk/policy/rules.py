"""The rules of the restricted-environment policy: ids, names, what each forbids and allows.

The tables of names below are what :mod:`sdk.policy.checker` matches calls and references
against; they are the one place to extend when a new library or construct must be covered
(except fitted models: pickled models, scikit-learn randomness and estimator fitting are in
:mod:`sdk.policy.estimators`).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

__all__ = ["DEFAULT_ALLOWED_IMPORTS", "RULES", "Rule", "top_module"]


@dataclass(frozen=True)
class Rule:
    """A policy rule: a stable id, a short name, what it forbids and what to do instead."""

    id: str
    name: str
    summary: str
    alternative: str
    is_default: bool = True


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "SDK100",
            "source-unavailable",
            "the source of a step cannot be read, so it cannot be checked",
            "define the step in a .py file or a notebook cell, not through exec() or a REPL",
        ),
        Rule(
            "SDK101",
            "io",
            "file, network, process or database I/O inside a step",
            "take data in through run()'s parameters and return the result; the runner reads "
            "and writes (--input/--output, [inputs]/[outputs] of the deployment file)",
        ),
        Rule(
            "SDK102",
            "print",
            "print()/input() or the standard streams inside a step",
            'log with self.log.info("event", extra={...}); take values from self.params',
        ),
        Rule(
            "SDK103",
            "dynamic-code",
            "eval/exec/compile/__import__/importlib, or unpickling or loading a model inside a "
            "step",
            "write the code out and import at module level; exchange data as DataFrames and "
            "models as sdk.Artifact[T]",
        ),
        Rule(
            "SDK104",
            "unseeded-random",
            "randomness from global state or without a seed",
            "np.random.default_rng(self.params.seed), df.sample(..., random_state="
            "self.params.seed), random.Random(self.params.seed), "
            "RandomForestRegressor(random_state=self.params.seed)",
        ),
        Rule(
            "SDK105",
            "wall-clock",
            "a wall-clock read inside a step",
            "pass the reference time as a param (self.params.as_of) or read it from a column",
        ),
        Rule(
            "SDK106",
            "global-state",
            "mutation of module globals, class attributes or input artifacts (fitting a shared "
            "estimator), global/nonlocal",
            "keep state in local variables and return it in the output frame (a fitted model: "
            "as sdk.Artifact[T])",
        ),
        Rule(
            "SDK107",
            "import",
            "an import outside the allow-list",
            "use an allowed module, or add it to allow_imports in [tool.sdk.policy]",
        ),
        Rule(
            "SDK108",
            "suppression-reason",
            "an inline suppression without a reason",
            "write the reason after it: # sdk: allow[SDK101] <why this is safe>",
        ),
        Rule(
            "SDK109",
            "broad-except",
            "a bare or broad except that swallows the error (opt-in rule)",
            "let the exception propagate; the SDK reports it as a StepError with context",
            is_default=False,
        ),
    )
}

DEFAULT_ALLOWED_IMPORTS: tuple[str, ...] = (
    "numpy",
    "pandas",
    "pandera",
    "scipy",
    "sklearn",
    "statsmodels",
    "math",
    "statistics",
    "re",
    "json",
    "datetime",
    "decimal",
    "fractions",
    "functools",
    "itertools",
    "operator",
    "collections",
    "typing",
    "dataclasses",
    "enum",
    "sdk",
    "__future__",
)

IO_MODULES = frozenset(
    {
        "os",
        "shutil",
        "subprocess",
        "socket",
        "urllib",
        "urllib3",
        "requests",
        "httpx",
        "aiohttp",
        "http",
        "ftplib",
        "smtplib",
        "sqlite3",
        "sqlalchemy",
        "psycopg",
        "psycopg2",
        "pymysql",
        "pyodbc",
        "tempfile",
        "glob",
        "io",
        "fileinput",
        "pathlib",
        "asyncio",
        "multiprocessing",
        "codecs",
        "duckdb",
        "fsspec",
        "s3fs",
        "gcsfs",
        "boto3",
        "botocore",
        "pymongo",
        "redis",
        "kafka",
        "paramiko",
        "webbrowser",
    }
)
PURE_IN_IO_MODULES = frozenset(
    {
        "io.StringIO",
        "io.BytesIO",
        "os.path.join",
        "os.path.basename",
        "os.path.dirname",
        "os.path.split",
        "os.path.splitext",
        "os.path.normpath",
        "os.path.normcase",
        "os.path.commonprefix",
        "os.path.isabs",
        "os.sep",
        "os.linesep",
        "os.pathsep",
        "os.extsep",
        "codecs.encode",
        "codecs.decode",
        "codecs.lookup",
    }
)
"""Names in I/O modules that touch nothing outside the process."""
DATA_LIBRARIES = frozenset({"pyarrow", "polars", "xarray", "h5py", "scipy", "netCDF4", "tables"})
"""Libraries whose ``read_*``/``write_*``/``load*``/``save*``/``open_*`` functions do file I/O."""
DATA_IO_PREFIXES = ("read_", "write_", "scan_", "sink_", "load", "save", "open_")
PANDAS_IO = frozenset({"HDFStore", "ExcelFile", "ExcelWriter", "read_pickle"})
SDK_IO_MODULES = frozenset({"io", "runners", "runs", "manifest", "deploy", "cli"})
"""Modules of ``sdk`` that read and write data: the runner's business, not a step's."""
LOG_HANDLERS = frozenset(
    {
        "FileHandler",
        "RotatingFileHandler",
        "TimedRotatingFileHandler",
        "WatchedFileHandler",
        "SocketHandler",
        "DatagramHandler",
        "SysLogHandler",
        "HTTPHandler",
        "SMTPHandler",
        "QueueHandler",
        "fileConfig",
        "dictConfig",
    }
)
RANDOM_MODULES = frozenset({"random", "secrets"})
UNSEEDED = frozenset({"uuid.uuid1", "uuid.uuid4", "os.urandom", "os.getrandom"})
GLOBAL_SETTERS = frozenset(
    {
        "pandas.set_option",
        "pandas.reset_option",
        "numpy.seterr",
        "numpy.set_printoptions",
        "numpy.seterrcall",
        "locale.setlocale",
        "warnings.filterwarnings",
        "warnings.simplefilter",
        "sys.setrecursionlimit",
        "sklearn.set_config",
    }
)
"""Calls that change process-wide settings for every later step."""
PRINTERS = frozenset({"pprint.pprint", "pprint.pp", "builtins.breakpoint", "pdb.set_trace"})
DYNAMIC_MODULES = frozenset(
    {"importlib", "pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "runpy"}
)
DYNAMIC_BUILTINS = frozenset({"eval", "exec", "compile", "__import__"})
NUMPY_IO = frozenset(
    {
        "load",
        "save",
        "savez",
        "savez_compressed",
        "loadtxt",
        "savetxt",
        "genfromtxt",
        "fromfile",
        "memmap",
        "fromregex",
    }
)
WRITERS = frozenset(
    {
        "to_csv",
        "to_parquet",
        "to_sql",
        "to_json",
        "to_pickle",
        "to_excel",
        "to_hdf",
        "to_feather",
        "to_stata",
        "to_orc",
        "to_clipboard",
        "tofile",
        "dump",
    }
)
TEXT_WRITERS = frozenset(
    {"to_csv", "to_json", "to_xml", "to_html", "to_markdown", "to_latex", "to_string"}
)
"""Writers that return text when given no path or buffer: only a target makes them I/O."""
PATH_IO = frozenset({"read_text", "write_text", "read_bytes", "write_bytes"})
PATH_METHODS = frozenset(
    {
        "open",
        "mkdir",
        "unlink",
        "touch",
        "rmdir",
        "rename",
        "replace",
        "iterdir",
        "glob",
        "rglob",
        "exists",
        "is_file",
        "is_dir",
        "stat",
    }
)
PATH_TYPES = frozenset(
    {"Path", "PurePath", "PurePosixPath", "PureWindowsPath", "PosixPath", "WindowsPath"}
)
SEEDABLE_NUMPY = frozenset(
    {
        "default_rng",
        "RandomState",
        "Generator",
        "SeedSequence",
        "PCG64",
        "PCG64DXSM",
        "MT19937",
        "Philox",
        "SFC64",
    }
)
CLOCKS = frozenset(
    {
        "time.time",
        "time.time_ns",
        "time.localtime",
        "time.gmtime",
        "time.ctime",
        "time.asctime",
        "time.monotonic",
        "time.monotonic_ns",
        "time.perf_counter",
        "time.perf_counter_ns",
        "time.process_time",
        "time.process_time_ns",
        "time.thread_time",
        "time.clock_gettime",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
    }
)
MUTATORS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "remove",
        "pop",
        "popitem",
        "clear",
        "update",
        "setdefault",
        "add",
        "discard",
        "sort",
        "reverse",
        "__setitem__",
        "__delitem__",
    }
)
BUILTINS = frozenset(dir(builtins))


def top_module(dotted: str) -> str:
    """The top-level package of a dotted name: ``numpy.random.rand`` -> ``numpy``."""
    return dotted.split(".", 1)[0]
